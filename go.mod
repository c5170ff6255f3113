module github.com/zero-downtime-ml/zdml

go 1.26.0

require (
	github.com/ollama/ollama v0.17.4
	go.yaml.in/yaml/v3 v3.0.6
)
