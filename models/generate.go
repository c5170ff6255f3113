package models

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
)

// Result reports what Generate did with one file.
type Result struct {
	File    string // path of the model file
	SHA256  string // its hex sha256
	Size    int64  // its size in bytes
	Written bool   // false when a file with the pinned sha256 was already there
}

// ErrChecksum means a file's sha256 is not the one it must have.
var ErrChecksum = errors.New("sha256 mismatch")

type genOptions struct {
	log    *slog.Logger
	verify bool
	specs  []Spec
}

// GenerateOption configures Generate.
type GenerateOption func(*genOptions)

// WithLogger logs one line per file to log.
func WithLogger(log *slog.Logger) GenerateOption {
	return func(o *genOptions) { o.log = log }
}

// WithSpecs generates these specs instead of the Catalog.
func WithSpecs(specs ...Spec) GenerateOption {
	return func(o *genOptions) { o.specs = specs }
}

// WithoutVerify writes files even when their sha256 differs from
// Spec.SHA256. Only tests use it: the one that re-pins the sums, and those
// that generate shapes of their own.
func WithoutVerify() GenerateOption {
	return func(o *genOptions) { o.verify = false }
}

// Generate writes every model of the Catalog into dir. A file that already
// has its pinned sha256 is left alone, so running it again costs one hash per
// file. Each file is written to a temporary name and renamed into place, so a
// crash never leaves a half model under a good model's name. A generated file
// whose sha256 differs from the pinned one is an error (ErrChecksum) and is
// not installed: desired.yaml files pin these sums.
func Generate(ctx context.Context, dir string, opts ...GenerateOption) ([]Result, error) {
	o := genOptions{log: slog.New(slog.DiscardHandler), verify: true, specs: Catalog()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	v := newVocab()
	var results []Result
	for _, s := range o.specs {
		r, err := generateOne(ctx, dir, s, v, o.verify)
		if err != nil {
			return results, err
		}
		level := slog.LevelDebug // make test runs make models every time: stay quiet when nothing changed
		if r.Written {
			level = slog.LevelInfo
		}
		o.log.Log(ctx, level, "model", "file", r.File, "sha256", r.SHA256, "bytes", r.Size, "written", r.Written)
		results = append(results, r)
	}
	return results, nil
}

// generateOne makes one file unless it is already there with its pinned sum.
func generateOne(ctx context.Context, dir string, s Spec, v *vocab, verify bool) (Result, error) {
	path := filepath.Join(dir, s.File)
	if s.SHA256 != "" {
		if sum, size, err := sumFile(ctx, path); err == nil && sum == s.SHA256 {
			return Result{File: path, SHA256: sum, Size: size}, nil
		} else if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
	}
	if s.Vocab > 0 {
		var err error
		if v, err = v.padded(s.Vocab); err != nil {
			return Result{}, fmt.Errorf("generate %s: %w", s.File, err)
		}
	}
	tmp, err := writeTemp(dir, s, v)
	if err != nil {
		return Result{}, err
	}
	defer os.Remove(tmp) // a no-op once renamed
	sum, size, err := sumFile(ctx, tmp)
	if err != nil {
		return Result{}, fmt.Errorf("generate %s: %w", s.File, err)
	}
	if verify && sum != s.SHA256 {
		return Result{}, fmt.Errorf("generate %s: %w: made %s, pinned %s (the generator changed: "+
			"re-pin with go test ./models -run TestPinnedSums -update)", s.File, ErrChecksum, sum, s.SHA256)
	}
	if err := os.Rename(tmp, path); err != nil {
		return Result{}, fmt.Errorf("generate %s: %w", s.File, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return Result{}, fmt.Errorf("generate %s: %w", s.File, err)
	}
	return Result{File: path, SHA256: sum, Size: size, Written: true}, nil
}

// writeTemp writes the model to a hidden temporary file in dir, synced to
// disk, and returns its path.
func writeTemp(dir string, s Spec, v *vocab) (string, error) {
	f, err := os.CreateTemp(dir, "."+s.File+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("generate %s: %w", s.File, err)
	}
	// CreateTemp makes 0600 files; model servers may run as other users.
	err = f.Chmod(0o644)
	if err == nil {
		err = writeGGUF(f, s, v)
	}
	if err == nil && s.Truncate {
		err = truncateHalf(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("generate %s: %w", s.File, err)
	}
	return f.Name(), nil
}

// truncateHalf cuts f to half its length.
func truncateHalf(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return f.Truncate(st.Size() / 2)
}
