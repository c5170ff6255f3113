package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// ErrUnavailable wraps every error that means the API server could not be
// asked (nothing listens, the connection broke, no answer in time, it is
// overloaded): a failure of the environment, which goes away by itself,
// unlike an answer that refuses (forbidden, invalid, not owned).
var ErrUnavailable = errors.New("kubernetes api server unavailable")

// wrap prefixes an API error with what was being done; nil stays nil. An
// error of an API server that could not be asked also wraps
// ErrUnavailable.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("kubernetes %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("kubernetes %s: %w", op, err)
}

// unavailable reports whether err means the API server was not reached,
// or answered that it cannot serve now.
func unavailable(err error) bool {
	var netErr net.Error
	switch {
	case errors.Is(err, ErrUnavailable):
		return true
	case errors.Is(err, context.Canceled):
		return false // the caller went away; nothing is wrong with the server
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.As(err, &netErr):
		return true
	}
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err)
}
