package portcheck

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Free fails when something already listens on addr: a model server
// started there would die at once, or worse, a stranger would answer our
// health checks. An address this host cannot bind (a container's name or
// its own address on a Docker network) is nobody's here, so it is free.
func Free(addr string) error {
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" && host != "localhost" && net.ParseIP(host) == nil {
		return nil // a name (a container's alias on a Docker network): nothing to bind here
	}
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		return nil // not an address of this host: a container's own address on a Docker network
	}
	if err != nil {
		return fmt.Errorf("port %s is already in use: %w", addr, err)
	}
	return ln.Close()
}
