package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/zero-downtime-ml/zdml/internal/atomicfile"
	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// instanceRecord is instance.json: what a color was started with.
type instanceRecord struct {
	Color      spec.Color      `json:"color"`
	PID        int             `json:"pid"`
	Addr       string          `json:"addr"`
	ModelName  string          `json:"model_name"`
	Version    string          `json:"model_version"`
	ModelPath  string          `json:"model_path"`
	ConfigHash string          `json:"config_hash"`
	InstanceID string          `json:"instance_id,omitempty"`
	Priority   driver.Priority `json:"priority"`
	StartedAt  time.Time       `json:"started_at"`
	LogOffset  int64           `json:"log_offset"` // where this run's output starts
	Args       []string        `json:"args"`
}

func (r instanceRecord) status() driver.Status {
	return driver.Status{Color: r.Color, Running: true, ID: strconv.Itoa(r.PID), Addr: r.Addr, InstanceID: r.InstanceID,
		ModelVersion: r.Version, StartedAt: r.StartedAt, Priority: r.Priority, ConfigHash: r.ConfigHash}
}

func (p *Process) writeRecord(rec instanceRecord) error {
	dir := p.dir(rec.Color)
	b, _ := json.MarshalIndent(rec, "", "  ")
	if err := atomicfile.WriteFile(filepath.Join(dir, instanceFileName), append(b, '\n'), 0o644); err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, pidFileName), []byte(strconv.Itoa(rec.PID)+"\n"), 0o644)
}

func (p *Process) readRecord(c spec.Color) (instanceRecord, bool, error) {
	var rec instanceRecord
	b, err := os.ReadFile(filepath.Join(p.dir(c), instanceFileName))
	if errors.Is(err, os.ErrNotExist) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("%s instance: %w", c, err)
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("%s instance: %w", c, err)
	}
	return rec, true, nil
}

func (p *Process) removeRecord(c spec.Color) {
	_ = os.Remove(filepath.Join(p.dir(c), pidFileName))
	_ = os.Remove(filepath.Join(p.dir(c), instanceFileName))
}

// orphanRecord rebuilds a record from a server's command line.
func orphanRecord(c spec.Color, pid int, args []string) instanceRecord {
	rec := instanceRecord{Color: c, PID: pid, StartedAt: time.Now().UTC(), Args: args}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--addr":
			rec.Addr = args[i+1]
		case "--model-version":
			rec.Version = args[i+1]
		case "--model-name":
			rec.ModelName = args[i+1]
		case "--model":
			rec.ModelPath = args[i+1]
		}
	}
	return rec
}
