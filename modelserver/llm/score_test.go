package llm

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ollama/ollama/llama"

	"github.com/zero-downtime-ml/zdml/modelserver"
)

// A greedy reply's logprobs, computed one token per step while it is
// generated, match the scoring of the prompt and reply as one text, computed
// in batches of positions: each token conditioned on the tokens before it.
// And the greedy token is the scoring's most likely one at each position.
func TestScoreMatchesGenerationLogprobs(t *testing.T) {
	e := testEngine(t)
	prompt, err := e.Tokenize(chatPrompt)
	if err != nil {
		t.Fatal(err)
	}
	var sampled []modelserver.TokenLogprobs
	res, err := e.Generate(context.Background(), modelserver.GenerateRequest{Prompt: prompt, MaxTokens: 12, Logprobs: true, TopLogprobs: 3},
		func(p modelserver.Piece) error { sampled = append(sampled, p.Logprobs...); return nil })
	if err != nil || len(sampled) != res.CompletionTokens || len(sampled) == 0 {
		t.Fatalf("generate: %d logprobs for %+v, %v", len(sampled), res, err)
	}
	text := append([]int(nil), prompt...)
	for _, lp := range sampled {
		text = append(text, lp.ID)
		if len(lp.Top) != 3 || lp.Top[0].ID != lp.ID || lp.Top[0].Logprob != lp.Logprob {
			t.Errorf("greedy token %+v is not its own top-1 %+v", lp.TokenLogprob, lp.Top)
		}
	}
	scored, err := e.Score(context.Background(), modelserver.ScoreRequest{Tokens: text, TopLogprobs: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(scored.Positions) != len(text)-1 {
		t.Fatalf("%d positions for %d tokens", len(scored.Positions), len(text))
	}
	for i, lp := range sampled {
		got := scored.Positions[len(prompt)-1+i]
		if got.ID != lp.ID || math.Abs(got.Logprob-lp.Logprob) > 1e-3 || got.Top[0].ID != lp.ID {
			t.Errorf("reply token %d: scored %+v (top %d), generated %+v", i, got.TokenLogprob, got.Top[0].ID, lp.TokenLogprob)
		}
	}
}

// Named ids get the same log-probabilities as the top list gives them, in
// the order named, and positions without names get none.
func TestScoreNamedIDs(t *testing.T) {
	e := testEngine(t)
	text, _ := e.TokenizeText("the sun is warm and the sea is blue")
	first, err := e.Score(context.Background(), modelserver.ScoreRequest{Tokens: text, TopLogprobs: 4})
	if err != nil {
		t.Fatal(err)
	}
	named := make([][]int, 3) // fewer lists than positions
	for i := range named {
		for _, alt := range first.Positions[i].Top {
			named[i] = append([]int{alt.ID}, named[i]...) // reversed
		}
	}
	second, err := e.Score(context.Background(), modelserver.ScoreRequest{Tokens: text, Named: named})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range second.Positions {
		if i >= len(named) {
			if p.Named != nil {
				t.Errorf("position %d: named %v without names", i, p.Named)
			}
			continue
		}
		for j, id := range named[i] {
			want := first.Positions[i].Top[len(named[i])-1-j]
			if want.ID != id || math.Abs(p.Named[j]-want.Logprob) > 1e-9 {
				t.Errorf("position %d id %d: %v, want %v", i, id, p.Named[j], want.Logprob)
			}
		}
	}
}

func TestScoreRefusesBadRequests(t *testing.T) {
	e := testEngine(t)
	for _, tt := range []struct {
		name string
		req  modelserver.ScoreRequest
		want string
	}{
		{"one token", modelserver.ScoreRequest{Tokens: []int{5}}, "want at least 2"},
		{"over the context", modelserver.ScoreRequest{Tokens: make([]int, 300)}, modelserver.ErrPromptTooLong.Error()},
		{"too many alternatives", modelserver.ScoreRequest{Tokens: []int{5, 6}, TopLogprobs: 21}, "top logprobs 21"},
		{"id outside the vocabulary", modelserver.ScoreRequest{Tokens: []int{5, 6}, Named: [][]int{{1 << 20}}}, "outside the vocabulary"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Score(context.Background(), tt.req); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// A scoring whose caller goes away frees its slot, and scoring beside a
// generation leaves both right.
func TestScoreCancelAndConcurrency(t *testing.T) {
	e := testEngine(t)
	text, _ := e.TokenizeText(strings.Repeat("the water is deep and the land is far. ", 20))
	text = text[:200]
	for range testSlots + 1 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.Score(ctx, modelserver.ScoreRequest{Tokens: text}); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled scoring: %v", err)
		}
	}
	alone, err := e.Score(context.Background(), modelserver.ScoreRequest{Tokens: text})
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := generate(t, e, context.Background(), chatPrompt, 30)
	var wg sync.WaitGroup
	var reply string
	var together modelserver.ScoreResult
	var genErr, scoreErr error
	wg.Add(2)
	go func() { defer wg.Done(); reply, _, genErr = generate(t, e, context.Background(), chatPrompt, 30) }()
	go func() {
		defer wg.Done()
		together, scoreErr = e.Score(context.Background(), modelserver.ScoreRequest{Tokens: text})
	}()
	wg.Wait()
	if genErr != nil || scoreErr != nil || reply != want {
		t.Fatalf("together: reply %q (alone %q) %v, scoring %v", reply, want, genErr, scoreErr)
	}
	for i := range alone.Positions {
		if math.Abs(alone.Positions[i].Logprob-together.Positions[i].Logprob) > 1e-3 {
			t.Fatalf("position %d: %v beside a generation, %v alone", i, together.Positions[i].Logprob, alone.Positions[i].Logprob)
		}
	}
}

// While a sequence generates, scoring steps are short and take at most a
// quarter of the loop's time: each is paid back by three times its time of
// the others' steps. Alone, a scoring takes whole steps.
func TestScoringYieldsToReplies(t *testing.T) {
	batch, err := llama.NewBatch(512, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Free()
	e := &Engine{cfg: modelserver.EngineConfig{Batch: 512, Parallel: 2}}
	gen := &sequence{slot: &slot{id: 0, cached: []int{1, 2, 3}}, logitAt: -1, last: 7}
	text := make([]int, 200)
	sc := newScoreSequence(context.Background(), modelserver.ScoreRequest{Tokens: text}, time.Time{})
	sc.slot, sc.pending = &slot{id: 1}, text
	steps := func(active []*sequence, n int, d time.Duration) string {
		var kinds []string
		for range n {
			e.plan(batch, active)
			switch {
			case sc.inBatch > 0 && gen.inBatch == 0:
				kinds = append(kinds, "score"+strconv.Itoa(sc.inBatch))
				sc.slot.cached, sc.pending = append(sc.slot.cached, sc.pending[:sc.inBatch]...), sc.pending[sc.inBatch:]
			case gen.inBatch == 1 && sc.inBatch == 0:
				kinds = append(kinds, "reply")
				gen.slot.cached = append(gen.slot.cached, gen.last)
			default:
				t.Fatalf("step mixes %d reply and %d scoring tokens", gen.inBatch, sc.inBatch)
			}
			e.account(d)
		}
		return strings.Join(kinds, " ")
	}
	if got, want := steps([]*sequence{gen, sc}, 9, 30*time.Millisecond), "score8 reply reply reply score8 reply reply reply score8"; got != want {
		t.Errorf("beside a reply, steps of 30 ms: %s\nwant %s", got, want)
	}
	if got, want := steps([]*sequence{sc}, 1, 30*time.Millisecond), "score8"; got != want {
		t.Errorf("right after the reply: %s, want %s (a client between two requests)", got, want)
	}
	e.lastTraffic = time.Now().Add(-trafficMemory)
	if got, want := steps([]*sequence{sc}, 2, 30*time.Millisecond), "score32 score32"; got != want {
		t.Errorf("alone: %s, want %s", got, want)
	}
	// A prompt being decoded is traffic too: it does not share a step with
	// a scoring in debt, and its steps pay the debt back.
	e.scoreDebt = 0
	chat := &sequence{slot: &slot{id: 0}, logitAt: -1, pending: make([]int, 40), req: modelserver.GenerateRequest{Prompt: make([]int, 40)}}
	e.plan(batch, []*sequence{chat, sc})
	if sc.inBatch != scoreChunkBeside || chat.inBatch != 40 {
		t.Fatalf("a prompt beside a scoring: %d and %d positions, want 40 and %d", chat.inBatch, sc.inBatch, scoreChunkBeside)
	}
	e.account(30 * time.Millisecond)
	chat.slot.cached, chat.pending = chat.pending, nil
	sc.slot.cached, sc.pending = append(sc.slot.cached, sc.pending[:sc.inBatch]...), sc.pending[sc.inBatch:]
	chat.pending = make([]int, 10) // the next turn's prompt
	e.plan(batch, []*sequence{chat, sc})
	if sc.inBatch != 0 || chat.inBatch != 10 {
		t.Errorf("with a debt: the prompt step holds %d scoring positions", sc.inBatch)
	}
}
