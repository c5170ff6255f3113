package llm

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/modelserver"
)

// The binding cannot free a context, so the tests share one engine.
var (
	engineOnce sync.Once
	shared     modelserver.Engine
	sharedErr  error
)

const testSlots = 2

func testEngine(t *testing.T) modelserver.Engine {
	t.Helper()
	path := testenv.Model(t, "tiny.gguf")
	engineOnce.Do(func() {
		shared, sharedErr = Load(context.Background(), modelserver.EngineConfig{
			Path: path, Threads: 1, Parallel: testSlots, Ctx: 256, FlashAttention: true,
		}, slog.New(slog.DiscardHandler))
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return shared
}

func generate(t *testing.T, e modelserver.Engine, ctx context.Context, text string, max int) (string, modelserver.GenerateResult, error) {
	t.Helper()
	prompt, err := e.Tokenize(text)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	res, err := e.Generate(ctx, modelserver.GenerateRequest{Prompt: prompt, MaxTokens: max},
		func(p modelserver.Piece) error { out.WriteString(p.Text); return nil })
	return out.String(), res, err
}

const chatPrompt = "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n"

func TestGenerateIsDeterministicAndReusesPrefix(t *testing.T) {
	e := testEngine(t)
	a, ra, err := generate(t, e, context.Background(), chatPrompt, 16)
	if err != nil {
		t.Fatal(err)
	}
	b, rb, err := generate(t, e, context.Background(), chatPrompt, 16)
	if err != nil {
		t.Fatal(err)
	}
	if a != b || a == "" {
		t.Errorf("greedy replies differ or are empty: %q vs %q", a, b)
	}
	if ra.CompletionTokens != 16 || ra.FinishReason != modelserver.FinishLength || ra.FirstToken.IsZero() {
		t.Errorf("first result: %+v", ra)
	}
	if rb.CachedTokens != rb.PromptTokens-1 {
		t.Errorf("second run reused %d of %d prompt tokens, want all but one", rb.CachedTokens, rb.PromptTokens)
	}
	if strings.Contains(a, "<|im_end|>") {
		t.Errorf("end-of-generation token leaked into %q", a)
	}
}

func TestGenerateCancelFreesSlot(t *testing.T) {
	e := testEngine(t)
	for range testSlots + 1 { // more cancellations than slots: each must free its slot
		ctx, cancel := context.WithCancel(context.Background())
		prompt, _ := e.Tokenize(chatPrompt)
		_, err := e.Generate(ctx, modelserver.GenerateRequest{Prompt: prompt, MaxTokens: 200},
			func(modelserver.Piece) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	}
	stop := errors.New("client went away")
	prompt, _ := e.Tokenize(chatPrompt)
	res, err := e.Generate(context.Background(), modelserver.GenerateRequest{Prompt: prompt, MaxTokens: 200},
		func(modelserver.Piece) error { return stop })
	if !errors.Is(err, stop) || res.FinishReason != modelserver.FinishCancelled {
		t.Errorf("emit error: got %v %+v", err, res)
	}
	if _, res, err := generate(t, e, context.Background(), chatPrompt, 4); err != nil || res.CompletionTokens != 4 {
		t.Errorf("after cancellations: %+v %v", res, err)
	}
}

func TestGenerateRefusesBadRequests(t *testing.T) {
	e := testEngine(t)
	long := make([]int, 300)
	for i := range long {
		long[i] = 100
	}
	for _, tt := range []struct {
		name string
		req  modelserver.GenerateRequest
		want string
	}{
		{"empty prompt", modelserver.GenerateRequest{MaxTokens: 3}, "empty prompt"},
		{"no tokens wanted", modelserver.GenerateRequest{Prompt: []int{1}, MaxTokens: 0}, "max tokens 0"},
		{"prompt over the context", modelserver.GenerateRequest{Prompt: long, MaxTokens: 3}, modelserver.ErrPromptTooLong.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Generate(context.Background(), tt.req, func(modelserver.Piece) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestLoadTruncatedModelSaysWhy(t *testing.T) {
	_, err := Load(context.Background(), modelserver.EngineConfig{Path: testenv.Model(t, "broken-truncated.gguf")}, slog.New(slog.DiscardHandler))
	// The binding only says "unable to load model"; llama.cpp's log says why.
	if err == nil || !strings.Contains(err.Error(), "unable to load model") || !strings.Contains(err.Error(), "llama_model_load") {
		t.Errorf("got %v, want the binding's error with llama.cpp's reason", err)
	}
}

func TestRepackBytesFromLog(t *testing.T) {
	lines := []logLine{{ggmlLogInfo, "load_tensors:   CPU_Mapped model buffer size =   116.00 MiB"},
		{ggmlLogInfo, "load_tensors:   CPU_REPACK model buffer size =    60.75 MiB"}}
	if got := repackBytes(lines); got != int64(60.75*(1<<20)) {
		t.Errorf("got %d", got)
	}
	if got := repackBytes(lines[:1]); got != 0 {
		t.Errorf("no repack line: got %d", got)
	}
}

func TestLogRouterAssemblesFragments(t *testing.T) {
	var r logRouter
	var sb strings.Builder
	r.setLogger(slog.New(slog.NewTextHandler(&sb, &slog.HandlerOptions{Level: slog.LevelDebug})))
	stop := r.capture()
	r.write(ggmlLogError, "llama_model_load: error")
	r.write(ggmlLogCont, " loading model: bad\n")
	r.write(ggmlLogInfo, ".")
	r.write(ggmlLogCont, ".\n")
	got := stop()
	if len(got) != 2 || got[0].text != "llama_model_load: error loading model: bad" || got[0].level != ggmlLogError || got[1].text != ".." {
		t.Errorf("got %+v", got)
	}
	if !strings.Contains(sb.String(), "level=ERROR") {
		t.Errorf("error line not logged at ERROR: %s", sb.String())
	}
}
