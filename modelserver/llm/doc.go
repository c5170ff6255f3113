// Package llm is the one package of zero-downtime-ml that links llama.cpp
// (through github.com/ollama/ollama/llama, cgo). It maps a GGUF model
// read-only, owns the single llama context of the process (the binding
// cannot free one) and runs continuous batching across sequences in one
// goroutine, reusing each slot's cached prompt prefix. It routes llama.cpp's
// log into slog and implements modelserver.Engine; nothing else imports "C".
package llm
