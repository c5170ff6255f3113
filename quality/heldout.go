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
// at the evidence every few dozen tokens (about 40 of the demo model's).
const maxSegmentBytes = 160

// segmentVersion names how texts are split, in the cache's keys: a
// reference scored in other segments is not reused.
const segmentVersion = "segments/160"

// segments splits a held-out text into the pieces scored one request at a
// time: paragraphs (blank-line separated), a paragraph longer than
// maxSegmentBytes cut at sentence ends or spaces, and a piece shorter than
// a quarter of that joined to the one before it (after it, for the
// first), so that no piece is a token or two. Every piece is scored on its
// own, so its first token is context only.
func segments(text string) []string {
	const least = maxSegmentBytes / 4
	var out []string
	add := func(piece, sep string) {
		switch {
		case len(out) > 0 && len(piece) < least:
			out[len(out)-1] += sep + piece
		case len(out) > 0 && len(out[len(out)-1]) < least:
			out[len(out)-1] += sep + piece
		default:
			out = append(out, piece)
		}
	}
	for _, p := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n\n") {
		p = strings.TrimSpace(p)
		sep := "\n\n"
		// Cut only what leaves at least a quarter piece behind.
		for len(p) > maxSegmentBytes+least {
			cut := cutAt(p[:maxSegmentBytes])
			add(strings.TrimSpace(p[:cut]), sep)
			p, sep = strings.TrimSpace(p[cut:]), " "
		}
		if p != "" {
			add(p, sep)
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
