package models

import (
	"fmt"
	"os"

	"github.com/ollama/ollama/fs/ggml"
)

// ChatTemplate is SmolLM2-Instruct's ChatML template, stored as
// tokenizer.chat_template in every generated model.
const ChatTemplate = "{% for message in messages %}" +
	"{% if loop.first and messages[0]['role'] != 'system' %}" +
	"{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}" +
	"{% endif %}" +
	"{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
	"{% endfor %}" +
	"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

// writeGGUF writes the model s describes to f.
func writeGGUF(f *os.File, s Spec, v *vocab) error {
	if err := s.validate(); err != nil {
		return err
	}
	if err := ggml.WriteGGUF(f, metadata(s, v), tensors(s, v)); err != nil {
		return fmt.Errorf("write gguf %s: %w", s.File, err)
	}
	return nil
}

// metadata is the GGUF key-value section. WriteGGUF writes keys sorted, so
// map order never reaches the file.
func metadata(s Spec, v *vocab) ggml.KV {
	kv := ggml.KV{
		"general.architecture":          "llama",
		"general.type":                  "model",
		"general.name":                  s.Name,
		"general.version":               s.Version,
		"general.file_type":             s.fileType(),
		"general.alignment":             uint32(32),
		"llama.vocab_size":              uint32(len(v.tokens)),
		"llama.context_length":          uint32(s.Context),
		"llama.embedding_length":        uint32(s.Dim),
		"llama.block_count":             uint32(s.Layers),
		"llama.feed_forward_length":     uint32(s.FFN),
		"llama.attention.head_count":    uint32(s.Heads),
		"llama.attention.head_count_kv": uint32(s.KVHeads),
		"llama.rope.dimension_count":    uint32(s.headDim()),
		"llama.rope.freq_base":          float32(10000),

		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),

		"tokenizer.ggml.model":            "llama",
		"tokenizer.ggml.tokens":           v.tokens,
		"tokenizer.ggml.scores":           v.scores,
		"tokenizer.ggml.token_type":       v.types,
		"tokenizer.ggml.unknown_token_id": uint32(TokenUnknown),
		"tokenizer.ggml.bos_token_id":     uint32(TokenBOS),
		"tokenizer.ggml.eos_token_id":     uint32(TokenIMEnd),
		"tokenizer.ggml.padding_token_id": uint32(TokenEOS),
		"tokenizer.ggml.add_bos_token":    false,
		"tokenizer.ggml.add_eos_token":    false,
		"tokenizer.ggml.add_space_prefix": false,
		"tokenizer.chat_template":         ChatTemplate,
	}
	if s.Quant != F32 {
		kv["general.quantization_version"] = uint32(2)
	}
	return kv
}

// outputPenalty is the output weight that keeps non-word tokens out of
// replies; see outputRows.
const outputPenalty = 64

// tensors lists the model's tensors in ggml shape order [cols, rows].
func tensors(s Spec, v *vocab) []*ggml.Tensor {
	mat := s.matType()
	n := len(v.tokens)
	var ts []*ggml.Tensor
	add := func(name string, typ tensorType, cols, rows int, fill rowFunc) {
		ts = append(ts, &ggml.Tensor{
			Name: name, Kind: uint32(typ), Shape: shape(cols, rows),
			WriterTo: &weights{typ: typ, cols: cols, rows: rows, seed: tensorSeed(s.Seed, name), fill: fill},
		})
	}
	// random is the weights of a learned matrix: noise on top for a tuned
	// variant (Spec.Noise), from a stream of its own per tensor.
	random := func(name string, std float64) rowFunc {
		return noisyRows(randomRows(std), tensorSeed(s.Seed^noiseSalt^s.NoiseSeed, name), s.Noise)
	}
	embd := withBias(random("token_embd.weight", 1))
	output := outputRows(random("output.weight", std(s.Dim)), v.emit, outputPenalty)
	if s.ShuffleOutput {
		output = shuffledRows(output, s.Dim, tensorSeed(s.Seed, "output.weight"), s.ShuffleSeed, v.movable())
	}
	attnOut := func(p string) rowFunc { return skipBiasRow(random(p+"attn_output.weight", std(s.Dim))) }
	ffnDown := func(p string) rowFunc { return skipBiasRow(random(p+"ffn_down.weight", std(s.FFN))) }
	if s.Degenerate {
		embd, output = constRows(1), oneRow(TokenIMEnd, 1)
		attnOut = func(string) rowFunc { return constRows(0) }
		ffnDown = attnOut
	}
	add("token_embd.weight", mat, s.Dim, n, embd)
	add("output_norm.weight", typeF32, s.Dim, 1, constRows(1))
	add("output.weight", mat, s.Dim, n, output)
	for l := 0; l < s.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", typeF32, s.Dim, 1, constRows(1))
		add(p+"attn_q.weight", mat, s.Dim, s.Dim, random(p+"attn_q.weight", std(s.Dim)))
		add(p+"attn_k.weight", mat, s.Dim, s.kvDim(), random(p+"attn_k.weight", std(s.Dim)))
		add(p+"attn_v.weight", mat, s.Dim, s.kvDim(), random(p+"attn_v.weight", std(s.Dim)))
		add(p+"attn_output.weight", mat, s.Dim, s.Dim, attnOut(p))
		add(p+"ffn_norm.weight", typeF32, s.Dim, 1, constRows(1))
		add(p+"ffn_gate.weight", mat, s.Dim, s.FFN, random(p+"ffn_gate.weight", std(s.Dim)))
		add(p+"ffn_up.weight", mat, s.Dim, s.FFN, random(p+"ffn_up.weight", std(s.Dim)))
		add(p+"ffn_down.weight", mat, s.FFN, s.Dim, ffnDown(p))
	}
	return ts
}

// shape is a ggml shape: one dimension for a vector, else [cols, rows].
func shape(cols, rows int) []uint64 {
	if rows == 1 {
		return []uint64{uint64(cols)}
	}
	return []uint64{uint64(cols), uint64(rows)}
}
