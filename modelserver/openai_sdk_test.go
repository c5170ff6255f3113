package modelserver_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/zero-downtime-ml/zdml/internal/testenv"
)

// The official OpenAI Go SDK, unchanged, reads logprobs and top_logprobs
// from a real server, whole and streamed: every field in OpenAI's shape
// (no field the SDK does not know), one entry per completion token, the
// tokens' bytes spelling the reply, and the stream giving what the whole
// reply gives at temperature 0.
func TestOpenAISDKLogprobs(t *testing.T) {
	s := readyServer(t, "--model", testenv.Model(t, "tiny.gguf"))
	client := openai.NewClient(option.WithBaseURL(s.URL+"/v1"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	params := openai.ChatCompletionNewParams{
		Model:       "tiny",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Tell me about the sea.")},
		MaxTokens:   openai.Int(10),
		Temperature: openai.Float(0),
		Seed:        openai.Int(1),
		Logprobs:    openai.Bool(true),
		TopLogprobs: openai.Int(3),
	}
	ctx := context.Background()

	whole, err := client.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	lps := whole.Choices[0].Logprobs
	if !lps.JSON.Content.Valid() || lps.JSON.Refusal.Raw() != "null" || len(lps.JSON.ExtraFields) > 0 {
		t.Errorf("choices[0].logprobs is not OpenAI's shape: %s", lps.RawJSON())
	}
	checkLogprobs(t, "whole", whole.Choices[0].Message.Content, lps.Content, int(whole.Usage.CompletionTokens))

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := client.Chat.Completions.NewStreaming(ctx, params)
	var text strings.Builder
	var streamed []openai.ChatCompletionTokenLogprob
	tokens := 0
	for stream.Next() {
		c := stream.Current()
		if c.Usage.CompletionTokens > 0 {
			tokens = int(c.Usage.CompletionTokens)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			streamed = append(streamed, ch.Logprobs.Content...)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	checkLogprobs(t, "stream", text.String(), streamed, tokens)
	if text.String() != whole.Choices[0].Message.Content || len(streamed) != len(lps.Content) {
		t.Fatalf("stream %q (%d logprobs), whole %q (%d)", text.String(), len(streamed), whole.Choices[0].Message.Content, len(lps.Content))
	}
	for i := range streamed {
		if streamed[i].Token != lps.Content[i].Token || math.Abs(streamed[i].Logprob-lps.Content[i].Logprob) > 1e-6 {
			t.Errorf("token %d: stream %+v, whole %+v", i, streamed[i], lps.Content[i])
		}
	}

	// Without logprobs the SDK sees none, as from OpenAI ("logprobs": null).
	params.Logprobs, params.TopLogprobs = openai.Bool(false), openai.Int(0)
	plain, err := client.Chat.Completions.New(ctx, params)
	if err != nil || len(plain.Choices[0].Logprobs.Content) != 0 || plain.Choices[0].Message.Content != whole.Choices[0].Message.Content {
		t.Errorf("without logprobs: %+v %v", plain.Choices, err)
	}
}

func checkLogprobs(t *testing.T, name, text string, lps []openai.ChatCompletionTokenLogprob, tokens int) {
	t.Helper()
	if len(lps) == 0 || len(lps) != tokens {
		t.Fatalf("%s: %d logprobs for %d completion tokens", name, len(lps), tokens)
	}
	var spelled []byte
	for i, lp := range lps {
		if len(lp.JSON.ExtraFields) > 0 || !lp.JSON.Bytes.Valid() || !lp.JSON.TopLogprobs.Valid() {
			t.Errorf("%s: content[%d] is not OpenAI's shape: %s", name, i, lp.RawJSON())
		}
		if lp.Logprob > 0 || len(lp.TopLogprobs) != 3 {
			t.Errorf("%s: content[%d] = %+v: want a logprob <= 0 and 3 alternatives", name, i, lp)
		}
		// Greedy: the token is the most likely one.
		if lp.TopLogprobs[0].Token != lp.Token || lp.TopLogprobs[0].Logprob != lp.Logprob ||
			lp.TopLogprobs[1].Logprob > lp.TopLogprobs[0].Logprob || len(lp.TopLogprobs[0].JSON.ExtraFields) > 0 {
			t.Errorf("%s: content[%d]: token %q %v, top %+v", name, i, lp.Token, lp.Logprob, lp.TopLogprobs)
		}
		for _, b := range lp.Bytes {
			spelled = append(spelled, byte(b))
		}
	}
	if string(spelled) != text {
		t.Errorf("%s: the tokens' bytes spell %q, the reply is %q", name, spelled, text)
	}
}
