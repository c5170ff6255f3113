// Package dockercall bounds and retries single Docker Engine API calls, for
// the reconciler's Docker driver and nginx's Docker runner alike: every
// call gets its own timeout, a daemon that cannot be dialled is retried
// with backoff, and both failures wrap ErrUnavailable.
package dockercall
