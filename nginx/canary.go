package nginx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zero-downtime-ml/zdml/spec"
)

// Headers and values of the public listener's traffic split.
const (
	// HeaderCanary pins one request to a side of a canary split:
	// PinAlways sends it to the canary color, PinNever to the stable one,
	// whatever the weight and the user id say. Values are case-insensitive;
	// any other value is ignored.
	HeaderCanary = "X-Canary"
	PinAlways    = "always"
	PinNever     = "never"
	// HeaderUserID carries a user id for sticky routing on routes that have
	// none in their path (the OpenAI API), as the body's "user" field does.
	HeaderUserID = "X-User-Id"
)

// Canary splits the public listener's user traffic between the stable color
// (Config.Active) and the canary color, in Argo Rollouts' terms: Weight is
// the canary's setWeight, the percentage of user requests it receives.
//
// The split is sticky by user id, so a conversation never hops between
// versions mid-canary: the id is the {user_id} of /chat/{user_id}, else the
// X-User-Id header, else the "user" field of a /v1/chat/completions JSON
// body (the first "user" key in the body). The same id from any source
// lands on the same color. A request without an id is split by weight on
// its request id, independently per request. The hash is split_clients'
// MurmurHash2 over the key, with the canary's range first, so raising the
// weight only moves users from stable to canary, never back.
//
// X-Canary: always|never overrides all of that (HeaderCanary). Weight 0
// sends nothing to the canary except pinned requests; weight 100 sends
// everything but X-Canary: never.
//
// /healthz and /ready are never split by weight: they reach the canary with
// X-Canary: always and the stable color otherwise, so a health check sees
// one color and VerifyRoute(Active) holds during a canary (VerifyCanary
// checks the other side).
type Canary struct {
	Color  spec.Color // the canary color; it must differ from Config.Active
	Weight int        // percent of user requests to the canary, 0..100
	// PerRequest splits every request by weight, ignoring user ids
	// (desired.yaml's sticky: none); the body is then never read.
	PerRequest bool
}

// validate checks the split against the config it belongs to.
func (s *Canary) validate(c Config) error {
	if s == nil {
		return nil
	}
	var errs []error
	switch {
	case !s.Color.Valid():
		errs = append(errs, fmt.Errorf("canary color %q: want blue or green", s.Color))
	case s.Color == c.Active:
		errs = append(errs, fmt.Errorf("canary color %s is the active (stable) color", s.Color))
	case c.Upstreams[s.Color] == "":
		errs = append(errs, fmt.Errorf("no upstream address for the canary color %s", s.Color))
	}
	if s.Weight < 0 || s.Weight > 100 {
		errs = append(errs, fmt.Errorf("canary weight %d: want 0..100 percent", s.Weight))
	}
	return errors.Join(errs...)
}

// weighted reports whether the split needs a hash at all: at 0 and 100
// every unpinned request goes one way.
func (s *Canary) weighted() bool { return s != nil && s.Weight > 0 && s.Weight < 100 }

// noCanary is what the admin listener's /zdml/canary answers without a split.
const noCanary = "none"

// report is the split as the admin listener's /zdml/canary answers it:
// "green 10", or "none".
func (s *Canary) report() string {
	if s == nil {
		return noCanary
	}
	return fmt.Sprintf("%s %d", s.Color, s.Weight)
}

// parseCanary reads a /zdml/canary answer; "none" is nil.
func parseCanary(s string) (*Canary, error) {
	if s == noCanary {
		return nil, nil
	}
	color, weight, ok := strings.Cut(s, " ")
	c, err := spec.ParseColor(color)
	if err != nil || !ok {
		return nil, fmt.Errorf("nginx admin canary %q: want \"<color> <weight>\" or none", s)
	}
	w, err := strconv.Atoi(weight)
	if err != nil || w < 0 || w > 100 {
		return nil, fmt.Errorf("nginx admin canary %q: bad weight", s)
	}
	return &Canary{Color: c, Weight: w}, nil
}
