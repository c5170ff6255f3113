package modelserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Readiness timings.
const (
	// readyTTL is how long a successful inference counts as proof that
	// inference works, so polling /ready costs no CPU under traffic and one
	// tiny generation every few seconds when idle.
	readyTTL = 5 * time.Second
	// probeTimeout bounds one readiness inference.
	probeTimeout = 30 * time.Second
	// stallAfter is how long busy slots may go without producing a token
	// before the server calls inference stalled.
	stallAfter = 30 * time.Second
)

// probe is the readiness inference: a real, tiny generation through the same
// engine, slots and sampler as traffic. It never runs concurrently with
// itself; callers that arrive while it runs wait for its result.
type probe struct {
	run func(ctx context.Context) error  // one generation
	try func() (release func(), ok bool) // a free slot, without waiting

	lastToken atomic.Int64 // unix nanos of the last token any generation produced

	mu      sync.Mutex
	checked time.Time // when the last probe finished
	err     error     // its outcome
	running chan struct{}
}

// tokenProduced records that some generation produced a token now: proof,
// for readyTTL, that inference works.
func (p *probe) tokenProduced() { p.lastToken.Store(time.Now().UnixNano()) }

func (p *probe) sinceToken() time.Duration {
	t := p.lastToken.Load()
	if t == 0 {
		return time.Duration(1<<63 - 1)
	}
	return time.Since(time.Unix(0, t))
}

// check returns nil when inference worked within readyTTL, probing if it must.
func (p *probe) check(ctx context.Context) error {
	if p.sinceToken() < readyTTL {
		return nil
	}
	p.mu.Lock()
	if time.Since(p.checked) < readyTTL {
		err := p.err
		p.mu.Unlock()
		return err
	}
	ch := p.running
	if ch == nil {
		ch = make(chan struct{})
		p.running = ch
		go p.probe(ch)
	}
	p.mu.Unlock()
	select {
	case <-ch:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	case <-ctx.Done():
		return errors.New("readiness inference still running")
	}
}

// last returns the last outcome without probing, for /health/deep.
func (p *probe) last() (checked time.Time, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.checked.IsZero() {
		return p.checked, errors.New("no readiness inference yet")
	}
	return p.checked, p.err
}

func (p *probe) probe(done chan struct{}) {
	err := p.once()
	p.mu.Lock()
	p.checked, p.err, p.running = time.Now(), err, nil
	p.mu.Unlock()
	close(done)
}

func (p *probe) once() error {
	release, ok := p.try()
	if !ok {
		// Every slot is busy: traffic is the probe. It must be moving.
		if d := p.sinceToken(); d > stallAfter {
			return fmt.Errorf("inference stalled: every slot busy and no token for %s", d.Round(time.Second))
		}
		return nil
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	if err := p.run(ctx); err != nil {
		return fmt.Errorf("readiness inference: %w", err)
	}
	return nil
}
