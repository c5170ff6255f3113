package modelserver

import "fmt"

// historyFetch bounds how many stored messages a chat reads before fitting
// them to the context.
const historyFetch = 200

// fitConversation renders history followed by msg into prompt tokens that
// leave room for maxTokens in a context of ctxTokens, dropping the oldest
// exchanges first (a user message and what follows it, so the prompt never
// starts with an orphaned reply). It returns the prompt and how many history
// messages it kept.
func fitConversation(tokenize func(string) ([]int, error), t Template, history []Message, msg Message, ctxTokens, maxTokens int) ([]int, int, error) {
	budget := ctxTokens - maxTokens
	counts := make([]int, len(history))
	for i, m := range history {
		toks, err := tokenize(t.turn(m))
		if err != nil {
			return nil, 0, err
		}
		counts[i] = len(toks)
	}
	base, err := tokenize(t.Render([]Message{msg}))
	if err != nil {
		return nil, 0, err
	}
	if len(base) > budget {
		return nil, 0, fmt.Errorf("%w: the message is %d tokens; with max_tokens %d a context of %d holds %d",
			ErrPromptTooLong, len(base), maxTokens, ctxTokens, max(budget, 0))
	}
	// Estimate from per-message counts, then check the real rendering: the
	// tokenizer may merge differently across message boundaries.
	start, total := len(history), len(base)
	for start > 0 && total+counts[start-1] <= budget {
		start--
		total += counts[start]
	}
	for start = exchangeStart(history, start); ; start = exchangeStart(history, start+1) {
		msgs := append(append([]Message{}, history[start:]...), msg)
		prompt, err := tokenize(t.Render(msgs))
		if err != nil {
			return nil, 0, err
		}
		if len(prompt) <= budget || start == len(history) {
			return prompt, len(history) - start, nil
		}
	}
}

// exchangeStart moves i forward to the next user message (or the end).
func exchangeStart(history []Message, i int) int {
	for i < len(history) && history[i].Role != "user" {
		i++
	}
	return i
}
