package nginx

import (
	"context"
	"errors"
)

// ConfFile is the name of the live config inside a runner's directory.
const ConfFile = "nginx.conf"

// ErrNotRunning is returned by Runner methods that need a running nginx.
var ErrNotRunning = errors.New("nginx is not running")

// ErrTimeout wraps a failure of nginx to answer or to take a config in
// time (a call, a reload, the retiring of old workers): a problem of the
// moment, which a caller may retry, unlike a config nginx rejects.
var ErrTimeout = errors.New("nginx did not answer in time")

// Status is what a Runner observes about its nginx.
type Status struct {
	Running bool
	// PID is the master process id as seen from the host (0 if unknown).
	PID int
	// ID names the instance for humans: "pid 1234" or a container id.
	ID string
}

// Runner runs one nginx master on a config directory: Dir holds nginx.conf,
// nginx.pid, logs/ and temp/, and every path in the config is relative to
// it (nginx -p DIR/). Local runs nginx as a host process; a Docker runner
// bind-mounts Dir (a directory, not a file: a rename into a single mounted
// file is invisible in the container) and signals the master through the
// Docker API. Every method observes before acting, so calling one twice is
// harmless, and takes a context that bounds it.
type Runner interface {
	// Dir is the host directory holding the config, pid file, logs and temp paths.
	Dir() string
	// Start starts a master on Dir/nginx.conf and returns once it serves
	// (its pid file is written), or with nginx's own error message. If a
	// master is already running it does nothing.
	Start(ctx context.Context) error
	// Test runs `nginx -t` on Dir/file (file is relative to Dir) and returns
	// an error carrying nginx's output when the config is invalid.
	Test(ctx context.Context, file string) error
	// Reload asks the running master to re-read Dir/nginx.conf (SIGHUP). It
	// returns ErrNotRunning when there is no master. A reload that nginx
	// rejects is only in the error log: callers verify (see Proxy).
	Reload(ctx context.Context) error
	// Stop shuts nginx down gracefully (SIGQUIT: in-flight requests finish),
	// then fast (SIGTERM) and by force when ctx ends. Stopping a stopped
	// nginx is not an error.
	Stop(ctx context.Context) error
	// Status observes the master without changing anything. An nginx left
	// by an earlier zdml process is found through the pid file and adopted.
	Status(ctx context.Context) (Status, error)
	// Workers lists the master's worker processes. After a reload the old
	// ones are Retiring: they accept nothing new and exit once their
	// in-flight requests finish (or worker_shutdown_timeout passes).
	Workers(ctx context.Context) ([]Worker, error)
}

// Worker is one nginx worker process.
type Worker struct {
	PID int
	// Retiring is true for a worker of an earlier config that is shutting
	// down gracefully.
	Retiring bool
}
