// Package nginx renders the proxy's configuration, runs a real nginx with it
// (a local process under the state directory, or a container through a
// Runner), and swaps the active color with a tested, verified graceful reload.
package nginx
