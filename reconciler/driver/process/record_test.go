package process

import (
	"testing"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestOrphanRecord(t *testing.T) {
	args := []string{"/bin/modelserver", "--model", "/m/tiny.gguf", "--addr", "127.0.0.1:9", "--color", "green",
		"--model-name", "tiny", "--model-version", "v7", "--db", "/s/colors/green/chat.db"}
	rec := orphanRecord(spec.Green, 42, args)
	if rec.PID != 42 || rec.Addr != "127.0.0.1:9" || rec.Version != "v7" || rec.ModelPath != "/m/tiny.gguf" || rec.ConfigHash != "" {
		t.Errorf("orphanRecord = %+v", rec)
	}
}
