package testenv

import (
	"net"
	"testing"
)

// FreeAddr returns a loopback address (127.0.0.1:port) with a port nobody
// listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
