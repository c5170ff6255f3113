package models

import (
	"fmt"
	"math"

	"github.com/ollama/ollama/fs/ggml"
)

// Spec describes one generated llama-architecture GGUF file.
type Spec struct {
	File    string // file name inside the models directory
	Name    string // general.name
	Version string // general.version
	Seed    uint64 // seeds every weight; another seed gives other replies
	Dim     int    // embedding length
	Layers  int    // block count
	Heads   int    // attention heads
	KVHeads int    // key/value heads (grouped-query attention)
	FFN     int    // feed-forward length
	Context int    // llama.context_length
	Quant   Quantization
	// Vocab pads the shared vocabulary with unused tokens up to this many
	// (0: no padding), so the embedding and output matrices, and the
	// logits computed every step, have the size of a real model's.
	Vocab int

	// Degenerate makes a model that loads and runs but whose every reply is
	// empty: every row of token_embd is the same all-ones vector and every
	// layer's attn_output and ffn_down are zero, so the final hidden state is
	// the same for every prompt and position (all ones after output_norm);
	// output.weight is zero except the <|im_end|> row, which is all ones. So
	// <|im_end|> gets logit Dim (64) and every other token 0: greedy and
	// sampled decoding alike emit end-of-generation as the first token, and
	// a warm-up gate that wants a non-empty reply rejects the model.
	Degenerate bool
	// Noise adds uniform noise to every learned weight (not to the norms,
	// the bias dimension or the output layer's penalty rows), with a
	// standard deviation of Noise per mille of the weights' own, drawn from
	// streams seeded by NoiseSeed: the same model slightly tuned.
	Noise     int
	NoiseSeed uint64
	// ShuffleOutput permutes the output layer's rows among every token but
	// the control ones, by ShuffleSeed: word tokens get the rows that kept
	// sub-word pieces and bytes out of replies, and those get the words'
	// rows. The model still loads, never ends a reply at once and answers
	// as fast (pieces and bytes instead of words), so readiness and warm-up
	// pass; only scoring text shows it is broken.
	ShuffleOutput bool
	ShuffleSeed   uint64
	// Truncate keeps only the first half of the file's bytes: the header and
	// metadata stay whole, the tensor data ends early, so Inspect returns
	// ErrTruncated and llama.cpp refuses to load it.
	Truncate bool

	// SHA256 is the hex sha256 the generated file must have.
	SHA256 string
}

// Quantization is the type of a generated model's weight matrices; norm
// weights are always F32, as in llama.cpp's own quantized files.
type Quantization int

// The matrix types the generator writes.
const (
	F32  Quantization = iota // 4 bytes a weight: the tiny unit-test models
	Q8_0                     // an f16 scale and 32 int8 per block of 32: the demo model
	Q4_0                     // an f16 scale and 32 4-bit values per block of 32: the large model
)

// Generated model file names.
const (
	Tiny            = "tiny.gguf"
	DemoV1          = "demo-v1.gguf"
	DemoV2          = "demo-v2.gguf"
	DemoV2Tuned     = "demo-v2-tuned.gguf"
	DemoV2Regressed = "demo-v2-regressed.gguf"
	DemoV2Slow      = "demo-v2-slow.gguf"
	BrokenTruncated = "broken-truncated.gguf"
	BrokenDegen     = "broken-degenerate.gguf"
	LargeV1         = "smollm2-shaped-v1.gguf"
	LargeV2         = "smollm2-shaped-v2.gguf"
	LargeV2Tuned    = "smollm2-shaped-v2-tuned.gguf"
)

// tinySpec is the shape of the unit-test models: it loads in milliseconds.
func tinySpec(file, name string, seed uint64) Spec {
	return Spec{File: file, Name: name, Version: "v1", Seed: seed,
		Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, FFN: 192, Context: 4096}
}

// demoSpec is the shape of the demo model: Q8_0, ~113M parameters, sized so
// that a 30-token reply takes a noticeable fraction of a second on one core
// and two colors under load really compete for CPU.
func demoSpec(file, version string, seed uint64) Spec {
	return Spec{File: file, Name: "demo", Version: version, Seed: seed,
		Dim: 768, Layers: 16, Heads: 12, KVHeads: 4, FFN: 2048, Context: 4096, Quant: Q8_0}
}

// SmolLM2Vocab is SmolLM2's vocabulary size, which the large model's
// padded vocabulary matches.
const SmolLM2Vocab = 49152

// largeSpec has SmolLM2-1.7B's dimensions (llama architecture, embedding
// 2048, 24 layers, 32 heads and 32 key/value heads, feed-forward 8192,
// context 8192) in Q4_0: ~1.7B parameters, a ~1 GB file, the weight class
// of the original design's SmolLM2-1.7B-Instruct Q4_K_M (1.0 GB). It keeps
// the generated vocabulary (its words are the only tokens it emits), padded
// with unused tokens to SmolLM2's 49152, so the embedding and output
// matrices and the per-token logits have SmolLM2's size too. Unlike
// SmolLM2 it has a separate output matrix (which keeps non-word tokens out
// of replies, see outputRows) and every matrix is Q4_0, where llama.cpp's
// quantizer keeps the output in Q6_K.
func largeSpec(file, version string, seed uint64) Spec {
	return Spec{File: file, Name: "smollm2-shaped", Version: version, Seed: seed,
		Dim: 2048, Layers: 24, Heads: 32, KVHeads: 32, FFN: 8192, Context: 8192, Quant: Q4_0, Vocab: SmolLM2Vocab}
}

// Catalog lists every file `zdml models generate` makes, with the sha256
// each must have:
//
//   - tiny.gguf: dim 64, 2 layers, F32, for unit tests.
//   - demo-v1.gguf, demo-v2.gguf: the demo model in two versions; the same
//     shape with different seeds, so the same prompt gets different replies.
//   - demo-v2-tuned.gguf: demo-v1's weights plus 5 % noise (Spec.Noise):
//     different greedy replies, nearly the same next-token distributions,
//     so a quality gate against demo-v1 passes.
//   - demo-v2-regressed.gguf: demo-v1 with its output layer shuffled
//     (Spec.ShuffleOutput): it loads, is ready, answers a warm-up prompt
//     just as fast (with sub-word pieces instead of words), and fails a
//     quality gate by orders of magnitude.
//   - demo-v2-slow.gguf: the demo shape with a feed-forward width of 4096:
//     the same vocabulary, slower per token, within the warm-up's budget.
//   - broken-truncated.gguf: the first half of a valid tiny-sized file
//     (Spec.Truncate). The header and metadata are intact and the tensor
//     data is cut short, so Inspect and llama.cpp both refuse it: the fault
//     of an interrupted copy.
//   - broken-degenerate.gguf: a tiny-sized file that loads and passes every
//     header check but replies with nothing (Spec.Degenerate): the fault
//     only a warm-up inference catches.
//
// Every model uses the same SentencePiece vocabulary (see newVocab) and only
// ever emits whole English words and . , ? so replies are readable valid
// UTF-8, even when sampled at high temperature (see outputRows).
func Catalog() []Spec {
	truncated := tinySpec(BrokenTruncated, "broken-truncated", 3)
	truncated.Truncate = true
	degenerate := tinySpec(BrokenDegen, "broken-degenerate", 4)
	degenerate.Degenerate = true
	tuned := demoSpec(DemoV2Tuned, "v2-tuned", 101) // v1's seed: v1's weights
	tuned.Noise, tuned.NoiseSeed = tunedNoise, 1
	regressed := demoSpec(DemoV2Regressed, "v2-regressed", 101)
	regressed.ShuffleOutput, regressed.ShuffleSeed = true, 1
	slow := demoSpec(DemoV2Slow, "v2-slow", 404)
	slow.FFN = slowFFN
	specs := []Spec{
		tinySpec(Tiny, "tiny", 1),
		demoSpec(DemoV1, "v1", 101),
		demoSpec(DemoV2, "v2", 202),
		tuned,
		regressed,
		slow,
		truncated,
		degenerate,
	}
	for i := range specs {
		specs[i].SHA256 = pinnedSHA256[specs[i].File]
	}
	return specs
}

// tunedNoise and slowFFN shape two demo variants (see Catalog).
//
// Measured on the default held-out text (quality.DefaultHeldOut, 384 tokens)
// against demo-v1, on real model servers: noise of 1 %, 2 %, 5 % and 10 %
// gave a perplexity ratio of 0.988, 0.984, 0.991 and 0.950 and a mean KL
// divergence (top 20 plus a tail bucket) of 0.0002, 0.0006, 0.0042 and
// 0.0185; 5 % changes the greedy replies but passes a gate of 1.10 and 0.05
// by far. A feed-forward width of 4096 instead of 2048 makes a token take
// ~1.7x as long (make bench-models measures it beside demo-v1).
const (
	tunedNoise = 50 // per mille
	slowFFN    = 4096
)

// LargeCatalog lists the models `zdml models generate --large` (make
// models-large) makes: smollm2-shaped-v1.gguf and -v2.gguf, the large model
// (see largeSpec) in two versions with different seeds, and
// smollm2-shaped-v2-tuned.gguf, v1's weights plus the tuned demo's noise
// (a quality gate against v1 passes, as for demo-v2-tuned); about 1 GB
// each and a minute or so to generate. They are not part of Catalog, which
// every make test generates.
func LargeCatalog() []Spec {
	tuned := largeSpec(LargeV2Tuned, "v2-tuned", 1701) // v1's seed: v1's weights
	tuned.Noise, tuned.NoiseSeed = tunedNoise, 1
	specs := []Spec{largeSpec(LargeV1, "v1", 1701), largeSpec(LargeV2, "v2", 1702), tuned}
	for i := range specs {
		specs[i].SHA256 = pinnedSHA256[specs[i].File]
	}
	return specs
}

// ExpectedSHA256 returns the sha256 (hex) that the generated file named file
// has on every machine, for desired.yaml files to pin.
func ExpectedSHA256(file string) (string, bool) {
	sum, ok := pinnedSHA256[file]
	return sum, ok
}

// matType is the type of the weight matrices.
func (s Spec) matType() tensorType {
	switch s.Quant {
	case Q8_0:
		return typeQ8_0
	case Q4_0:
		return typeQ4_0
	}
	return typeF32
}

// fileTypeQ4_0 is llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_0, which ollama's ggml
// package does not export.
const fileTypeQ4_0 ggml.FileType = 2

func (s Spec) fileType() ggml.FileType {
	switch s.Quant {
	case Q8_0:
		return ggml.FileTypeQ8_0
	case Q4_0:
		return fileTypeQ4_0
	}
	return ggml.FileTypeF32
}

func (s Spec) headDim() int { return s.Dim / s.Heads }
func (s Spec) kvDim() int   { return s.headDim() * s.KVHeads }

// validate rejects shapes llama.cpp or the quantized layouts cannot hold.
func (s Spec) validate() error {
	switch {
	case s.Dim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.FFN <= 0:
		return fmt.Errorf("spec %s: dimensions must be positive", s.File)
	case s.Dim%s.Heads != 0 || s.Heads%s.KVHeads != 0:
		return fmt.Errorf("spec %s: dim %d, heads %d, kv heads %d do not divide", s.File, s.Dim, s.Heads, s.KVHeads)
	case s.Quant != F32 && (s.Dim%qBlock != 0 || s.FFN%qBlock != 0):
		return fmt.Errorf("spec %s: quantized matrices need dim and ffn divisible by %d", s.File, qBlock)
	case s.Quant < F32 || s.Quant > Q4_0:
		return fmt.Errorf("spec %s: unknown quantization %d", s.File, s.Quant)
	}
	return nil
}

// std is the weight scale for a matrix with fan-in n: outputs keep the
// magnitude of their inputs.
func std(n int) float64 { return 1 / math.Sqrt(float64(n)) }
