// Package nginx renders the proxy's configuration, runs a real nginx with it
// (a local process under the state directory, or a container through a
// Runner), and swaps the active color with a tested, verified graceful reload.
//
// Render turns a Config into nginx.conf and a hash. Proxy.Ensure observes
// before it acts: if the running nginx reports that hash on its admin
// listener nothing happens; otherwise the new file is written beside the
// live one, checked with `nginx -t`, renamed into place and applied with a
// reload, which is verified (the admin listener reports the new hash and no
// worker of the old config accepts connections). Proxy.WaitRetired tells
// when every request accepted under the old config has finished.
//
// A Config may split user traffic between the active (stable) color and a
// canary color by weight, sticky by user id (Canary), and may answer user
// routes with a 503 while health routes stay proxied (Maintenance). Both
// are parts of the rendered config, so each change is a verified reload,
// and the admin listener reports them (Observe).
//
// The public listener closes every connection after its response
// (keepalive_timeout 0): with client keep-alive, a reload races clients that
// reuse idle connections the old workers are closing, and POSTs fail.
// TestKeepaliveRace proves zero failures under reloads every 0.3 s;
// `make bench-nginx` measures the alternative side by side.
package nginx
