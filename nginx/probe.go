package nginx

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// confirm runs check until it passes confirmations times in a row, within
// the verify timeout; each call is a fresh connection, so a worker of an
// earlier config cannot answer for the new one. The error names what and
// the last reason check gave, not merely that time ran out.
func (p *Proxy) confirm(ctx context.Context, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.verifyTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for ok := 0; ok < confirmations; {
		err := check(ctx)
		if err == nil {
			ok++
			continue
		}
		ok = 0
		if ctx.Err() == nil || last == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, last)
		case <-tick.C:
		}
	}
	return nil
}

// publicGet sends one GET with header to the public listener and returns
// the response with its (small) body read and closed.
func (p *Proxy) publicGet(ctx context.Context, public, path string, header http.Header) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, min(p.callTimeout, 2*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+public+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	return resp, nil
}
