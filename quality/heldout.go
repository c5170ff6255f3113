package quality

import (
	_ "embed"
	"strings"
	"unicode/utf8"
)

// DefaultHeldOut is the held-out text scored when a spec names none: plain
// English, four paragraphs, 384 tokens with the generated models'
// vocabulary, written for this project (no model has seen it).
//
//go:embed heldout.txt
var DefaultHeldOut string

// maxSegmentBytes bounds one scoring request: far below the server's
// default limit of 1,024 tokens, short enough that a request on the
// active color holds its slot for a short while, and that the gate looks
// at the evidence every few dozen tokens (about 50 of the demo model's).
const maxSegmentBytes = 256

// segmentVersion names how texts are split, in the cache's keys: a
// reference scored in other segments is not reused.
const segmentVersion = "segments/256"

// segments splits a held-out text into the pieces scored one request at a
// time: paragraphs (blank-line separated), and a paragraph longer than
// maxSegmentBytes at sentence ends or spaces. Every piece is scored on its
// own, so its first token is context only.
func segments(text string) []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		p = strings.TrimSpace(p)
		for len(p) > maxSegmentBytes {
			cut := cutAt(p[:maxSegmentBytes])
			out = append(out, strings.TrimSpace(p[:cut]))
			p = strings.TrimSpace(p[cut:])
		}
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// cutAt is where to end a piece of s: after its last sentence end, else
// at its last space, else at its end (keeping UTF-8 whole).
func cutAt(s string) int {
	if i := strings.LastIndexAny(s, ".!?"); i > len(s)/2 {
		return i + 1
	}
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		return i
	}
	i := len(s)
	for i > 1 && !utf8.RuneStart(s[i-1]) {
		i--
	}
	return i - 1 // before the last character, which may be cut short
}
