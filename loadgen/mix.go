package loadgen

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// DefaultPrompts are the chat prompts a scenario cycles through when it
// names none: short, so that the reply length is set by max_tokens.
var DefaultPrompts = []string{
	"Say hello",
	"Name a colour",
	"Count to five",
	"What is a blue green deploy?",
}

// targeter builds the scenario's request mix as vegeta targets. Kinds are
// interleaved by smooth weighted round-robin (nginx's algorithm), so the mix
// is exact over any window and the same on every run.
type targeter struct {
	mu      sync.Mutex
	base    string
	mix     []Mix
	tokens  []int // max_tokens of each mix entry
	current []int
	total   int
	prompts []string
	users   int
	model   string
	n       int
	userN   int // chat_user requests so far: the next one's user id
}

func newTargeter(base string, l Load) *targeter {
	t := &targeter{
		base: strings.TrimRight(base, "/"), mix: l.Mix, current: make([]int, len(l.Mix)),
		prompts: l.Prompts, users: l.Users,
	}
	for _, m := range l.Mix {
		t.total += m.Weight
		t.tokens = append(t.tokens, m.Tokens(l))
	}
	if len(t.prompts) == 0 {
		t.prompts = DefaultPrompts
	}
	if t.users < 1 {
		t.users = 1
	}
	return t
}

// Targeter returns the vegeta.Targeter; it is safe for concurrent use.
func (t *targeter) Targeter() vegeta.Targeter {
	return func(tgt *vegeta.Target) error {
		t.mu.Lock()
		i, n, user := t.next(), t.n, t.userN
		t.n++
		if t.mix[i].Kind == KindChatUser {
			t.userN++
		}
		t.mu.Unlock()
		return t.build(tgt, t.mix[i].Kind, t.tokens[i], n, user)
	}
}

// next picks the mix entry with the highest current weight (smooth WRR).
func (t *targeter) next() int {
	best := 0
	for i, m := range t.mix {
		t.current[i] += m.Weight
		if t.current[i] > t.current[best] {
			best = i
		}
	}
	t.current[best] -= t.total
	return best
}

// build makes request n, of kind, asking for up to tokens tokens; a
// chat_user request goes to user id
// user mod Users, counted over chat_user requests only, so that every id
// gets its share whatever the mix (counted over all requests, a 1:1:1:1
// mix would send every chat_user request to 2 of 8 ids).
func (t *targeter) build(tgt *vegeta.Target, kind string, tokens, n, user int) error {
	prompt := t.prompts[n%len(t.prompts)]
	var body any
	url := t.base + "/chat"
	switch kind {
	case KindChat:
		body = chatBody{Message: prompt, MaxTokens: tokens}
	case KindChatUser:
		url = fmt.Sprintf("%s/chat/loadgen-user-%d", t.base, user%t.users)
		body = chatBody{Message: prompt, MaxTokens: tokens}
	case KindCompletion:
		url = t.base + "/v1/chat/completions"
		body = completionBody{Model: cmpOr(t.model, "default"), Messages: []message{{Role: "user", Content: prompt}}, MaxTokens: tokens}
	case KindStream:
		// The usage chunk lets the harness tell a stream that ran its
		// course from one cut short but closed properly (sseBody).
		url = t.base + "/v1/chat/completions"
		body = completionBody{Model: cmpOr(t.model, "default"), Messages: []message{{Role: "user", Content: prompt}},
			MaxTokens: tokens, Stream: true, StreamOptions: &streamOptions{IncludeUsage: true}}
	default:
		return fmt.Errorf("loadgen: unknown request kind %q", kind)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	*tgt = vegeta.Target{Method: http.MethodPost, URL: url, Body: b, Header: http.Header{
		"Content-Type": {"application/json"}, HeaderKind: {kind}, HeaderMaxTokens: {strconv.Itoa(tokens)},
	}}
	return nil
}

type chatBody struct {
	Message   string `json:"message"`
	MaxTokens int    `json:"max_tokens"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type completionBody struct {
	Model         string         `json:"model"`
	Messages      []message      `json:"messages"`
	MaxTokens     int            `json:"max_tokens"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
