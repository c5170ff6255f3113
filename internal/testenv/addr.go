package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// Ports handed out by FreeAddr: below Linux's default ephemeral range
// (32768–60999), where the kernel never puts outgoing connections or
// other programs' listeners on port 0, so a port reserved for a server a
// test is about to start is not taken meanwhile by a client connection or
// by another FreeAddr's port-0 listener.
const (
	portLow  = 20000
	portHigh = 32000
)

var (
	givenMu sync.Mutex
	given   = map[int]bool{}
)

// FreeAddr returns a loopback address (127.0.0.1:port) with a port nobody
// listens on right now, never the same one twice in a test binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	givenMu.Lock()
	defer givenMu.Unlock()
	for range 1000 {
		port := portLow + rand.IntN(portHigh-portLow)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		given[port] = true
		return ln.Addr().String()
	}
	t.Fatalf("no free loopback port in %d-%d", portLow, portHigh)
	return ""
}
