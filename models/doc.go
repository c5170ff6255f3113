// Package models makes the GGUF files the system serves: deterministic
// generated models for tests and demos (nothing can be downloaded on CI
// machines), and the verified, resumable download of SmolLM2-1.7B-Instruct.
package models
