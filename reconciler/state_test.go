package reconciler

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/zero-downtime-ml/zdml/spec"
)

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := LoadState(dir)
	if err != nil || s.Schema != StateSchema || s.Deployed != nil {
		t.Fatalf("empty state: %+v %v", s, err)
	}
	sp := spec.Spec{Model: spec.Model{Name: "tiny", Version: "v1", Path: "tiny.gguf"}}
	s.ActiveColor = spec.Green
	s.Deployed = &Revision{SpecHash: "abc", Commit: "c1", Version: "v1", Spec: &sp, At: time.Unix(100, 0).UTC()}
	s.Color(spec.Green).Role = RoleActive
	s.InProgress = &Progress{DeployID: "d1", Kind: KindDeploy, From: spec.Green, To: spec.Blue, Step: StepDrain, Swapped: true}
	s.SetCondition(CondReady, "True", "Serving", "ok")
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	got.UpdatedAt, s.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("state dir holds %d files, want only state.json (no temp files left)", len(entries))
	}
}

func TestStateRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"schema": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadState(dir); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("LoadState = %v, want a newer-schema error", err)
	}
}

func TestQuarantine(t *testing.T) {
	var s State
	s.AddQuarantine(Quarantine{SpecHash: "a", Reason: "one"})
	s.AddQuarantine(Quarantine{Digest: "d", Reason: "bad yaml"})
	s.AddQuarantine(Quarantine{SpecHash: "a", Reason: "two"})
	tests := []struct {
		name         string
		hash, digest string
		want         string
		ok           bool
	}{
		{name: "by spec hash, latest reason", hash: "a", want: "two", ok: true},
		{name: "by digest of an unparsed file", digest: "d", want: "bad yaml", ok: true},
		{name: "a parsed spec ignores digests", hash: "x", digest: "d"},
		{name: "unknown", hash: "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, ok := s.Quarantined(tt.hash, tt.digest)
			if ok != tt.ok || q.Reason != tt.want {
				t.Errorf("Quarantined(%q, %q) = %q %v, want %q %v", tt.hash, tt.digest, q.Reason, ok, tt.want, tt.ok)
			}
		})
	}
	if len(s.Quarantine) != 2 {
		t.Errorf("%d entries, want 2 (a replaced)", len(s.Quarantine))
	}
	if !s.RemoveQuarantine("a", "") || s.RemoveQuarantine("a", "") {
		t.Error("RemoveQuarantine did not remove exactly once")
	}
	for i := 0; i < maxQuarantine+5; i++ {
		s.AddQuarantine(Quarantine{SpecHash: itoa(i)})
	}
	if len(s.Quarantine) != maxQuarantine {
		t.Errorf("%d entries, want the bound %d", len(s.Quarantine), maxQuarantine)
	}
}

func TestSetConditionKeepsTransitionTime(t *testing.T) {
	synctest.Test(t, testSetConditionKeepsTransitionTime)
}

func testSetConditionKeepsTransitionTime(t *testing.T) {
	var s State
	s.SetCondition(CondReady, "True", "Serving", "a")
	first, _ := s.Condition(CondReady)
	time.Sleep(time.Millisecond) // the fake clock moves on
	s.SetCondition(CondReady, "True", "Serving", "b")
	same, _ := s.Condition(CondReady)
	if !same.LastTransitionTime.Equal(first.LastTransitionTime) || same.Message != "b" {
		t.Errorf("unchanged status moved the transition time or kept the message: %+v", same)
	}
	s.SetCondition(CondReady, "False", "NotServing", "c")
	flipped, _ := s.Condition(CondReady)
	if !flipped.LastTransitionTime.After(first.LastTransitionTime) {
		t.Error("a status change kept the old transition time")
	}
}

func TestHistory(t *testing.T) {
	dir := t.TempDir()
	h := NewHistory(dir)
	for i := 1; i <= 25; i++ {
		if err := h.Append(DeployRecord{ID: itoa(i), Outcome: OutcomeSucceeded}); err != nil {
			t.Fatal(err)
		}
	}
	// A crash mid-write leaves a torn last line; it is skipped.
	f, _ := os.OpenFile(filepath.Join(dir, HistoryFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"26","outc`)
	f.Close()
	tests := []struct {
		name        string
		n           int
		first, last string
		count       int
	}{
		{name: "last 20", n: 20, first: "6", last: "25", count: 20},
		{name: "all", n: 0, first: "1", last: "25", count: 25},
		{name: "more than there are", n: 100, first: "1", last: "25", count: 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadHistory(dir, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.count || got[0].ID != tt.first || got[len(got)-1].ID != tt.last {
				t.Errorf("got %d records %s..%s, want %d %s..%s", len(got), got[0].ID, got[len(got)-1].ID, tt.count, tt.first, tt.last)
			}
		})
	}
	if got, err := ReadHistory(t.TempDir(), 20); err != nil || got != nil {
		t.Errorf("missing history = %v %v, want nothing", got, err)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	if _, held, err := LockHolder(dir); held || err != nil {
		t.Fatalf("fresh dir: held %v err %v", held, err)
	}
	l, err := AcquireLock(dir, Holder{PID: 4242, Command: "reconcile", APIAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = AcquireLock(dir, Holder{PID: 1, Command: "deploy"})
	var le *LockedError
	if !errorsAs(err, &le) || le.Holder.PID != 4242 || !strings.Contains(err.Error(), "pid 4242") || !strings.Contains(err.Error(), "api 127.0.0.1:1") {
		t.Fatalf("second acquire: %v, want refused naming pid 4242", err)
	}
	if h, held, _ := LockHolder(dir); !held || h.Command != "reconcile" {
		t.Errorf("LockHolder = %+v %v", h, held)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := AcquireLock(dir, Holder{PID: 1, Command: "deploy"})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	l2.Release()
}

// TestLockIgnoresProbes: a CLI probing the lock (a shared flock held for
// an instant) does not make a starting daemon think it is locked out.
func TestLockIgnoresProbes(t *testing.T) {
	dir := t.TempDir()
	l, err := AcquireLock(dir, Holder{PID: 1})
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(20 * time.Millisecond)
		syscall.Flock(fd, syscall.LOCK_UN)
	}()
	defer func() { <-done }()
	l, err = AcquireLock(dir, Holder{PID: 2})
	if err != nil {
		t.Fatalf("acquire during a probe: %v", err)
	}
	l.Release()
}
