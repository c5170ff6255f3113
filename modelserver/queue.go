package modelserver

import (
	"context"
	"errors"
	"sync"
)

// ErrQueueFull means every slot is busy and the wait queue is full: the
// request is refused at once (503 with Retry-After), never left waiting
// without bound.
var ErrQueueFull = errors.New("queue full")

// Queue admits generations to the engine's slots. Up to slots run at once;
// up to depth more wait in arrival order; the rest are refused.
type Queue struct {
	slots chan struct{}
	depth int

	mu      sync.Mutex
	waiting int
	// onWait is called with the number waiting whenever it changes.
	onWait func(int)
}

// NewQueue makes a queue for slots concurrent generations and depth waiters.
func NewQueue(slots, depth int, onWait func(waiting int)) *Queue {
	if onWait == nil {
		onWait = func(int) {}
	}
	return &Queue{slots: make(chan struct{}, slots), depth: depth, onWait: onWait}
}

// Acquire takes a slot, waiting in line while ctx lives. The returned release
// must be called once the generation is over.
func (q *Queue) Acquire(ctx context.Context) (release func(), err error) {
	if release, ok := q.TryAcquire(); ok {
		return release, nil
	}
	q.mu.Lock()
	if q.waiting >= q.depth {
		q.mu.Unlock()
		return nil, ErrQueueFull
	}
	q.waiting++
	q.onWait(q.waiting)
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.waiting--
		q.onWait(q.waiting)
		q.mu.Unlock()
	}()
	// Blocked senders on a channel are woken in arrival order: a FIFO.
	select {
	case q.slots <- struct{}{}:
		return q.releaser(), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// TryAcquire takes a free slot if there is one, without waiting or counting
// as a queued request (the readiness probe uses it).
func (q *Queue) TryAcquire() (release func(), ok bool) {
	select {
	case q.slots <- struct{}{}:
		return q.releaser(), true
	default:
		return nil, false
	}
}

func (q *Queue) releaser() func() {
	var once sync.Once
	return func() { once.Do(func() { <-q.slots }) }
}

// Waiting returns how many requests wait for a slot.
func (q *Queue) Waiting() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}

// Running returns how many slots are taken.
func (q *Queue) Running() int { return len(q.slots) }
