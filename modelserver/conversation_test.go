package modelserver

import (
	"errors"
	"strings"
	"testing"
)

// wordTokens is a stand-in tokenizer: one token per space-separated field.
func wordTokens(s string) ([]int, error) { return make([]int, len(strings.Fields(s))), nil }

func TestFitConversation(t *testing.T) {
	tmpl := Template{} // plain transcript: "Role: content\n" per turn
	history := []Message{
		{"user", "one two three"}, {"assistant", "four five"},
		{"user", "six seven"}, {"assistant", "eight"},
	}
	msg := Message{"user", "new question"}
	tests := []struct {
		name     string
		ctx, max int
		wantKept int
		wantErr  error
	}{
		{"everything fits", 100, 10, 4, nil},
		{"oldest exchange dropped", 14, 2, 2, nil},
		{"all history dropped", 9, 4, 0, nil},
		{"the message alone does not fit", 6, 4, 0, ErrPromptTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prompt, kept, err := fitConversation(wordTokens, tmpl, history, msg, tt.ctx, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if kept != tt.wantKept || len(prompt) > tt.ctx-tt.max {
				t.Errorf("kept %d (want %d), prompt %d tokens for a budget of %d", kept, tt.wantKept, len(prompt), tt.ctx-tt.max)
			}
		})
	}
}

func TestFitConversationNeverStartsWithAReply(t *testing.T) {
	history := []Message{{"user", "a b c d"}, {"assistant", "e"}, {"user", "f"}, {"assistant", "g"}}
	// Room for the last three history messages, but dropping only the first
	// would leave an assistant reply in front: the whole exchange goes.
	_, kept, err := fitConversation(wordTokens, Template{}, history, Message{"user", "q"}, 12, 2)
	if err != nil || kept != 2 {
		t.Errorf("kept %d (%v), want 2", kept, err)
	}
}
