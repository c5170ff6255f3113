package spec

import (
	"strings"
	"testing"
)

const withQuality = good + `  quality:
    prompts:
      - {prompt: "What is 2+2?", expect: {contains: "4"}}
      - prompt: Reply with JSON
        expect: {regex: "^\\{"}
      - {prompt: Say hello}
    heldOut: eval/heldout.txt
    maxPerplexityRatio: 1.2
`

func TestQualityParsesWithDefaults(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(withQuality))
	if err != nil {
		t.Fatal(err)
	}
	q := doc.Spec.Quality
	want := Quality{
		Prompts: []QualityPrompt{
			{Prompt: "What is 2+2?", Expect: Expect{Contains: "4"}},
			{Prompt: "Reply with JSON", Expect: Expect{Regex: `^\{`}},
			{Prompt: "Say hello"},
		},
		HeldOut: "eval/heldout.txt", HeldOutTokens: DefaultHeldOutTokens, MaxPerplexityRatio: 1.2,
		MaxKL: DefaultMaxKL, MaxTokens: DefaultQualityMaxTokens, Timeout: Duration{DefaultQualityTimeout},
	}
	if q == nil || q.HeldOut != want.HeldOut || q.MaxPerplexityRatio != 1.2 || q.MaxKL != want.MaxKL ||
		q.HeldOutTokens != want.HeldOutTokens || q.MaxTokens != want.MaxTokens || q.Timeout != want.Timeout || len(q.Prompts) != 3 {
		t.Fatalf("got %+v, want %+v", q, want)
	}
	for i := range want.Prompts {
		if q.Prompts[i] != want.Prompts[i] {
			t.Errorf("prompt %d: %+v, want %+v", i, q.Prompts[i], want.Prompts[i])
		}
	}
	// An empty section turns the gate on with every default.
	doc, err = Parse("desired.yaml", []byte(good+"  quality: {}\n"))
	if err != nil || doc.Spec.Quality == nil || doc.Spec.Quality.MaxKL != DefaultMaxKL || doc.Spec.Quality.HeldOut != "" {
		t.Errorf("quality: {} gave %+v, %v", doc.Spec.Quality, err)
	}
}

func TestQualityBad(t *testing.T) {
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown field", "maxPerplexityRatio: 1.2", "maxPerplexity: 1.2",
			"desired.yaml:17: spec.quality.maxPerplexity: unknown field (want one of prompts, heldOut, heldOutTokens, maxPerplexityRatio, maxKL, maxTokens, timeout)"},
		{"ratio below 1", "maxPerplexityRatio: 1.2", "maxPerplexityRatio: 0.9",
			"desired.yaml:17: spec.quality.maxPerplexityRatio: 0.9 is out of range (want 1 to 1000)"},
		{"ratio not a number", "maxPerplexityRatio: 1.2", "maxPerplexityRatio: low",
			`desired.yaml:17: spec.quality.maxPerplexityRatio: want a number, got "low"`},
		{"kl zero written", "maxPerplexityRatio: 1.2", "maxKL: 0",
			"desired.yaml:17: spec.quality.maxKL: 0 is out of range (want more than 0, at most 100)"},
		{"kl NaN", "maxPerplexityRatio: 1.2", "maxKL: .nan",
			"desired.yaml:17: spec.quality.maxKL: NaN is out of range (want more than 0, at most 100)"},
		{"bad regex", `regex: "^\\{"`, `regex: "([a-z"`,
			`desired.yaml:14: spec.quality.prompts[1].expect.regex: "([a-z" is not an RE2 expression: missing closing ]: ` + "`[a-z`"},
		{"empty regex", `regex: "^\\{"`, `regex: ""`,
			"desired.yaml:14: spec.quality.prompts[1].expect.regex: empty: leave it out or write an expression"},
		{"unknown expect", `{contains: "4"}`, `{equals: "4"}`,
			"desired.yaml:12: spec.quality.prompts[0].expect.equals: unknown field (want one of contains, regex)"},
		{"empty prompt", "{prompt: Say hello}", `{prompt: "  "}`,
			"desired.yaml:15: spec.quality.prompts[2].prompt: want a non-empty prompt of at most 4096 bytes"},
		{"held-out escapes", "heldOut: eval/heldout.txt", "heldOut: ../secret.txt",
			`desired.yaml:16: spec.quality.heldOut: "../secret.txt" escapes the repository (no .. allowed)`},
		{"held-out absolute", "heldOut: eval/heldout.txt", "heldOut: /etc/passwd",
			`desired.yaml:16: spec.quality.heldOut: "/etc/passwd" is absolute: want a path relative to the repository`},
		{"held-out empty", "heldOut: eval/heldout.txt", `heldOut: ""`,
			"desired.yaml:16: spec.quality.heldOut: empty: leave it out to use the default held-out text"},
		{"held-out tokens", "heldOut: eval/heldout.txt", "heldOutTokens: 8",
			"desired.yaml:16: spec.quality.heldOutTokens: 8 is out of range (want 16 to 8192)"},
		{"max tokens", "heldOut: eval/heldout.txt", "maxTokens: 0",
			"desired.yaml:16: spec.quality.maxTokens: 0 is out of range (want 1 to 4096)"},
		{"timeout", "heldOut: eval/heldout.txt", "timeout: 2h",
			"desired.yaml:16: spec.quality.timeout: 2h0m0s is out of range (want 1s to 1h0m0s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := strings.Replace(withQuality, tt.from, tt.to, 1)
			if y == withQuality {
				t.Fatalf("%q not in the spec", tt.from)
			}
			_, err := Parse("desired.yaml", []byte(y))
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}

// A spec without a quality section hashes as before the section existed
// (no deployed spec is redeployed), and the gate's settings are part of
// the deployment's identity.
func TestQualityHash(t *testing.T) {
	doc, err := Parse("desired.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Spec.Hash(); got != goodHash {
		t.Errorf("hash without quality %s, want %s", got, goodHash)
	}
	q, err := Parse("desired.yaml", []byte(withQuality))
	if err != nil {
		t.Fatal(err)
	}
	if q.Spec.Hash() == goodHash {
		t.Error("a quality section does not change the hash")
	}
	defaulted, _ := Parse("desired.yaml", []byte(strings.Replace(withQuality, "    maxPerplexityRatio: 1.2\n", "    maxPerplexityRatio: 1.2\n    maxKL: 0.05\n", 1)))
	if defaulted.Spec.Hash() != q.Spec.Hash() {
		t.Error("writing a default changes the hash")
	}
}

// goodHash is the hash of good before the quality section existed.
const goodHash = "2f50cf26f4caff7a084de84c2a936f57e4eafe16f613ab2332e3fec7d67b4d98"
