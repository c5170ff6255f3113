package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// SHA256 returns the hex sha256 of the file at path. It reads in 1 MiB
// chunks and stops early when ctx is done: a 1 GB model takes about a second.
func SHA256(ctx context.Context, path string) (string, error) {
	sum, _, err := sumFile(ctx, path)
	if err != nil {
		return "", fmt.Errorf("sha256 %s: %w", path, err)
	}
	return sum, nil
}

// sumFile returns the hex sha256 and the size of the file at path.
func sumFile(ctx context.Context, path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, ctxReader{ctx, f}, make([]byte, 1<<20))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader fails reads once ctx is done, so long copies can be cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
