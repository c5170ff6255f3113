package driver

import "strconv"

// ModelServerArgs are the model server's flags for inst
// (docs/architecture.md), for the runtimes that run it in a container:
// model is the model file's path and listen the address as the server
// sees them, db its chat history database. A zero setting is left to the
// server's default.
func ModelServerArgs(inst Instance, model, listen, db string) []string {
	args := []string{
		"--model", model, "--addr", listen, "--color", string(inst.Color),
		"--model-name", inst.ModelName, "--model-version", inst.ModelVersion,
		"--db", db,
	}
	if inst.ModelSHA256 != "" {
		args = append(args, "--model-sha256", inst.ModelSHA256)
	}
	for _, f := range []struct {
		flag string
		v    int
	}{{"--threads", inst.Threads}, {"--parallel", inst.Parallel}, {"--ctx", inst.Ctx}} {
		if f.v > 0 {
			args = append(args, f.flag, strconv.Itoa(f.v))
		}
	}
	if inst.ShutdownTimeout > 0 {
		args = append(args, "--shutdown-timeout", inst.ShutdownTimeout.String())
	}
	if inst.Memory > 0 {
		args = append(args, "--memory-limit", strconv.FormatInt(int64(inst.Memory), 10))
	}
	return args
}
