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
	Quant   bool   // Q8_0 matrices if true, F32 otherwise

	// Degenerate makes a model that loads and runs but whose every reply is
	// empty: every row of token_embd is the same all-ones vector and every
	// layer's attn_output and ffn_down are zero, so the final hidden state is
	// the same for every prompt and position (all ones after output_norm);
	// output.weight is zero except the <|im_end|> row, which is all ones. So
	// <|im_end|> gets logit Dim (64) and every other token 0: greedy and
	// sampled decoding alike emit end-of-generation as the first token, and
	// a warm-up gate that wants a non-empty reply rejects the model.
	Degenerate bool
	// Truncate keeps only the first half of the file's bytes: the header and
	// metadata stay whole, the tensor data ends early, so Inspect returns
	// ErrTruncated and llama.cpp refuses to load it.
	Truncate bool

	// SHA256 is the hex sha256 the generated file must have.
	SHA256 string
}

// Generated model file names.
const (
	Tiny            = "tiny.gguf"
	DemoV1          = "demo-v1.gguf"
	DemoV2          = "demo-v2.gguf"
	BrokenTruncated = "broken-truncated.gguf"
	BrokenDegen     = "broken-degenerate.gguf"
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
		Dim: 768, Layers: 16, Heads: 12, KVHeads: 4, FFN: 2048, Context: 4096, Quant: true}
}

// Catalog lists every file `zdml models generate` makes, with the sha256
// each must have:
//
//   - tiny.gguf: dim 64, 2 layers, F32, for unit tests.
//   - demo-v1.gguf, demo-v2.gguf: the demo model in two versions; the same
//     shape with different seeds, so the same prompt gets different replies.
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
	specs := []Spec{
		tinySpec(Tiny, "tiny", 1),
		demoSpec(DemoV1, "v1", 101),
		demoSpec(DemoV2, "v2", 202),
		truncated,
		degenerate,
	}
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
	if s.Quant {
		return typeQ8_0
	}
	return typeF32
}

func (s Spec) fileType() ggml.FileType {
	if s.Quant {
		return ggml.FileTypeQ8_0
	}
	return ggml.FileTypeF32
}

func (s Spec) headDim() int { return s.Dim / s.Heads }
func (s Spec) kvDim() int   { return s.headDim() * s.KVHeads }

// validate rejects shapes llama.cpp or the Q8_0 layout cannot hold.
func (s Spec) validate() error {
	switch {
	case s.Dim <= 0 || s.Layers <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.FFN <= 0:
		return fmt.Errorf("spec %s: dimensions must be positive", s.File)
	case s.Dim%s.Heads != 0 || s.Heads%s.KVHeads != 0:
		return fmt.Errorf("spec %s: dim %d, heads %d, kv heads %d do not divide", s.File, s.Dim, s.Heads, s.KVHeads)
	case s.Quant && (s.Dim%q8Block != 0 || s.FFN%q8Block != 0):
		return fmt.Errorf("spec %s: Q8_0 needs dim and ffn divisible by %d", s.File, q8Block)
	}
	return nil
}

// std is the weight scale for a matrix with fan-in n: outputs keep the
// magnitude of their inputs.
func std(n int) float64 { return 1 / math.Sqrt(float64(n)) }
