// Package llm is the one package of zero-downtime-ml that links llama.cpp
// (through github.com/ollama/ollama/llama, cgo). It loads a GGUF model with
// mmap, owns the single llama context of the process and runs continuous
// batching across sequences in one goroutine. Nothing else imports "C".
package llm

import _ "github.com/ollama/ollama/llama"
