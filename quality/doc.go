// Package quality judges whether a candidate model version answers as well
// as the active one, before it gets traffic: golden prompts answered by
// both (greedy, fixed seed) and checked against their expectations, and a
// held-out text both score through the model server's POST /v1/logprobs,
// giving each one's perplexity, their ratio (candidate ÷ active) and the
// mean KL divergence of the candidate's next-token distributions from the
// active's (over the active's top 20 tokens plus one tail bucket for the
// rest, as llama-perplexity --kl-divergence compares a model with a base).
// A Verdict carries every number, each bound and, on failure, a reason
// naming the metric and its bound. Work on the active color is bounded:
// one request at a time, the held-out text capped, and cached by model
// sha256 and text digest, so a deploy scores the active once per version.
// The reconciler's quality step calls Gate.Judge.
package quality
