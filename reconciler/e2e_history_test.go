package reconciler

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // pure Go: the test reads the shared chat.db

	"github.com/zero-downtime-ml/zdml/reconciler/driver"
	"github.com/zero-downtime-ml/zdml/spec"
)

// chatReply is the part of a POST /chat/{user_id} answer these tests read.
type chatReply struct {
	Color           string `json:"color"`
	Version         string `json:"version"`
	UserID          string `json:"user_id"`
	HistoryMessages int    `json:"history_messages"`
	Usage           struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

// chatAs sends one chat turn as user to addr (nginx's public listener or
// a color).
func chatAs(client *http.Client, addr, user, msg string) (chatReply, error) {
	var r chatReply
	body := fmt.Sprintf(`{"message":%q,"max_tokens":2,"temperature":0,"seed":1}`, msg)
	resp, err := client.Post("http://"+addr+"/chat/"+user, "application/json", strings.NewReader(body))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	return r, json.Unmarshal(b, &r)
}

// TestChatHistoryFollowsSwap: a user's conversation survives a model
// upgrade. User A chats through nginx on v1 (blue); v2 is prewarmed on
// green, and while both colors run, both take chat turns as fast as they
// can for a few seconds (two processes writing one SQLite database: no
// request may fail, none may be lost); then deploy-fast swaps green in.
// A's next turn on green carries A's earlier turns (history_messages and
// a longer prompt than user B's identical first message), B sees none of
// A's, and the colors share <state>/chat.db.
func TestChatHistoryFollowsSwap(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.commit(desiredSpec{Version: "v1", Strategy: "prewarm", AutoPromote: "false"}.yaml(), "v1")
	e.start()
	e.waitSynced("v1", time.Minute)
	hc := &http.Client{Timeout: 30 * time.Second}
	for turn, msg := range []string{"My name is Ada", "I like tea"} {
		r, err := chatAs(hc, e.public, "user-a", msg)
		if err != nil {
			t.Fatal(err)
		}
		if r.Color != "blue" || r.HistoryMessages != 2*turn {
			t.Fatalf("A's turn %d on v1: %+v; want blue with %d history messages", turn, r, 2*turn)
		}
	}

	e.commit(desiredSpec{Version: "v2", Strategy: "prewarm", AutoPromote: "false"}.yaml(), "v2")
	e.waitFor("green prewarmed", time.Minute, func() bool {
		c, ok := condition(e.r.Status(), CondProgressing)
		return ok && c.Reason == "AwaitingPromotion"
	})
	ok := overlapWrites(t, map[spec.Color]string{spec.Blue: e.public, spec.Green: e.colors[spec.Green]}, 3*time.Second)
	checkStoredTurns(t, filepath.Join(e.stateDir, driver.ChatDBFile), ok)
	for _, c := range spec.Colors {
		b, _ := os.ReadFile(filepath.Join(e.stateDir, "colors", string(c), "modelserver.log"))
		if n := strings.Count(string(b), "database is locked"); n > 0 {
			t.Errorf("%s's log says %d times that the database is locked", c, n)
		}
	}

	if _, err := e.r.Do(context.Background(), Request{Action: ActionPromote}); err != nil {
		t.Fatalf("deploy-fast: %v", err)
	}
	e.waitSynced("v2", time.Minute)
	const msg = "What did I tell you?"
	a, err := chatAs(hc, e.public, "user-a", msg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := chatAs(hc, e.public, "user-b", msg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the swap: A %+v; B %+v", a, b)
	if a.Color != "green" || a.Version != "v2" || a.HistoryMessages != 4 {
		t.Errorf("A on v2: %s %s with %d history messages; want green v2 with A's 4 messages from v1", a.Color, a.Version, a.HistoryMessages)
	}
	if a.Usage.PromptTokens <= b.Usage.PromptTokens {
		t.Errorf("A's prompt %d tokens, B's %d for the same message; want A's longer by A's history", a.Usage.PromptTokens, b.Usage.PromptTokens)
	}
	if b.HistoryMessages != 0 {
		t.Errorf("B's first turn carries %d history messages; want none (never A's)", b.HistoryMessages)
	}
	for _, c := range spec.Colors {
		if _, err := os.Stat(filepath.Join(e.stateDir, "colors", string(c), driver.ChatDBFile)); err == nil {
			t.Errorf("%s has a chat.db of its own; want the shared %s only", c, driver.ChatDBFile)
		}
	}
}

// overlapWrites has two users per color, and one user on both colors,
// chat as fast as they can for d, each turn appending to the shared
// history. Every request must succeed. It returns the turns each user
// completed.
func overlapWrites(t *testing.T, addrs map[spec.Color]string, d time.Duration) map[string]int {
	t.Helper()
	var (
		mu     sync.Mutex
		ok     = map[string]int{}
		failed []string
		wg     sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	for color, addr := range addrs {
		for _, user := range []string{"own-" + string(color), "both"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hc := &http.Client{Timeout: 30 * time.Second}
				for time.Now().Before(deadline) {
					_, err := chatAs(hc, addr, user, "turn from "+string(color))
					mu.Lock()
					if err != nil {
						failed = append(failed, string(color)+": "+err.Error())
					} else {
						ok[user]++
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	t.Logf("both colors writing for %s: turns %v, %d failed", d, ok, len(failed))
	if len(failed) > 0 {
		t.Errorf("%d chat turns failed while both colors wrote; first: %s", len(failed), failed[0])
	}
	for _, u := range []string{"own-blue", "own-green", "both"} {
		if ok[u] == 0 {
			t.Errorf("user %s completed no turn", u)
		}
	}
	return ok
}

// checkStoredTurns counts each user's stored messages: two per turn.
func checkStoredTurns(t *testing.T, path string, turns map[string]int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for user, n := range turns {
		var got int
		if err := db.QueryRow(`SELECT count(*) FROM messages WHERE user_id = ?`, user).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != 2*n {
			t.Errorf("user %s: %d stored messages for %d turns; want %d", user, got, n, 2*n)
		}
	}
}

// chatBeforeSwap has user A take a turn through nginx before a deploy; the
// function it returns checks, after the deploy, that A's next turn on the
// new color carries that turn and a new user's carries nothing.
func chatBeforeSwap(t *testing.T, public string) func(color spec.Color, version string) {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second}
	before, err := chatAs(hc, public, "user-a", "My name is Ada")
	if err != nil {
		t.Fatal(err)
	}
	return func(color spec.Color, version string) {
		t.Helper()
		a, err := chatAs(hc, public, "user-a", "What is my name?")
		if err != nil {
			t.Fatal(err)
		}
		b, err := chatAs(hc, public, "user-b", "What is my name?")
		if err != nil {
			t.Fatal(err)
		}
		if a.Color == before.Color || a.Color != string(color) || a.Version != version || a.HistoryMessages != 2 || b.HistoryMessages != 0 {
			t.Errorf("chat history across the swap: A on %s, then A %+v, B %+v; want A on %s %s with A's 2 earlier messages, B with none",
				before.Color, a, b, color, version)
		}
	}
}
