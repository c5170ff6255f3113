package models_test

// These tests load the generated files with the real llama.cpp binding. They
// live in the external test package so that only the test binary links
// llama.cpp; the models package itself stays pure Go. Run them with the
// Makefile's cgo flags: eval "$(make -s print-env)"; go test ./models

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ollama/ollama/llama"
	"github.com/ollama/ollama/ml"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
	"github.com/zero-downtime-ml/zdml/models"
)

// chatPrompt is what a server renders with the ChatML template for one user
// message.
const chatPrompt = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
	"<|im_start|>user\nHello, how is the weather today?<|im_end|>\n<|im_start|>assistant\n"

func TestMain(m *testing.M) {
	// llama.cpp logs ~100 lines per load at INFO through slog's default.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	llama.BackendInit()
	os.Exit(m.Run())
}

var genOnce sync.Once

// modelFile returns a generated model in the repository's models directory,
// generating it if needed (the same as make models, without building bin/).
func modelFile(t testing.TB, file string) string {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(t), "models")
	var err error
	genOnce.Do(func() { _, err = models.Generate(context.Background(), dir) })
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, file)
}

// runner is a loaded model with one context. Contexts cannot be freed, so
// each test binary makes one per model and shares it.
type runner struct {
	model *llama.Model
	ctx   *llama.Context
}

var (
	runnersMu sync.Mutex
	runners   = map[string]*runner{}
)

func load(t testing.TB, file string) *runner {
	t.Helper()
	runnersMu.Lock()
	defer runnersMu.Unlock()
	if r := runners[file]; r != nil {
		return r
	}
	m, err := llama.LoadModelFromFile(modelFile(t, file), llama.ModelParams{UseMmap: true, Progress: func(float32) {}})
	if err != nil {
		t.Fatalf("load %s: %v", file, err)
	}
	ctx, err := llama.NewContextWithModel(m, llama.NewContextParams(512, 512, 1, 1, ml.FlashAttentionDisabled, ""))
	if err != nil {
		t.Fatalf("context %s: %v", file, err)
	}
	runners[file] = &runner{model: m, ctx: ctx}
	return runners[file]
}

// greedy are the sampling settings of greedy decoding (zero values are not
// neutral: TypicalP 0 samples off the argmax).
var greedy = llama.SamplingParams{TopK: 40, TopP: 1, MinP: 0, TypicalP: 1, Temp: 0, PenaltyRepeat: 1}

// generate decodes prompt and samples up to n tokens greedily, stopping at an
// end-of-generation token. It returns the generated token ids.
func (r *runner) generate(t testing.TB, prompt string, n int) []int {
	t.Helper()
	return r.sample(t, prompt, n, greedy)
}

// sample is generate with the given sampling settings.
func (r *runner) sample(t testing.TB, prompt string, n int, params llama.SamplingParams) []int {
	t.Helper()
	tokens, err := r.model.Tokenize(prompt, true, true)
	if err != nil {
		t.Fatal(err)
	}
	r.ctx.KvCacheClear()
	batch, err := llama.NewBatch(512, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer batch.Free()
	sampler, err := llama.NewSamplingContext(r.model, params)
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for pos := 0; len(out) < n; {
		batch.Clear()
		for i, tok := range tokens {
			batch.Add(tok, nil, pos+i, i == len(tokens)-1, 0)
		}
		pos += len(tokens)
		if err := r.ctx.Decode(batch); err != nil {
			t.Fatal(err)
		}
		tok := sampler.Sample(r.ctx, batch.NumTokens()-1)
		sampler.Accept(tok, false)
		if r.model.TokenIsEog(tok) {
			break
		}
		out = append(out, tok)
		tokens = []int{tok}
	}
	return out
}

func (r *runner) text(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(r.model.TokenToPiece(id))
	}
	return b.String()
}

func TestGeneratedModelsGenerate(t *testing.T) {
	for _, file := range []string{models.Tiny, models.DemoV1, models.DemoV2} {
		t.Run(file, func(t *testing.T) {
			r := load(t, file)
			got := r.text(r.generate(t, chatPrompt, 30))
			t.Logf("%s: %q", file, got)
			if n := len(strings.Fields(got)); n < 20 {
				t.Errorf("reply has %d words, want ~30 (one word per token): %q", n, got)
			}
			if !utf8.ValidString(got) {
				t.Errorf("reply is not valid UTF-8: %q", got)
			}
		})
	}
}

func TestSampledRepliesAreWords(t *testing.T) {
	// OpenAI clients sample at temperature 1 with no top-k: every token must
	// still be a whole word or punctuation, never a byte, control or
	// end-of-generation token, so replies are full length and valid UTF-8.
	for _, file := range []string{models.Tiny, models.DemoV1} {
		r := load(t, file)
		for seed := uint32(1); seed <= 3; seed++ {
			params := llama.SamplingParams{TopP: 1, TypicalP: 1, Temp: 1.5, PenaltyRepeat: 1, Seed: seed}
			ids := r.sample(t, chatPrompt, 30, params)
			if len(ids) != 30 {
				t.Errorf("%s seed %d: %d tokens before end of generation, want 30", file, seed, len(ids))
			}
			for _, id := range ids {
				if p := r.model.TokenToPiece(id); !strings.HasPrefix(p, " ") && !strings.ContainsAny(p, ".,?") {
					t.Errorf("%s seed %d: sampled token %d %q, want a word or punctuation", file, seed, id, p)
				}
			}
		}
	}
}

func TestDemoVersionsReplyDifferently(t *testing.T) {
	v1 := load(t, models.DemoV1)
	v2 := load(t, models.DemoV2)
	a, b := v1.text(v1.generate(t, chatPrompt, 30)), v2.text(v2.generate(t, chatPrompt, 30))
	if a == b {
		t.Fatalf("demo-v1 and demo-v2 give the same greedy reply %q", a)
	}
	if again := v1.text(v1.generate(t, chatPrompt, 30)); again != a {
		t.Errorf("demo-v1 greedy reply changed between runs: %q then %q", a, again)
	}
}

func TestTokenizer(t *testing.T) {
	r := load(t, models.Tiny)
	tests := []struct {
		name string
		text string
		want []string // pieces as llama.cpp renders them
	}{
		{"chat tokens are single special tokens", "<|im_start|>user\nHi<|im_end|>",
			[]string{"<|im_start|>", "user", "\n", "Hi", "<|im_end|>"}},
		{"known words are whole tokens", "Hello world, how are you?",
			[]string{"Hello", " world", ",", " how", " are", " you", "?"}},
		{"unknown words fall back to pieces", "zebra",
			[]string{"z", "e", "br", "a"}},
		{"non-ASCII falls back to bytes", "é", []string{"\xc3", "\xa9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids, err := r.model.Tokenize(tt.text, false, true)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, id := range ids {
				got = append(got, r.model.TokenToPiece(id))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("Tokenize(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
	ids, _ := r.model.Tokenize("<|im_start|><|im_end|>", false, true)
	if len(ids) != 2 || ids[0] != models.TokenIMStart || ids[1] != models.TokenIMEnd {
		t.Errorf("chat token ids = %v, want [%d %d]", ids, models.TokenIMStart, models.TokenIMEnd)
	}
	if !r.model.TokenIsEog(models.TokenIMEnd) {
		t.Error("<|im_end|> is not an end-of-generation token")
	}
}

func TestTruncatedModelFailsToLoad(t *testing.T) {
	m, err := llama.LoadModelFromFile(modelFile(t, models.BrokenTruncated), llama.ModelParams{UseMmap: true, Progress: func(float32) {}})
	if err == nil {
		t.Fatalf("loading %s succeeded (%v), want an error", models.BrokenTruncated, m)
	}
}

func TestDegenerateModelRepliesEmpty(t *testing.T) {
	r := load(t, models.BrokenDegen)
	for _, prompt := range []string{chatPrompt, "<|im_start|>user\nTell me a long story.<|im_end|>\n<|im_start|>assistant\n"} {
		if got := r.generate(t, prompt, 30); len(got) != 0 {
			t.Errorf("degenerate model replied %q, want an empty reply", r.text(got))
		}
	}
}

// BenchmarkDemoReply measures a 30-token greedy reply of demo-v1 on one
// thread after the chat prompt, the unit of work of the load tests:
// go test ./models -run '^$' -bench DemoReply (or make bench-models).
func BenchmarkDemoReply(b *testing.B) {
	r := load(b, models.DemoV1)
	r.generate(b, chatPrompt, 30) // page the weights in
	b.ResetTimer()
	for b.Loop() {
		if got := r.generate(b, chatPrompt, 30); len(got) != 30 {
			b.Fatalf("generated %d tokens, want 30", len(got))
		}
	}
	b.ReportMetric(30*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

func TestQ4ModelWithPaddedVocabGenerates(t *testing.T) {
	// The large model's encoding (Q4_0, vocabulary padded to SmolLM2's
	// 49152 tokens, no grouped-query attention) in a shape small enough for
	// every make test: llama.cpp must load it, reply with whole words at any
	// temperature, and the generator must write the same bytes twice.
	s := models.Spec{File: "q4.gguf", Name: "q4", Version: "v1", Seed: 5, Dim: 256, Layers: 2, Heads: 8, KVHeads: 8,
		FFN: 512, Context: 2048, Quant: models.Q4_0, Vocab: models.SmolLM2Vocab}
	ctx := context.Background()
	var sums []string
	var path string
	for range 2 {
		res, err := models.Generate(ctx, t.TempDir(), models.WithSpecs(s), models.WithoutVerify())
		if err != nil {
			t.Fatal(err)
		}
		sums, path = append(sums, res[0].SHA256), res[0].File
	}
	if sums[0] != sums[1] {
		t.Errorf("two generations differ: %s, %s", sums[0], sums[1])
	}
	info, err := models.Inspect(path)
	if err != nil || info.Quantization != "Q4_0" || info.VocabSize != models.SmolLM2Vocab {
		t.Fatalf("inspect = %+v, %v; want Q4_0 with %d tokens", info, err, models.SmolLM2Vocab)
	}
	m, err := llama.LoadModelFromFile(path, llama.ModelParams{UseMmap: true, Progress: func(float32) {}})
	if err != nil {
		t.Fatal(err)
	}
	lctx, err := llama.NewContextWithModel(m, llama.NewContextParams(512, 512, 1, 1, ml.FlashAttentionDisabled, ""))
	if err != nil {
		t.Fatal(err)
	}
	if m.NumVocab() != models.SmolLM2Vocab {
		t.Errorf("llama.cpp sees %d tokens, want %d", m.NumVocab(), models.SmolLM2Vocab)
	}
	r := &runner{model: m, ctx: lctx}
	greedyReply := r.text(r.generate(t, chatPrompt, 30))
	if n := len(strings.Fields(greedyReply)); n < 20 {
		t.Errorf("greedy reply has %d words, want ~30: %q", n, greedyReply)
	}
	ids := r.sample(t, chatPrompt, 30, llama.SamplingParams{TopP: 1, TypicalP: 1, Temp: 1.5, PenaltyRepeat: 1, Seed: 1})
	for _, id := range ids {
		if p := m.TokenToPiece(id); !strings.HasPrefix(p, " ") && !strings.ContainsAny(p, ".,?") {
			t.Errorf("sampled token %d %q, want a word or punctuation (never padding)", id, p)
		}
	}
	if len(ids) != 30 {
		t.Errorf("sampled %d tokens before end of generation, want 30", len(ids))
	}
}

// BenchmarkLargeReply loads the SmolLM2-1.7B-shaped Q4_0 model (make
// models-large) and times a 16- and a 30-token greedy reply after the chat
// prompt at 1 and 2 threads, the prompt included (KV cache cleared every
// time), with flash attention as the model server runs it. It reports the
// load time (llama.cpp repacks Q4_0 weights for AVX2 while loading) and the
// process memory after the first reply: the file pages mmap maps, which two
// colors on the same file share, and the anonymous memory (the repacked
// weights, KV cache and buffers), which they never share.
// make bench-models-large, or go test ./models -run '^$' -bench LargeReply.
func BenchmarkLargeReply(b *testing.B) {
	path := filepath.Join(testenv.RepoRoot(b), "models", models.LargeV1)
	if _, err := os.Stat(path); err != nil {
		b.Fatalf("%v: run make models-large first", err)
	}
	start := time.Now()
	m, err := llama.LoadModelFromFile(path, llama.ModelParams{UseMmap: true, Progress: func(float32) {}})
	if err != nil {
		b.Fatal(err)
	}
	load := time.Since(start)
	for _, threads := range []int{1, 2} {
		lctx, err := llama.NewContextWithModel(m, llama.NewContextParams(512, 512, 1, threads, ml.FlashAttentionEnabled, ""))
		if err != nil {
			b.Fatal(err)
		}
		r := &runner{model: m, ctx: lctx}
		r.generate(b, chatPrompt, 4) // page in, allocate buffers
		mem := smapsRollup(b)
		for _, n := range []int{16, 30} {
			b.Run(fmt.Sprintf("threads=%d/tokens=%d", threads, n), func(b *testing.B) {
				for b.Loop() {
					if got := r.generate(b, chatPrompt, n); len(got) != n {
						b.Fatalf("generated %d tokens, want %d", len(got), n)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
				b.ReportMetric(load.Seconds(), "load-s")
				b.ReportMetric(float64(mem["Rss"])/(1<<20), "rss-MiB")
				b.ReportMetric(float64(mem["Anonymous"])/(1<<20), "anon-MiB")
			})
		}
	}
}

// smapsRollup reads this process's memory totals in bytes.
func smapsRollup(b *testing.B) map[string]int64 {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[2] == "kB" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			out[strings.TrimSuffix(f[0], ":")] = kb << 10
		}
	}
	return out
}
