package modelserver

import (
	"fmt"
	"regexp"
	"strings"

	gguf "github.com/gpustack/gguf-parser-go"
)

// Template renders a conversation into the prompt text the model was trained
// on. A GGUF's tokenizer.chat_template is Jinja, which we do not run: ChatML
// (SmolLM2, Qwen and many others) is recognised and rendered natively; any
// other template gets a plain-text transcript, a clear fallback that every
// model can continue, and the server logs that it did so.
type Template struct {
	ChatML bool
	// DefaultSystem is the system message the template adds when the
	// conversation has none (SmolLM2's "You are a helpful AI assistant...").
	DefaultSystem string
}

var defaultSystemRe = regexp.MustCompile(`<\|im_start\|>system(?:\n|\\n)(.*?)<\|im_end\|>`)

// ParseTemplate recognises a tokenizer.chat_template.
func ParseTemplate(jinja string) Template {
	if !strings.Contains(jinja, "<|im_start|>") || !strings.Contains(jinja, "<|im_end|>") {
		return Template{}
	}
	t := Template{ChatML: true}
	if m := defaultSystemRe.FindStringSubmatch(jinja); m != nil {
		t.DefaultSystem = m[1]
	}
	return t
}

// ReadTemplate reads the chat template of the GGUF file at path.
func ReadTemplate(path string) (Template, error) {
	f, err := gguf.ParseGGUFFile(path, gguf.SkipLargeMetadata())
	if err != nil {
		return Template{}, fmt.Errorf("read chat template: %w", err)
	}
	kv, ok := f.Header.MetadataKV.Get("tokenizer.chat_template")
	if !ok || kv.ValueType != gguf.GGUFMetadataValueTypeString {
		return Template{}, nil
	}
	return ParseTemplate(kv.ValueString()), nil
}

// Name says which format the template renders, for logs and /health/deep.
func (t Template) Name() string {
	if t.ChatML {
		return "chatml"
	}
	return "plain-fallback"
}

// Render renders msgs and opens the assistant's turn.
func (t Template) Render(msgs []Message) string {
	var b strings.Builder
	for _, m := range t.withSystem(msgs) {
		b.WriteString(t.turn(m))
	}
	b.WriteString(t.assistantPrefix())
	return b.String()
}

// turn renders one message.
func (t Template) turn(m Message) string {
	if t.ChatML {
		return "<|im_start|>" + m.Role + "\n" + m.Content + "<|im_end|>\n"
	}
	return roleTitle(m.Role) + ": " + m.Content + "\n"
}

func (t Template) assistantPrefix() string {
	if t.ChatML {
		return "<|im_start|>assistant\n"
	}
	return "Assistant:"
}

func (t Template) withSystem(msgs []Message) []Message {
	if t.DefaultSystem == "" || (len(msgs) > 0 && msgs[0].Role == "system") {
		return msgs
	}
	return append([]Message{{Role: "system", Content: t.DefaultSystem}}, msgs...)
}

func roleTitle(role string) string {
	if role == "" {
		return ""
	}
	return strings.ToUpper(role[:1]) + role[1:]
}
