package reconciler

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Only the newest MaxEvidence folders are kept, never the one just
// written, and the newest is what zdml evidence shows without an id.
func TestEvidenceRetention(t *testing.T) {
	state := t.TempDir()
	root := filepath.Join(state, EvidenceDir)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("%s-%06x", at.Add(time.Duration(i)*time.Minute).Format("20060102T150405Z"), i)
		ids = append(ids, id)
		c := &capture{root: root, dir: filepath.Join(root, id), idx: EvidenceIndex{DeployID: id, Step: StepWarmup,
			Reason: "prompt 1: took 2s", At: at.Add(time.Duration(i) * time.Minute)}, nginxDir: t.TempDir()}
		if err := c.run(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	all, err := ListEvidence(state)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != MaxEvidence || all[0].DeployID != ids[5] || all[len(all)-1].DeployID != ids[24] {
		t.Fatalf("kept %d, from %s to %s; want %d from %s", len(all), all[0].DeployID, all[len(all)-1].DeployID, MaxEvidence, ids[5])
	}
	ev, err := ReadEvidence(state, "")
	if err != nil || ev.Index.DeployID != ids[24] {
		t.Fatalf("newest: %+v %v", ev, err)
	}
	if missing := ev.Index.Missing; len(missing) < 2 {
		t.Errorf("a capture without spec, log and prompts notes them: %v", missing)
	}
	if _, err := ReadEvidence(state, ids[0]); !errors.Is(err, ErrNoEvidence) {
		t.Errorf("a pruned id: %v", err)
	}
	for _, bad := range []string{"../state.json", ".hidden", "a/b"} {
		if _, err := ReadEvidence(state, bad); err == nil {
			t.Errorf("id %q: no error", bad)
		}
	}
	// A folder without index.json (a capture cut short) is not shown.
	if err := os.MkdirAll(filepath.Join(root, "20991231T000000Z-ffffff"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ev, err := ReadEvidence(state, ""); err != nil || ev.Index.DeployID != ids[24] {
		t.Errorf("newest with an incomplete folder: %+v %v", ev, err)
	}
}

func TestEvidenceNone(t *testing.T) {
	if _, err := ReadEvidence(t.TempDir(), ""); !errors.Is(err, ErrNoEvidence) {
		t.Errorf("got %v", err)
	}
}
