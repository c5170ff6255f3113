package testenv

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// GetText answers a GET of url as trimmed text, failing the test when the
// request does; an nginx admin route's answer ("green 20", "none").
func GetText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
