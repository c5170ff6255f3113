package modelserver

// logprobsBuilder renders engine log-probabilities in OpenAI's shape:
// choices[].logprobs.content[] = {token, logprob, bytes, top_logprobs:
// [{token, logprob, bytes}]}, bytes as a list of integers (a token may be
// part of a UTF-8 character, so its text alone can be wrong).
type logprobsBuilder struct {
	eng    Engine
	choice *choiceLogprobs // nil when logprobs were not asked for: "logprobs": null
}

func newLogprobs(eng Engine, on bool) *logprobsBuilder {
	b := &logprobsBuilder{eng: eng}
	if on {
		b.choice = &choiceLogprobs{Content: []tokenLogprob{}}
	}
	return b
}

func (b *logprobsBuilder) add(lps []TokenLogprobs) {
	if b.choice == nil {
		return
	}
	for _, lp := range lps {
		text := b.eng.TokenPiece(lp.ID)
		tl := tokenLogprob{Token: text, Logprob: lp.Logprob, Bytes: byteList(text), TopLogprobs: []topLogprob{}}
		for _, alt := range lp.Top {
			t := b.eng.TokenPiece(alt.ID)
			tl.TopLogprobs = append(tl.TopLogprobs, topLogprob{Token: t, Logprob: alt.Logprob, Bytes: byteList(t)})
		}
		b.choice.Content = append(b.choice.Content, tl)
	}
}

// byteList is s's bytes as JSON integers (a []byte would be base64).
func byteList(s string) []int {
	out := make([]int, len(s))
	for i := 0; i < len(s); i++ {
		out[i] = int(s[i])
	}
	return out
}
