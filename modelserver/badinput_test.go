package modelserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

func TestBadInput(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"), "--max-body", "96Ki", "--max-tokens-limit", "100", "--max-score-tokens", "50")
	big := strings.Repeat("a", 65<<10)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		wantInMsg  string // the error message must say what is wrong
		wantHeader [2]string
	}{
		{"invalid JSON", "POST", "/chat", `{"message": "hi"`, 400, "ends early", [2]string{}},
		{"not JSON at all", "POST", "/chat", `hello`, 400, "invalid JSON", [2]string{}},
		{"empty body", "POST", "/chat", ``, 400, "empty body", [2]string{}},
		{"JSON array", "POST", "/chat", `[1,2]`, 400, "want an object", [2]string{}},
		{"trailing data", "POST", "/chat", `{"message":"hi"} {"x":1}`, 400, "trailing data", [2]string{}},
		{"unknown field", "POST", "/chat", `{"message":"hi","temprature":1}`, 400, `unknown field "temprature"`, [2]string{}},
		{"wrong type", "POST", "/chat", `{"message":"hi","max_tokens":"ten"}`, 400, `"max_tokens"`, [2]string{}},
		{"empty message", "POST", "/chat", `{"message":""}`, 400, "message is empty", [2]string{}},
		{"blank message", "POST", "/chat", `{"message":"   "}`, 400, "message is empty", [2]string{}},
		{"missing message", "POST", "/chat", `{"max_tokens":5}`, 400, "message is empty", [2]string{}},
		{"oversize message", "POST", "/chat", `{"message":"` + big + `"}`, 400, "limit is 65536", [2]string{}},
		{"max_tokens zero", "POST", "/chat", `{"message":"hi","max_tokens":0}`, 400, "max_tokens 0: want 1 to 100", [2]string{}},
		{"max_tokens negative", "POST", "/chat", `{"message":"hi","max_tokens":-3}`, 400, "max_tokens -3", [2]string{}},
		{"max_tokens above limit", "POST", "/chat", `{"message":"hi","max_tokens":101}`, 400, "want 1 to 100", [2]string{}},
		{"temperature out of range", "POST", "/chat", `{"message":"hi","temperature":9}`, 400, "temperature", [2]string{}},
		{"user id with a dot", "POST", "/chat/bob.smith", `{"message":"hi"}`, 400, "user_id", [2]string{}},
		{"user id too long", "POST", "/chat/" + strings.Repeat("u", 65), `{"message":"hi"}`, 400, "user_id", [2]string{}},
		{"user id with a slash", "POST", "/chat/a/b", `{"message":"hi"}`, 400, "user_id", [2]string{}},
		{"user id escaped space", "POST", "/chat/a%20b", `{"message":"hi"}`, 400, "user_id", [2]string{}},
		{"empty user id", "POST", "/chat/", `{"message":"hi"}`, 400, "user_id", [2]string{}},
		{"GET on chat", "GET", "/chat", ``, 405, "not allowed", [2]string{"Allow", "POST"}},
		{"DELETE on user chat", "DELETE", "/chat/bob", ``, 405, "not allowed", [2]string{"Allow", "POST"}},
		{"POST on ready", "POST", "/ready", `{}`, 405, "not allowed", [2]string{"Allow", "GET"}},
		{"PUT on completions", "PUT", "/v1/chat/completions", `{}`, 405, "not allowed", [2]string{"Allow", "POST"}},
		{"body over the limit", "POST", "/chat", `{"message":"` + strings.Repeat("b", 100<<10) + `"}`, 413, "larger than the limit", [2]string{}},
		{"unknown path", "GET", "/nope", ``, 404, "no such endpoint", [2]string{}},
		{"completions without messages", "POST", "/v1/chat/completions", `{"messages":[]}`, 400, "messages is empty", [2]string{}},
		{"completions bad role", "POST", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, `role "wizard"`, [2]string{}},
		{"completions n=2", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"n":2}`, 400, "only 1", [2]string{}},
		{"completions stop", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stop":["x"]}`, 400, "stop sequences", [2]string{}},
		{"completions image part", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "only text", [2]string{}},
		{"completions max_tokens above limit", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"max_tokens":1000}`, 400, "want 1 to 100", [2]string{}},
		{"completions stream not a bool", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}`, 400, `"stream"`, [2]string{}},
		{"completions top_logprobs above 20", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}`, 400, "top_logprobs 21: want 0 to 20", [2]string{}},
		{"completions top_logprobs without logprobs", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, 400, "needs logprobs: true", [2]string{}},
		{"logprobs without text", "POST", "/v1/logprobs", `{"top_logprobs":2}`, 400, "text is empty", [2]string{}},
		{"logprobs one token", "POST", "/v1/logprobs", `{"text":"the"}`, 400, "at least 2", [2]string{}},
		{"logprobs over the limit", "POST", "/v1/logprobs", `{"text":"` + strings.Repeat("the sea ", 30) + `"}`, 400, "61 tokens; the limit is 50", [2]string{}},
		{"logprobs truncate over the limit", "POST", "/v1/logprobs", `{"text":"the sea","truncate":51}`, 400, "above the limit of 50", [2]string{}},
		{"logprobs top_logprobs above 20", "POST", "/v1/logprobs", `{"text":"the sea","top_logprobs":21}`, 400, "want 0 to 20", [2]string{}},
		{"logprobs ids for the first token", "POST", "/v1/logprobs", `{"text":"the sea","token_ids":[[5]]}`, 400, "first token is not scored", [2]string{}},
		{"logprobs ids beyond the text", "POST", "/v1/logprobs", `{"text":"the sea","token_ids":[[],[5],[6]]}`, 400, "3 positions; the text has 2", [2]string{}},
		{"logprobs id outside the vocabulary", "POST", "/v1/logprobs", `{"text":"the sea","token_ids":[[],[999999]]}`, 400, "token id 999999", [2]string{}},
		{"logprobs unknown field", "POST", "/v1/logprobs", `{"text":"the sea","echo":true}`, 400, `unknown field "echo"`, [2]string{}},
		{"GET on logprobs", "GET", "/v1/logprobs", ``, 405, "not allowed", [2]string{"Allow", "POST"}},
		{"completions unknown field", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"tools":[]}`, 400, `unknown field "tools"`, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkHeaders(t, resp)
			body, _ := io.ReadAll(resp.Body)
			var got struct {
				Error struct{ Message, Type string }
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("got %d with a non-JSON body %q", resp.StatusCode, body)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(got.Error.Message, tt.wantInMsg) {
				t.Errorf("got %d %q, want %d with %q", resp.StatusCode, got.Error.Message, tt.wantStatus, tt.wantInMsg)
			}
			if h := tt.wantHeader; h[0] != "" && resp.Header.Get(h[0]) != h[1] {
				t.Errorf("header %s: got %q, want %q", h[0], resp.Header.Get(h[0]), h[1])
			}
		})
	}
	// The server took all that and still serves.
	if r := s.chat(t, "/chat", "still there?", 4); r.Usage.CompletionTokens == 0 {
		t.Errorf("no reply after bad input: %+v", r)
	}
	if strings.Contains(s.Log(), "panic") {
		t.Errorf("the server panicked:\n%s", s.Log())
	}
}
