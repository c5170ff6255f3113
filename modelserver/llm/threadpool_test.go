package llm

import (
	"context"
	"log/slog"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/modelserver"
)

// The context gets its persistent ggml workers (the pointer read out of the
// binding passes its checks) and decodes with them, one thread or several.
func TestDecodeThreadsPersist(t *testing.T) {
	if testEngine(t).(*Engine).pool == nil {
		t.Error("1-thread engine: no threadpool attached")
	}
	eng, err := Load(context.Background(), modelserver.EngineConfig{
		Path: testenv.Model(t, "tiny.gguf"), Threads: 2, Parallel: 2, Ctx: 256, FlashAttention: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if eng.(*Engine).pool == nil {
		t.Fatal("2-thread engine: no threadpool attached")
	}
	for range 2 {
		text, res, err := generate(t, eng, context.Background(), chatPrompt, 16)
		if err != nil || res.CompletionTokens != 16 || text == "" {
			t.Fatalf("2 threads: %q, %+v, %v", text, res, err)
		}
	}
}
