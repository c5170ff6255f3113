package kubecluster

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
)

// Version is the Kubernetes release the cluster runs (hack/kubernetes).
const Version = "v1.34.4"

// EnsureBinaries builds the cluster's binaries unless the machine's cache
// has them (hack/kubernetes/build.sh: ${ZDML_CACHE:-~/.cache/zdml}/
// kubernetes/<version>-<hash>/bin, built once under a lock) and returns
// their directory. The build's progress goes to progress.
func EnsureBinaries(repoRoot string, progress io.Writer) (string, error) {
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "kubernetes", "build.sh"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("kube binaries: hack/kubernetes/build.sh: %w", err)
	}
	dir := strings.TrimSpace(out.String())
	if i := strings.LastIndexByte(dir, '\n'); i >= 0 {
		dir = dir[i+1:]
	}
	if dir == "" {
		return "", fmt.Errorf("kube binaries: hack/kubernetes/build.sh printed no directory")
	}
	return dir, nil
}
