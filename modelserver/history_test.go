package modelserver

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
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
