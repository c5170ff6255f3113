// Package modelclient is the model server's HTTP API as its callers use it:
// /health/deep (identity, model state, in-flight count), /ready, a chat
// completion, and the headers that say which color and version answered.
// The reconciler's gates and drain, its drivers (to tell their own server
// from a stranger on the port) and nginx's route check all read the model
// server through it.
package modelclient
