package kubecluster

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// buildPause compiles the pause command (a static binary) and writes an
// OCI image archive of it to out, named PauseImage.
func buildPause(repoRoot, out string) error {
	bin := out + ".bin"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./internal/testenv/kubecluster/pause")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pause: go build: %v: %s", err, b)
	}
	defer os.Remove(bin)
	exe, err := os.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	archive, err := ociArchive(PauseImage, "/pause", exe)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, archive, 0o644); err != nil {
		return fmt.Errorf("pause: %w", err)
	}
	return nil
}

// ociArchive is an OCI image layout, as a tar archive, of a one-layer image
// named ref whose only file is the executable exe at path, its entrypoint.
func ociArchive(ref, path string, exe []byte) ([]byte, error) {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := addFile(lw, strings.TrimPrefix(path, "/"), 0o755, exe); err != nil {
		return nil, err
	}
	if err := lw.Close(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	layerDesc := descriptor("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": []string{path}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	configDesc := descriptor("application/vnd.oci.image.config.v1+json", config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []any{layerDesc},
	})
	manifestDesc := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc["annotations"] = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": ref[strings.LastIndexByte(ref, ':')+1:],
	}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{manifestDesc}})

	var out bytes.Buffer
	w := tar.NewWriter(&out)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(layer.Bytes()), layer.Bytes()},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
	}
	for _, f := range files {
		if err := addFile(w, f.name, 0o644, f.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return out.Bytes(), nil
}

func descriptor(mediaType string, data []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(data), "size": len(data)}
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(data []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(data), "sha256:")
}

func addFile(w *tar.Writer, name string, mode int64, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
	if err := w.WriteHeader(hdr); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return nil
}

// importArchive imports an image archive (OCI layout or docker save) into
// the node's containerd, in the namespace the CRI plugin uses, unpacked
// with the node's snapshotter.
func importArchive(l layout, archive string) error {
	return run("ctr", "--address", l.containerdSocket(), "-n", "k8s.io", "images", "import",
		"--snapshotter", snapshotter(), archive)
}

// ImportDockerImage copies an image the local Docker Engine has (built by
// docker/images.sh, say zdml/modelserver:local) into the node, so pods use
// it with imagePullPolicy Never or IfNotPresent: `docker save` piped into
// `ctr images import`. Nothing is pulled.
func (c *Cluster) ImportDockerImage(ref string) error {
	save := exec.Command("docker", "save", ref)
	imp := exec.Command("ctr", "--address", c.containerdSocket(), "-n", "k8s.io", "images", "import",
		"--snapshotter", snapshotter(), "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return fmt.Errorf("import %s: %w", ref, err)
	}
	imp.Stdin = pipe
	var saveErr, impOut bytes.Buffer
	save.Stderr = &saveErr
	imp.Stdout, imp.Stderr = &impOut, &impOut
	if err := save.Start(); err != nil {
		return fmt.Errorf("import %s: docker save: %w", ref, err)
	}
	impErr := imp.Run()
	if err := save.Wait(); err != nil {
		return fmt.Errorf("import %s: docker save: %v: %s", ref, err, strings.TrimSpace(saveErr.String()))
	}
	if impErr != nil {
		return fmt.Errorf("import %s: ctr images import: %v: %s", ref, impErr, strings.TrimSpace(impOut.String()))
	}
	return nil
}
