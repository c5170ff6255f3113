package llm

import "unicode/utf8"

// textBuffer turns token pieces into valid UTF-8. Byte-fallback tokens can
// end in the middle of a character, so an incomplete tail waits for the next
// piece; bytes that can never form a character (random-weight models emit
// plenty) become U+FFFD instead of reaching a client as invalid UTF-8.
type textBuffer struct {
	pending []byte
}

// add appends a piece and returns the text that is complete.
func (b *textBuffer) add(piece string) string {
	b.pending = append(b.pending, piece...)
	var out []byte
	p, invalid := b.pending, false
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(p) {
				break // an incomplete character: wait for more bytes
			}
			if !invalid { // one U+FFFD per run of invalid bytes
				out = utf8.AppendRune(out, utf8.RuneError)
			}
			p, invalid = p[1:], true
			continue
		}
		out, p, invalid = append(out, p[:size]...), p[size:], false
	}
	b.pending = append(b.pending[:0], p...)
	return string(out)
}

// flush returns what is left at the end of a generation.
func (b *textBuffer) flush() string {
	if len(b.pending) == 0 {
		return ""
	}
	b.pending = b.pending[:0]
	return string(utf8.AppendRune(nil, utf8.RuneError))
}
