package modelserver

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"
)

// maxMessageBytes bounds one chat message, below the body limit, so that an
// oversize message gets a message-specific error.
const maxMessageBytes = 64 << 10

var userIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// chatRequest is the seed's chat API body.
type chatRequest struct {
	Message     string   `json:"message"`
	MaxTokens   *int     `json:"max_tokens"`
	Temperature *float32 `json:"temperature"`
	Seed        *uint32  `json:"seed"`
}

// chatResponse is the seed's chat API answer, with token counts and timings.
type chatResponse struct {
	Response        string  `json:"response"`
	Model           string  `json:"model"`
	Version         string  `json:"version"`
	Color           string  `json:"color"`
	UserID          string  `json:"user_id,omitempty"`
	HistoryMessages int     `json:"history_messages"`
	FinishReason    string  `json:"finish_reason"`
	Usage           usage   `json:"usage"`
	Timings         timings `json:"timings"`
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CachedTokens     int `json:"cached_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func usageOf(res GenerateResult) usage {
	return usage{res.PromptTokens, res.CachedTokens, res.CompletionTokens, res.PromptTokens + res.CompletionTokens}
}

// defaultMaxTokens is what a chat gets when it does not say.
const defaultMaxTokens = 64

// handleChat serves POST /chat and POST /chat/{user_id}. With a user id the
// conversation's history (trimmed, oldest first, to fit the context) goes
// into the prompt, and the exchange is stored once the reply is complete.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) {
	g, err := s.startGeneration()
	defer g.done()
	userID, hasUser := r.PathValue("user_id"), strings.HasPrefix(r.URL.Path, "/chat/")
	if hasUser && !userIDRe.MatchString(userID) {
		writeError(w, invalid("user_id", "user_id %q: want 1-64 characters from A-Z a-z 0-9 _ -", truncate(userID, 80)))
		return
	}
	var req chatRequest
	if derr := decodeJSON(w, r, int64(s.cfg.MaxBody), &req); derr != nil {
		writeError(w, derr)
		return
	}
	maxTokens, verr := s.validateChat(req)
	if verr != nil {
		writeError(w, verr)
		return
	}
	if err != nil { // draining or not loaded: after validation, so bad input is 400 regardless
		writeError(w, err)
		return
	}
	user := Message{Role: "user", Content: req.Message}
	prompt, kept, err := s.chatPrompt(r.Context(), g.engine, userID, user, maxTokens)
	if err != nil {
		writeError(w, err)
		return
	}
	var reply strings.Builder
	res, err := g.run(r.Context(), GenerateRequest{Prompt: prompt, MaxTokens: maxTokens, Temperature: deref(req.Temperature, 0.7), Seed: deref(req.Seed, 0)},
		nil, func(p Piece) error { reply.WriteString(p.Text); return nil })
	if err != nil {
		writeError(w, err)
		return
	}
	if hasUser {
		if err := s.history.Append(r.Context(), userID, user, Message{Role: "assistant", Content: reply.String()}); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, chatResponse{
		Response: reply.String(), Model: s.model.Name, Version: s.model.Version, Color: s.cfg.Color.String(),
		UserID: userID, HistoryMessages: kept, FinishReason: res.FinishReason, Usage: usageOf(res), Timings: g.timings(res),
	})
}

// chatPrompt renders the user's stored history (if userID is set) and msg
// into prompt tokens that fit the slot's context with maxTokens to spare.
func (s *Server) chatPrompt(ctx context.Context, eng Engine, userID string, msg Message, maxTokens int) ([]int, int, error) {
	var history []Message
	if userID != "" {
		var err error
		if history, err = s.history.Recent(ctx, userID, historyFetch); err != nil {
			return nil, 0, err
		}
	}
	return fitConversation(eng.Tokenize, s.model.Template(), history, msg, eng.Info().SlotContext, maxTokens)
}

func (s *Server) validateChat(req chatRequest) (int, error) {
	switch {
	case strings.TrimSpace(req.Message) == "":
		return 0, invalid("message", "message is empty")
	case len(req.Message) > maxMessageBytes:
		return 0, invalid("message", "message is %d bytes; the limit is %d", len(req.Message), maxMessageBytes)
	case !utf8.ValidString(req.Message):
		return 0, invalid("message", "message is not valid UTF-8")
	}
	if req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2) {
		return 0, invalid("temperature", "temperature %v: want 0 to 2", *req.Temperature)
	}
	return s.maxTokens("max_tokens", req.MaxTokens)
}

// maxTokens validates a requested max_tokens against --max-tokens-limit.
func (s *Server) maxTokens(param string, v *int) (int, error) {
	if v == nil {
		return min(defaultMaxTokens, s.cfg.MaxTokensLimit), nil
	}
	if *v <= 0 || *v > s.cfg.MaxTokensLimit {
		return 0, invalid(param, "%s %d: want 1 to %d", param, *v, s.cfg.MaxTokensLimit)
	}
	return *v, nil
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
