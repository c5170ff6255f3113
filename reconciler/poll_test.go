package reconciler

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestPoll(t *testing.T) {
	tests := []struct {
		name      string
		doneAfter int   // checks until done; 0 never
		permAt    int   // check that returns a permanent error; 0 never
		wantErr   error // nil, errPollTimeout, or the permanent error
		wantLast  string
		wantTook  time.Duration
		wantCalls int
	}{
		{name: "ready at once", doneAfter: 1, wantTook: 0, wantCalls: 1},
		{name: "ready on the fifth check", doneAfter: 5, wantTook: 400 * time.Millisecond, wantCalls: 5},
		{name: "times out quoting the last reason", wantErr: errPollTimeout, wantLast: "not yet 11", wantTook: 1050 * time.Millisecond, wantCalls: 11},
		{name: "permanent error fails fast", permAt: 3, wantErr: errStandbyDied, wantTook: 200 * time.Millisecond, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				calls := 0
				start := time.Now()
				err := poll(context.Background(), 100*time.Millisecond, 1050*time.Millisecond, func(ctx context.Context) (bool, string, error) {
					calls++
					if calls == tt.permAt {
						return false, "", errStandbyDied
					}
					return calls == tt.doneAfter, "not yet " + itoa(calls), nil
				})
				if took := time.Since(start); took != tt.wantTook {
					t.Errorf("took %s, want %s", took, tt.wantTook)
				}
				if calls != tt.wantCalls {
					t.Errorf("%d checks, want %d", calls, tt.wantCalls)
				}
				if !errors.Is(err, tt.wantErr) && !(err == nil && tt.wantErr == nil) {
					t.Fatalf("err %v, want %v", err, tt.wantErr)
				}
				if tt.wantLast != "" && !strings.Contains(err.Error(), tt.wantLast) {
					t.Errorf("err %q does not quote %q", err, tt.wantLast)
				}
			})
		})
	}
}

// TestPollBackoff: the ready gate's schedule doubles from the first
// interval up to the most, so a standby that stays not ready is probed
// every ReadyPollMax, not every ReadyPollFirst.
func TestPollBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		err := pollBackoff(context.Background(), 100*time.Millisecond, 2*time.Second, 10*time.Second, func(ctx context.Context) (bool, string, error) {
			at = append(at, time.Since(start))
			return false, "loading", nil
		})
		if !errors.Is(err, errPollTimeout) || !strings.Contains(err.Error(), "loading") {
			t.Fatalf("err %v, want a timeout quoting the last reason", err)
		}
		want := []time.Duration{0, 100, 300, 700, 1500, 3100, 5100, 7100, 9100}
		if len(at) != len(want) {
			t.Fatalf("checks at %v, want %d checks", at, len(want))
		}
		for i, w := range want {
			if at[i] != w*time.Millisecond {
				t.Errorf("check %d at %s, want %s", i+1, at[i], w*time.Millisecond)
			}
		}
	})
}

var errStandbyDied = errors.New("standby died")

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPollCancelled: a cancelled parent ends the poll with its cause.
func TestPollCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.Background())
		go func() {
			time.Sleep(250 * time.Millisecond)
			cancel(errRollbackRequested)
		}()
		err := poll(ctx, 100*time.Millisecond, time.Minute, func(context.Context) (bool, string, error) { return false, "", nil })
		if !errors.Is(err, errRollbackRequested) {
			t.Fatalf("err %v, want the cancel cause", err)
		}
	})
}

// TestHealBackoff: a heal that keeps failing is retried after 5 s, then
// 10 s, 20 s..., never in a loop; a success resets the back-off.
func TestHealBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &Reconciler{events: &EventLog{log: discardLog()}, metrics: newMetrics(nil),
			healBackoff: map[string]time.Time{}, healFails: map[string]int{}}
		runs := 0
		failing := func() error { runs++; return errors.New("still broken") }
		try := func() bool { return r.healing(HealActiveDown, "test", failing) }
		if !try() || runs != 1 {
			t.Fatalf("first heal: runs %d", runs)
		}
		for _, wait := range []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second} {
			time.Sleep(wait - time.Millisecond)
			if try() {
				t.Fatalf("retried before %s", wait)
			}
			time.Sleep(time.Millisecond)
			if !try() {
				t.Fatalf("not retried after %s", wait)
			}
		}
		if runs != 4 {
			t.Errorf("%d runs, want 4", runs)
		}
		time.Sleep(40 * time.Second)
		if !r.healing(HealActiveDown, "test", func() error { return nil }) {
			t.Fatal("heal not run")
		}
		if _, ok := r.healBackoff[HealActiveDown]; ok {
			t.Error("back-off kept after a success")
		}
	})
}
