package modelserver

import (
	"path/filepath"
	"testing"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

const smolTemplate = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

func TestTemplateRender(t *testing.T) {
	conv := []Message{{"user", "Hi"}, {"assistant", "Hello!"}, {"user", "Bye"}}
	tests := []struct {
		name  string
		jinja string
		msgs  []Message
		want  string
	}{
		{"SmolLM2 adds its default system message", smolTemplate, conv,
			"<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
				"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"},
		{"a given system message wins", smolTemplate, []Message{{"system", "Be terse."}, {"user", "Hi"}},
			"<|im_start|>system\nBe terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
		{"plain ChatML without a default", "{{'<|im_start|>' + m + '<|im_end|>'}}", []Message{{"user", "Hi"}},
			"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"},
		{"Llama-3 style falls back to a transcript", "{{ '<|start_header_id|>' + role + '<|end_header_id|>' }}", conv,
			"User: Hi\nAssistant: Hello!\nUser: Bye\nAssistant:"},
		{"no template falls back too", "", []Message{{"user", "Hi"}}, "User: Hi\nAssistant:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseTemplate(tt.jinja).Render(tt.msgs); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReadTemplateFromGeneratedModel(t *testing.T) {
	tmpl, err := ReadTemplate(testenv.Model(t, "tiny.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.ChatML || tmpl.DefaultSystem == "" {
		t.Errorf("got %+v, want ChatML with a default system message", tmpl)
	}
	if _, err := ReadTemplate(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Errorf("missing file: no error")
	}
}
