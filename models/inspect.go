package models

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	gguf "github.com/gpustack/gguf-parser-go"
)

// Errors Inspect wraps, for callers that branch on the kind of bad file.
var (
	// ErrNotGGUF means the file does not start with a GGUF header.
	ErrNotGGUF = errors.New("not a GGUF file")
	// ErrTruncated means the file ends before its header or tensor data do:
	// an interrupted download or copy.
	ErrTruncated = errors.New("truncated GGUF file")
)

// Info is what the reconciler's pre-flight and the model server's
// /health/deep report about a model file.
type Info struct {
	Name           string `json:"name,omitempty"`    // general.name
	Version        string `json:"version,omitempty"` // general.version
	Architecture   string `json:"architecture"`      // e.g. llama
	Parameters     uint64 `json:"parameters"`        // number of weights
	Quantization   string `json:"quantization"`      // file type, e.g. Q8_0, Q4_K_M, F32
	ContextLength  uint64 `json:"context_length"`    // trained context length
	EmbeddingSize  uint64 `json:"embedding_length"`
	Layers         uint64 `json:"block_count"`
	TokenizerModel string `json:"tokenizer_model"` // llama (SentencePiece) or gpt2 (BPE)
	VocabSize      uint64 `json:"vocab_size"`
	HasChatTmpl    bool   `json:"has_chat_template"`
	FileSize       int64  `json:"file_size"` // bytes
}

// Inspect reads the GGUF header of the file at path, without cgo and without
// reading tensor data, and checks that the file is long enough to hold every
// tensor it declares. A truncated file fails with ErrTruncated and a file of
// another format with ErrNotGGUF.
func Inspect(path string) (Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Info{}, fmt.Errorf("inspect: %w", err)
	}
	if st.IsDir() {
		return Info{}, fmt.Errorf("inspect %s: is a directory", path)
	}
	f, err := gguf.ParseGGUFFile(path, gguf.SkipLargeMetadata())
	if err != nil {
		return Info{}, fmt.Errorf("inspect %s: %w", path, classify(err))
	}
	return infoOf(f, st.Size()), nil
}

// classify maps the parser's errors onto ErrNotGGUF and ErrTruncated.
func classify(err error) error {
	switch {
	case errors.Is(err, gguf.ErrGGUFFileInvalidFormat):
		return fmt.Errorf("%w: bad magic number", ErrNotGGUF)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the header ends early: %v", ErrTruncated, err)
	case strings.Contains(err.Error(), "remaining bytes"):
		// A count or length in the header points past the end of the file.
		return fmt.Errorf("%w: the header ends early: %v", ErrTruncated, err)
	case strings.Contains(err.Error(), "tensor data needs"):
		// The parser's message blames a block layout; for a file that is
		// otherwise well formed the usual cause is a cut-short copy.
		return fmt.Errorf("%w: %v", ErrTruncated, strings.SplitN(err.Error(), ":", 2)[0])
	}
	return err
}

func infoOf(f *gguf.GGUFFile, size int64) Info {
	m, a, t := f.Metadata(), f.Architecture(), f.Tokenizer()
	info := Info{
		Name:           m.Name,
		Architecture:   m.Architecture,
		Parameters:     uint64(m.Parameters),
		Quantization:   m.FileTypeDescriptor,
		ContextLength:  a.MaximumContextLength,
		EmbeddingSize:  a.EmbeddingLength,
		Layers:         a.BlockCount,
		TokenizerModel: t.Model,
		VocabSize:      t.TokensLength,
		FileSize:       size,
	}
	if v, ok := f.Header.MetadataKV.Get("general.version"); ok && v.ValueType == gguf.GGUFMetadataValueTypeString {
		info.Version = v.ValueString()
	}
	_, info.HasChatTmpl = f.Header.MetadataKV.Get("tokenizer.chat_template")
	return info
}
