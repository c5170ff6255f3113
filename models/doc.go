// Package models makes and checks the GGUF files the system serves.
//
// Nothing can be downloaded on CI machines, so Generate writes deterministic
// llama-architecture models in pure Go (through ollama's fs/ggml writer):
// tiny.gguf for unit tests, demo-v1.gguf and demo-v2.gguf for the demo and
// load tests, and two broken fixtures for fault tests (Catalog, make models);
// LargeCatalog (make models-large, not part of make test) adds
// smollm2-shaped-v1.gguf, -v2.gguf and -v2-tuned.gguf, SmolLM2-1.7B's dimensions in Q4_0
// (1.02 GB each), for load tests in the seed's weight class. They share a real
// SentencePiece vocabulary of English words with byte fallback and
// SmolLM2's ChatML tokens and template, so a server written for SmolLM2
// serves them unchanged. Their bytes are the same on every machine and their
// sha256 are pinned (ExpectedSHA256), so desired.yaml files can pin them.
//
// Inspect reads a file's header without cgo (gpustack/gguf-parser-go) for
// the reconciler's pre-flight and the model server's /health/deep, and
// rejects truncated or foreign files. Downloader fetches the real
// SmolLM2-1.7B-Instruct with resume, progress and sha256 verification.
//
// The package never links llama.cpp; only its load tests do.
package models
