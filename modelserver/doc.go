// Package modelserver is the LLM HTTP server each color runs: health tiers,
// the seed's chat API with SQLite history, an OpenAI-compatible API, bounded
// queueing, graceful drain and Prometheus metrics. Inference comes from an
// Engine; package llm provides the llama.cpp one.
package modelserver
