package llm

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextBuffer(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string
		want   []string // what each add returns
		flush  string
	}{
		{"ascii", []string{"Hel", "lo"}, []string{"Hel", "lo"}, ""},
		{"a character split over byte tokens", []string{"\xe2", "\x82", "\xac!"}, []string{"", "", "€!"}, ""},
		{"an emoji in two halves", []string{"a\xf0\x9f", "\x98\x80"}, []string{"a", "😀"}, ""},
		{"stray continuation bytes become one U+FFFD", []string{"x\x80\x81y"}, []string{"x\uFFFDy"}, ""},
		{"a broken sequence", []string{"\xe2\x82", "z"}, []string{"", "\uFFFDz"}, ""},
		{"an unfinished tail at the end", []string{"ok\xe2\x82"}, []string{"ok"}, "\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b textBuffer
			for i, p := range tt.pieces {
				got := b.add(p)
				if got != tt.want[i] || !utf8.ValidString(got) {
					t.Errorf("add(%q) = %q, want %q", p, got, tt.want[i])
				}
			}
			if got := b.flush(); got != tt.flush {
				t.Errorf("flush = %q, want %q", got, tt.flush)
			}
		})
	}
}

func TestTextBufferRandomBytesStayValid(t *testing.T) {
	var b textBuffer
	var out strings.Builder
	for i := range 5000 {
		out.WriteString(b.add(string([]byte{byte(i * 131), byte(i * 7)})))
	}
	out.WriteString(b.flush())
	if !utf8.ValidString(out.String()) {
		t.Fatal("invalid UTF-8 out of random bytes")
	}
}
