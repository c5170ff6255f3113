package loadgen

import (
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func TestTargeterMix(t *testing.T) {
	tests := []struct {
		name      string
		mix       []Mix
		n         int
		wantKinds map[string]int
		wantUsers int // distinct /chat/{user_id} ids
	}{
		{"every kind once, every user its share", []Mix{{Kind: KindChat, Weight: 1}, {Kind: KindChatUser, Weight: 1},
			{Kind: KindCompletion, Weight: 1}, {Kind: KindStream, Weight: 1}}, 64,
			map[string]int{KindChat: 16, KindChatUser: 16, KindCompletion: 16, KindStream: 16}, 8},
		{"weights", []Mix{{Kind: KindChat, Weight: 2}, {Kind: KindChatUser, Weight: 1}}, 30,
			map[string]int{KindChat: 20, KindChatUser: 10}, 8},
		{"fewer requests than users", []Mix{{Kind: KindChatUser, Weight: 1}}, 3, map[string]int{KindChatUser: 3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := newTargeter("http://x/", Load{Mix: tt.mix, MaxTokens: 7, Users: 8}).Targeter()
			kinds, users := map[string]int{}, map[string]int{}
			for range tt.n {
				var tgt vegeta.Target
				if err := next(&tgt); err != nil {
					t.Fatal(err)
				}
				kind := tgt.Header.Get(HeaderKind)
				kinds[kind]++
				var body struct {
					MaxTokens int  `json:"max_tokens"`
					Stream    bool `json:"stream"`
				}
				if err := json.Unmarshal(tgt.Body, &body); err != nil || body.MaxTokens != 7 || body.Stream != (kind == KindStream) ||
					tgt.Header.Get(HeaderMaxTokens) != "7" {
					t.Errorf("%s body %s: max_tokens %d stream %v, err %v", kind, tgt.Body, body.MaxTokens, body.Stream, err)
				}
				if id, ok := strings.CutPrefix(tgt.URL, "http://x/chat/"); ok {
					users[id]++
				}
			}
			for k, want := range tt.wantKinds {
				if kinds[k] != want {
					t.Errorf("%s requests = %d, want %d (all: %v)", k, kinds[k], want, kinds)
				}
			}
			if len(users) != tt.wantUsers {
				t.Errorf("user ids = %v, want %d distinct", users, tt.wantUsers)
			}
			for id, c := range users {
				if min := tt.wantKinds[KindChatUser] / tt.wantUsers; c < min {
					t.Errorf("user %s got %d requests, want at least %d", id, c, min)
				}
			}
		})
	}
}

// TestTargeterLongStreams: a mix entry's maxTokens replaces the load's for
// its requests only, so short requests and long streams share one run,
// and each request says what it asked for.
func TestTargeterLongStreams(t *testing.T) {
	l := Load{MaxTokens: 16, Users: 1, Mix: []Mix{{Kind: KindChat, Weight: 3}, {Kind: KindStream, Weight: 1, MaxTokens: 400}}}
	next := newTargeter("http://x", l).Targeter()
	got := map[string]int{}
	for range 8 {
		var tgt vegeta.Target
		if err := next(&tgt); err != nil {
			t.Fatal(err)
		}
		var body struct {
			MaxTokens     int  `json:"max_tokens"`
			Stream        bool `json:"stream"`
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		if err := json.Unmarshal(tgt.Body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Stream != (body.StreamOptions != nil && body.StreamOptions.IncludeUsage) {
			t.Errorf("body %s: a stream must ask for its usage chunk, nothing else may", tgt.Body)
		}
		if h := tgt.Header.Get(HeaderMaxTokens); h != strconv.Itoa(body.MaxTokens) {
			t.Errorf("header %s = %q, body max_tokens %d", HeaderMaxTokens, h, body.MaxTokens)
		}
		got[tgt.Header.Get(HeaderKind)+"/"+strconv.Itoa(body.MaxTokens)]++
	}
	if want := map[string]int{"chat/16": 6, "completions_stream/400": 2}; !maps.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
}
