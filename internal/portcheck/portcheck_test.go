package portcheck

import (
	"net"
	"strings"
	"testing"
)

func TestFree(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	taken := ln.Addr().String()
	if err := Free(taken); err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Errorf("Free(%s) while it is listened on = %v; want already in use", taken, err)
	}
	ln.Close()
	if err := Free(taken); err != nil {
		t.Errorf("Free(%s) after close = %v", taken, err)
	}
	for _, addr := range []string{"zdml-blue:8000", "192.0.2.1:8000"} { // a network alias; an address of no interface here
		if err := Free(addr); err != nil {
			t.Errorf("Free(%s) = %v; want nil (nothing to bind on this host)", addr, err)
		}
	}
}
