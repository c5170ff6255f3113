package models

import (
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"
)

//go:embed words.txt
var wordList string

// Token types stored in tokenizer.ggml.token_type (llama.cpp's
// llama_token_type). Without them llama.cpp treats <|im_start|> as text.
const (
	tokenNormal  int32 = 1
	tokenUnknown int32 = 2
	tokenControl int32 = 3
	tokenUnused  int32 = 5
	tokenByte    int32 = 6
)

// Token ids every generated model shares. The chat tokens follow SmolLM2's
// ChatML, so a server written for SmolLM2 serves the generated models too.
const (
	TokenUnknown = 0 // <unk>
	TokenBOS     = 1 // <s>, not added to prompts (add_bos_token=false)
	TokenEOS     = 2 // </s>
	TokenIMStart = 3 // <|im_start|>
	TokenIMEnd   = 4 // <|im_end|>: the EOS token, end of every turn
)

// spaceMarker is SentencePiece's visible space (U+2581), which starts every
// piece that follows a space.
const spaceMarker = "▁"

// vocab is a SentencePiece vocabulary: pieces, merge scores and types.
// words holds the ids of the whole-word pieces "▁word" and of a few
// punctuation marks: the only tokens the generated models ever emit, so
// their replies read as words and are always valid UTF-8.
type vocab struct {
	tokens []string
	scores []float32
	types  []int32
	index  map[string]int
	words  []int
	emit   []bool // emit[id] is true for the ids in words
}

// newVocab builds the vocabulary in a fixed order: specials, the 256 byte
// fallbacks, single characters, then every prefix of every word variant.
// Prefix closure matters: SentencePiece merges adjacent pieces pairwise, so a
// word becomes one token only if each of its prefixes is a piece too.
func newVocab() *vocab {
	v := &vocab{index: map[string]int{}}
	for _, s := range []string{"<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"} {
		v.add(s, 0, tokenControl)
	}
	v.types[TokenUnknown] = tokenUnknown
	for b := 0; b < 256; b++ {
		v.add(fmt.Sprintf("<0x%02X>", b), 0, tokenByte)
	}
	v.addPiece(spaceMarker)
	v.addPiece("\n")
	for c := byte('!'); c <= '~'; c++ {
		v.addPiece(string(c))
	}
	for _, w := range words() {
		for _, variant := range []string{spaceMarker + w, w, spaceMarker + capitalize(w), capitalize(w)} {
			v.addPrefixes(variant)
		}
	}
	for _, w := range words() {
		v.words = append(v.words, v.index[spaceMarker+w])
	}
	for _, p := range []string{".", ",", "?"} {
		v.words = append(v.words, v.index[p])
	}
	v.emit = make([]bool, len(v.tokens))
	for _, id := range v.words {
		v.emit[id] = true
	}
	return v
}

// padded returns a copy of v with unused tokens "<unused_N>" appended up to
// n tokens. llama.cpp keeps unused tokens out of its special-token cache, so
// they cost nothing when tokenizing; they can never be produced from text
// (their prefixes are not pieces) and are never emitted (emit is false).
// index is shared with v: it is only read once a vocabulary is built.
func (v *vocab) padded(n int) (*vocab, error) {
	if n < len(v.tokens) {
		return nil, fmt.Errorf("vocabulary of %d tokens cannot be padded to %d", len(v.tokens), n)
	}
	p := &vocab{index: v.index, words: v.words,
		tokens: make([]string, len(v.tokens), n), scores: make([]float32, len(v.tokens), n),
		types: make([]int32, len(v.tokens), n), emit: make([]bool, n)}
	copy(p.tokens, v.tokens)
	copy(p.scores, v.scores)
	copy(p.types, v.types)
	copy(p.emit, v.emit)
	for i := len(v.tokens); i < n; i++ {
		p.tokens = append(p.tokens, fmt.Sprintf("<unused_%d>", i))
		p.scores = append(p.scores, 0)
		p.types = append(p.types, tokenUnused)
	}
	return p, nil
}

// movable reports, per token, whether a shuffled output layer may move its
// row (Spec.ShuffleOutput): every token but the control ones, whose rows
// keep end-of-generation out of replies.
func (v *vocab) movable() []bool {
	out := make([]bool, len(v.tokens))
	for id, typ := range v.types {
		out[id] = typ != tokenControl && typ != tokenUnknown
	}
	return out
}

// add appends a token unless it is already present.
func (v *vocab) add(s string, score float32, typ int32) {
	if _, ok := v.index[s]; ok {
		return
	}
	v.index[s] = len(v.tokens)
	v.tokens = append(v.tokens, s)
	v.scores = append(v.scores, score)
	v.types = append(v.types, typ)
}

// addPiece adds a normal piece scored by its length, so SentencePiece
// prefers the longest merge.
func (v *vocab) addPiece(s string) {
	v.add(s, float32(utf8.RuneCountInString(s)), tokenNormal)
}

func (v *vocab) addPrefixes(s string) {
	for i := range s {
		if i > 0 {
			v.addPiece(s[:i])
		}
	}
	v.addPiece(s)
}

// words returns the embedded word list without comments or blank lines.
func words() []string {
	var out []string
	for _, line := range strings.Split(wordList, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func capitalize(s string) string {
	return strings.ToUpper(s[:1]) + s[1:]
}
