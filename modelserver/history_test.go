package modelserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistoryPerUserAndOrdered(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "chat.db")
	h, err := OpenHistory(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := h.Append(ctx, "alice", Message{"user", fmt.Sprint("a", i)}, Message{"assistant", fmt.Sprint("ra", i)}); err != nil {
			t.Fatal(err)
		}
		if err := h.Append(ctx, "bob", Message{"user", fmt.Sprint("b", i)}); err != nil {
			t.Fatal(err)
		}
	}
	h.Close()
	h, err = OpenHistory(ctx, path) // reopened: it persisted
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tests := []struct {
		name  string
		user  string
		limit int
		want  string
	}{
		{"all of alice", "alice", 10, "user:a0 assistant:ra0 user:a1 assistant:ra1 user:a2 assistant:ra2"},
		{"alice's last three, oldest first", "alice", 3, "assistant:ra1 user:a2 assistant:ra2"},
		{"bob", "bob", 10, "user:b0 user:b1 user:b2"},
		{"nobody", "carol", 10, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := h.Recent(ctx, tt.user, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for i, m := range msgs {
				if i > 0 {
					got += " "
				}
				got += m.Role + ":" + m.Content
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHistoryConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	h, err := OpenHistory(ctx, filepath.Join(t.TempDir(), "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var wg sync.WaitGroup
	for u := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				if err := h.Append(ctx, fmt.Sprint("u", u), Message{"user", fmt.Sprint(i)}, Message{"assistant", "ok"}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for u := range 4 {
		msgs, err := h.Recent(ctx, fmt.Sprint("u", u), 100)
		if err != nil || len(msgs) != 20 {
			t.Errorf("u%d: %d messages, %v; want 20", u, len(msgs), err)
		}
	}
}

// TestHistoryTwoProcesses is the blue/green overlap: two model-server
// processes (here: this test binary run twice as writers) append to and
// read one chat.db as fast as they can for a few seconds. WAL, the busy
// timeout and immediate write transactions must keep every call from
// failing with "database is locked", and nothing may be lost.
func TestHistoryTwoProcesses(t *testing.T) {
	if os.Getenv(historyWriterEnv) != "" {
		t.Skip("writer process")
	}
	path := filepath.Join(t.TempDir(), "chat.db")
	type writer struct {
		cmd *exec.Cmd
		out bytes.Buffer
	}
	var ws []*writer
	for i := range 2 {
		w := &writer{cmd: exec.Command(os.Args[0], "-test.run=^TestHistoryWriterProcess$", "-test.count=1")}
		w.cmd.Env = append(os.Environ(), historyWriterEnv+"="+path, "ZDML_HISTORY_WRITER_ID="+fmt.Sprint(i))
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		if err := w.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	total := 0
	for i, w := range ws {
		err := w.cmd.Wait()
		out := w.out.String()
		if err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, out)
		}
		var n int
		if _, err := fmt.Sscanf(out[strings.Index(out, "appended "):], "appended %d", &n); err != nil {
			t.Fatalf("writer %d output: %q", i, out)
		}
		t.Logf("writer %d appended %d exchanges", i, n)
		total += n
	}
	h, err := OpenHistory(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var rows int
	if err := h.db.QueryRow("SELECT count(*) FROM messages").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 2*total || total < 100 {
		t.Errorf("%d rows for %d appended exchanges; want twice as many, and at least 100 exchanges", rows, total)
	}
}

const historyWriterEnv = "ZDML_HISTORY_WRITER_DB"

// TestHistoryWriterProcess is one writer of TestHistoryTwoProcesses: for
// two seconds it reads a user's recent history and appends an exchange,
// from 4 goroutines, on a user of its own and one shared with the other
// process.
func TestHistoryWriterProcess(t *testing.T) {
	path := os.Getenv(historyWriterEnv)
	if path == "" {
		t.Skip("run by TestHistoryTwoProcesses")
	}
	ctx := context.Background()
	h, err := OpenHistory(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id := os.Getenv("ZDML_HISTORY_WRITER_ID")
	var n atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(2 * time.Second)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "own-" + id
			if g%2 == 0 {
				user = "shared"
			}
			for time.Now().Before(deadline) {
				if _, err := h.Recent(ctx, user, 20); err != nil {
					t.Error(err)
					return
				}
				if err := h.Append(ctx, user, Message{"user", "q" + id}, Message{"assistant", "a" + id}); err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	fmt.Printf("appended %d\n", n.Load())
}
