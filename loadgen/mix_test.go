package loadgen

import (
	"encoding/json"
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
		{"every kind once, every user its share", []Mix{{KindChat, 1}, {KindChatUser, 1}, {KindCompletion, 1}, {KindStream, 1}}, 64,
			map[string]int{KindChat: 16, KindChatUser: 16, KindCompletion: 16, KindStream: 16}, 8},
		{"weights", []Mix{{KindChat, 2}, {KindChatUser, 1}}, 30,
			map[string]int{KindChat: 20, KindChatUser: 10}, 8},
		{"fewer requests than users", []Mix{{KindChatUser, 1}}, 3, map[string]int{KindChatUser: 3}, 3},
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
				if err := json.Unmarshal(tgt.Body, &body); err != nil || body.MaxTokens != 7 || body.Stream != (kind == KindStream) {
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
