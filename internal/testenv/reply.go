package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Reply is a finished chat request, as a drain test checks it: its status,
// the version that answered (X-Model-Version), the tokens it generated
// (usage.completion_tokens of /chat or /v1/chat/completions) and when it
// ended.
type Reply struct {
	Status, Version string
	Tokens          int
	Err             error
	Done            time.Time
}

// PostChat posts a JSON body to url with c and waits for the whole reply.
func PostChat(c *http.Client, url, body string) Reply {
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return Reply{Err: err, Done: time.Now()}
	}
	defer resp.Body.Close()
	var out struct {
		Usage struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	return Reply{Status: resp.Status, Version: resp.Header.Get("X-Model-Version"), Tokens: out.Usage.CompletionTokens, Err: err, Done: time.Now()}
}
