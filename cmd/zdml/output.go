package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"time"
)

// What the subcommands share to print and to ask a local HTTP endpoint.

// stdout is where commands print their results; tests replace it.
var stdout io.Writer = os.Stdout

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// orNone is s, or "-" when it is empty.
func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short is a commit or container id cut to 7 characters.
func short(s string) string {
	if len(s) > 7 {
		return s[:7]
	}
	return s
}

// httpGet GETs url within timeout and returns the response (its body
// closed) and up to limit bytes of the body.
func httpGet(ctx context.Context, url string, timeout time.Duration, limit int64) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return resp, b, nil
}
