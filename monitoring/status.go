package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Status is the part of the reconciler's GET /status (docs/architecture.md,
// "Reconciler CLI and status") a monitored deploy follows.
type Status struct {
	SyncState      string      `json:"sync_state"`
	ActiveColor    string      `json:"active_color"`
	ActiveVersion  string      `json:"active_version"`
	DeployedCommit string      `json:"deployed_commit"`
	DesiredVersion string      `json:"desired_version"`
	DesiredCommit  string      `json:"desired_commit"`
	Step           string      `json:"step"`
	LastDeploy     *LastDeploy `json:"last_deploy"`
}

// LastDeploy is the last finished deploy in a Status.
type LastDeploy struct {
	ID          string    `json:"id"`
	Outcome     string    `json:"outcome"`
	Reason      string    `json:"reason"`
	FromVersion string    `json:"from_version"`
	ToVersion   string    `json:"to_version"`
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
}

func (s Status) lastID() string {
	if s.LastDeploy == nil {
		return ""
	}
	return s.LastDeploy.ID
}

// FetchStatus reads GET /status from the reconciler API at addr (host:port).
func FetchStatus(ctx context.Context, addr string) (Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status", nil)
	if err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("status: %w (is `zdml reconcile` running?)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Status{}, fmt.Errorf("status: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var s Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return Status{}, fmt.Errorf("status: %w", err)
	}
	return s, nil
}

// StatusFunc reads the reconciler's status.
type StatusFunc func(context.Context) (Status, error)

// APIStatus reads the status from the reconciler API at addr.
func APIStatus(addr string) StatusFunc {
	return func(ctx context.Context) (Status, error) { return FetchStatus(ctx, addr) }
}

// MetricsStatus rebuilds the status from the reconciler's metrics in
// Prometheus, for a stack whose reconciler API is not reachable from here
// (compose keeps it on loopback inside nginx's network namespace). The
// last deploy's id is the count of finished deploys, its outcome the one
// with the newest zdml_reconciler_last_deploy_timestamp_seconds. It lags
// the reconciler by a scrape.
func MetricsStatus(c *Client) StatusFunc {
	return func(ctx context.Context) (Status, error) {
		var s Status
		now := time.Now()
		q := func(expr string) model.Vector {
			v, err := c.Query(ctx, expr, now)
			if err != nil {
				return nil
			}
			return v
		}
		total := q(`sum(zdml_reconciler_deploys_total)`)
		if len(total) == 0 {
			return s, fmt.Errorf("status from %s: no zdml_reconciler_* metrics (is the reconciler scraped?)", c.URL())
		}
		s.SyncState = label(q(`max by (state) (zdml_reconciler_sync_state) == 1`), "state")
		s.ActiveColor = label(q(`max by (color) (zdml_reconciler_active_color) == 1`), "color")
		if v := q(`zdml_reconciler_version_info`); len(v) > 0 {
			m := v[0].Metric
			s.ActiveVersion, s.DeployedCommit = string(m["deployed_version"]), string(m["deployed_commit"])
			s.DesiredVersion, s.DesiredCommit = string(m["desired_version"]), string(m["desired_commit"])
		}
		s.LastDeploy = &LastDeploy{ID: "deploy #" + strconv.Itoa(int(total[0].Value))}
		if v := q(`topk(1, zdml_reconciler_last_deploy_timestamp_seconds > 0)`); len(v) > 0 {
			s.LastDeploy.Outcome = string(v[0].Metric["outcome"])
			s.LastDeploy.FinishedAt = time.Unix(0, int64(float64(v[0].Value)*1e9)).UTC()
		}
		return s, nil
	}
}

// label is the value of name on the first sample, or "".
func label(v model.Vector, name string) string {
	if len(v) == 0 {
		return ""
	}
	return string(v[0].Metric[model.LabelName(name)])
}
