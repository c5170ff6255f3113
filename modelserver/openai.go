package modelserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// completionRequest is the subset of OpenAI's chat completion request the
// server implements. Fields it does not implement are refused by name (the
// decoder rejects unknown fields) rather than silently ignored.
type completionRequest struct {
	Model               string           `json:"model"`
	Messages            []openAIMessage  `json:"messages"`
	MaxTokens           *int             `json:"max_tokens"`
	MaxCompletionTokens *int             `json:"max_completion_tokens"`
	Temperature         *float32         `json:"temperature"`
	TopP                *float32         `json:"top_p"`
	Seed                *uint32          `json:"seed"`
	N                   *int             `json:"n"`
	Stream              bool             `json:"stream"`
	StreamOptions       *streamOptions   `json:"stream_options"`
	User                string           `json:"user"`
	PresencePenalty     *float32         `json:"presence_penalty"`
	FrequencyPenalty    *float32         `json:"frequency_penalty"`
	Stop                *json.RawMessage `json:"stop"`
	Logprobs            *bool            `json:"logprobs"`
	TopLogprobs         *int             `json:"top_logprobs"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// openAIMessage accepts content as a string or as an array of text parts.
type openAIMessage struct {
	Role    string      `json:"role"`
	Content contentText `json:"content"`
	Name    string      `json:"name,omitempty"`
}

type contentText string

func (c *contentText) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*c = contentText(s)
		return nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("content: want a string or an array of text parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type != "text" {
			return fmt.Errorf("content part type %q: only text is supported", p.Type)
		}
		sb.WriteString(p.Text)
	}
	*c = contentText(sb.String())
	return nil
}

// validateLogprobs checks logprobs and top_logprobs as OpenAI does: 0 to 20
// alternatives, and only with logprobs true.
func validateLogprobs(req completionRequest) error {
	if req.TopLogprobs == nil {
		return nil
	}
	switch n := *req.TopLogprobs; {
	case n < 0 || n > MaxTopLogprobs:
		return invalid("top_logprobs", "top_logprobs %d: want 0 to %d", n, MaxTopLogprobs)
	case n > 0 && !deref(req.Logprobs, false):
		return invalid("top_logprobs", "top_logprobs needs logprobs: true")
	}
	return nil
}

func (s *Server) validateCompletion(req completionRequest) ([]Message, int, error) {
	if len(req.Messages) == 0 {
		return nil, 0, invalid("messages", "messages is empty")
	}
	msgs := make([]Message, 0, len(req.Messages))
	size := 0
	for i, m := range req.Messages {
		role := m.Role
		if role == "developer" {
			role = "system"
		}
		if role != "system" && role != "user" && role != "assistant" {
			return nil, 0, invalid(fmt.Sprintf("messages[%d].role", i), "role %q: want system, user or assistant", m.Role)
		}
		if !utf8.ValidString(string(m.Content)) {
			return nil, 0, invalid(fmt.Sprintf("messages[%d].content", i), "content is not valid UTF-8")
		}
		size += len(m.Content)
		msgs = append(msgs, Message{Role: role, Content: string(m.Content)})
	}
	if size > maxMessageBytes {
		return nil, 0, invalid("messages", "messages hold %d bytes; the limit is %d", size, maxMessageBytes)
	}
	switch {
	case req.N != nil && *req.N != 1:
		return nil, 0, invalid("n", "n %d: only 1 is supported", *req.N)
	case req.Stop != nil && string(*req.Stop) != "null":
		return nil, 0, invalid("stop", "stop sequences are not supported")
	case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
		return nil, 0, invalid("temperature", "temperature %v: want 0 to 2", *req.Temperature)
	case req.TopP != nil && (*req.TopP <= 0 || *req.TopP > 1):
		return nil, 0, invalid("top_p", "top_p %v: want above 0, at most 1", *req.TopP)
	case req.PresencePenalty != nil && *req.PresencePenalty != 0, req.FrequencyPenalty != nil && *req.FrequencyPenalty != 0:
		return nil, 0, invalid("presence_penalty", "presence and frequency penalties are not supported")
	}
	if err := validateLogprobs(req); err != nil {
		return nil, 0, err
	}
	if req.MaxCompletionTokens != nil {
		n, err := s.maxTokens("max_completion_tokens", req.MaxCompletionTokens)
		return msgs, n, err
	}
	n, err := s.maxTokens("max_tokens", req.MaxTokens)
	return msgs, n, err
}

// OpenAI response shapes.
type (
	completion struct {
		ID                string   `json:"id"`
		Object            string   `json:"object"`
		Created           int64    `json:"created"`
		Model             string   `json:"model"`
		SystemFingerprint string   `json:"system_fingerprint"`
		Choices           []choice `json:"choices"`
		Usage             *usage   `json:"usage,omitempty"`
	}
	choice struct {
		Index        int             `json:"index"`
		Message      *openAIMessage  `json:"message,omitempty"`
		Delta        *delta          `json:"delta,omitempty"`
		Logprobs     *choiceLogprobs `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	}
	// choiceLogprobs is a choice's logprobs; null unless asked for.
	choiceLogprobs struct {
		Content []tokenLogprob `json:"content"`
		Refusal []tokenLogprob `json:"refusal"`
	}
	tokenLogprob struct {
		Token       string       `json:"token"`
		Logprob     float64      `json:"logprob"`
		Bytes       []int        `json:"bytes"`
		TopLogprobs []topLogprob `json:"top_logprobs"`
	}
	topLogprob struct {
		Token   string  `json:"token"`
		Logprob float64 `json:"logprob"`
		Bytes   []int   `json:"bytes"`
	}
	delta struct {
		Role    string  `json:"role,omitempty"`
		Content *string `json:"content,omitempty"`
	}
)

// handleCompletions serves OpenAI's POST /v1/chat/completions, whole or as
// a server-sent event stream ending with "data: [DONE]".
func (s *Server) handleCompletions(w http.ResponseWriter, r *http.Request) {
	g, err := s.startGeneration()
	defer g.done()
	var req completionRequest
	if derr := decodeJSON(w, r, int64(s.cfg.MaxBody), &req); derr != nil {
		writeError(w, derr)
		return
	}
	msgs, maxTokens, verr := s.validateCompletion(req)
	if verr != nil {
		writeError(w, verr)
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	prompt, err := g.engine.Tokenize(s.model.Template().Render(msgs))
	if err != nil {
		writeError(w, err)
		return
	}
	genReq := GenerateRequest{Prompt: prompt, MaxTokens: maxTokens, Temperature: deref(req.Temperature, 1),
		TopP: deref(req.TopP, 1), Seed: deref(req.Seed, 0),
		Logprobs: deref(req.Logprobs, false), TopLogprobs: deref(req.TopLogprobs, 0)}
	if n, slot := len(prompt), g.engine.Info().SlotContext; n >= slot {
		writeError(w, invalid("messages", "messages are %d tokens; the context holds %d", n, slot))
		return
	}
	base := completion{ID: "chatcmpl-" + w.Header().Get(HeaderRequestID), Created: time.Now().Unix(),
		Model: s.model.Name, SystemFingerprint: s.cfg.Color.String() + "-" + s.model.Version}
	if req.Stream {
		s.streamCompletion(w, r, g, genReq, base, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
		return
	}
	var text strings.Builder
	lps := newLogprobs(g.engine, genReq.Logprobs)
	res, err := g.run(r.Context(), genReq, nil, func(p Piece) error {
		text.WriteString(p.Text)
		lps.add(p.Logprobs)
		return nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	u := usageOf(res)
	base.Object, base.Usage = "chat.completion", &u
	base.Choices = []choice{{Message: &openAIMessage{Role: "assistant", Content: contentText(text.String())},
		Logprobs: lps.choice, FinishReason: &res.FinishReason}}
	writeJSON(w, http.StatusOK, base)
}

// streamCompletion sends the reply as OpenAI chunks. The 200 and the first
// chunk go out only once a slot is taken, so a full queue is still a clean
// 503; after that, a failure ends the stream with an error event.
func (s *Server) streamCompletion(w http.ResponseWriter, r *http.Request, g *generation, req GenerateRequest, base completion, includeUsage bool) {
	base.Object = "chat.completion.chunk"
	sse := &sseWriter{w: w, rc: http.NewResponseController(w)}
	chunk := func(d *delta, finish *string) completion {
		c := base
		c.Choices = []choice{{Delta: d, FinishReason: finish}}
		return c
	}
	onAdmit := func() {
		sse.start()
		empty := ""
		_ = sse.send(chunk(&delta{Role: "assistant", Content: &empty}, nil))
	}
	res, err := g.run(r.Context(), req, onAdmit, func(p Piece) error {
		c := chunk(&delta{Content: &p.Text}, nil)
		if req.Logprobs {
			lps := newLogprobs(g.engine, true)
			lps.add(p.Logprobs)
			c.Choices[0].Logprobs = lps.choice
		}
		return sse.send(c)
	})
	switch {
	case !sse.started:
		writeError(w, err)
		return
	case err != nil:
		_ = sse.send(map[string]*apiError{"error": asAPIError(err)})
		return
	}
	_ = sse.send(chunk(&delta{}, &res.FinishReason))
	if includeUsage {
		u, c := usageOf(res), base
		c.Choices, c.Usage = []choice{}, &u
		_ = sse.send(c)
	}
	sse.done()
}

// sseWriter writes server-sent events, flushing each one at once.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (s *sseWriter) start() {
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event through unbuffered
	s.w.WriteHeader(http.StatusOK)
	s.started = true
}

func (s *sseWriter) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return s.rc.Flush()
}

func (s *sseWriter) done() {
	_, _ = fmt.Fprint(s.w, "data: [DONE]\n\n")
	_ = s.rc.Flush()
}

// handleModels serves OpenAI's GET /v1/models: the one model this color serves.
func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
		Version string `json:"version"`
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []model{{
		ID: s.model.Name, Object: "model", Created: s.started.Unix(), OwnedBy: "zdml", Version: s.model.Version,
	}}})
}
