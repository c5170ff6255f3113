package modelserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestQueueAdmitsQueuesAndRefuses(t *testing.T) {
	var mu sync.Mutex
	var depths []int
	q := NewQueue(2, 1, func(n int) { mu.Lock(); depths = append(depths, n); mu.Unlock() })
	ctx := context.Background()
	r1, err1 := q.Acquire(ctx)
	r2, err2 := q.Acquire(ctx)
	if err1 != nil || err2 != nil || q.Running() != 2 {
		t.Fatalf("two slots: %v %v running %d", err1, err2, q.Running())
	}
	got := make(chan error, 1)
	go func() {
		r, err := q.Acquire(ctx)
		if err == nil {
			defer r()
		}
		got <- err
	}()
	waitFor(t, func() bool { return q.Waiting() == 1 })
	if _, err := q.Acquire(ctx); !errors.Is(err, ErrQueueFull) {
		t.Errorf("third waiter: got %v, want ErrQueueFull", err)
	}
	if _, ok := q.TryAcquire(); ok {
		t.Errorf("TryAcquire took a slot from a full queue")
	}
	r1()
	r1() // release is idempotent
	if err := <-got; err != nil {
		t.Errorf("the waiter: %v", err)
	}
	r2()
	waitFor(t, func() bool { return q.Running() == 0 && q.Waiting() == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(depths) != 2 || depths[0] != 1 || depths[1] != 0 {
		t.Errorf("depth reports %v, want [1 0]", depths)
	}
}

func TestQueueWaiterLeavesOnCancel(t *testing.T) {
	q := NewQueue(1, 4, nil)
	release, _ := q.Acquire(context.Background())
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { _, err := q.Acquire(ctx); got <- err }()
	waitFor(t, func() bool { return q.Waiting() == 1 })
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if q.Waiting() != 0 {
		t.Errorf("waiting %d after cancel, want 0", q.Waiting())
	}
}

func TestQueueIsFIFO(t *testing.T) {
	q := NewQueue(1, 8, nil)
	release, _ := q.Acquire(context.Background())
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			r, err := q.Acquire(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			r()
		}()
		waitFor(t, func() bool { return q.Waiting() == i+1 })
	}
	release()
	for want := range 3 {
		if got := <-order; got != want {
			t.Errorf("admitted %d, want %d", got, want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
