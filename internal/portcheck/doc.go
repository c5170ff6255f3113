// Package portcheck tells whether a color's address is free to listen on.
// The reconciler's pre-flight asks it for the standby's address, and the
// process driver again right before it starts a model server there.
package portcheck
