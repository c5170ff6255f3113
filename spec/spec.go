package spec

// The types below are the shape of desired.yaml. Decoding (strict, with file,
// line and field in every error) and validation live beside them.

// APIVersion and Kind are the only values accepted in a desired.yaml header.
const (
	APIVersion = "zdml/v1"
	Kind       = "ModelDeployment"
)

// Strategy types.
const (
	StrategyBlueGreen = "bluegreen" // start, gate, swap and drain in one go
	StrategyPrewarm   = "prewarm"   // prewarm the standby first, then a fast swap
	StrategyCanary    = "canary"    // shift traffic step by step, judged on live metrics
)

// Runtimes.
const (
	RuntimeProcess    = "process"    // model servers as local processes (the embedded default)
	RuntimeDocker     = "docker"     // model servers as containers through the Docker Engine API
	RuntimeKubernetes = "kubernetes" // model servers as Deployments on a Kubernetes cluster
)

// Document is a whole desired.yaml file.
type Document struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// file and lines locate fields for error messages: lines maps a dotted
	// field path to the line its value was written on. Both are empty for a
	// Document built in code.
	file  string
	lines map[string]int
	bad   map[string]bool // fields that failed to decode
}

// Metadata names the deployment.
type Metadata struct {
	Name string `yaml:"name" json:"name"`
}

// Spec is the desired state of one blue/green model deployment.
type Spec struct {
	Model     Model     `yaml:"model" json:"model"`
	Strategy  Strategy  `yaml:"strategy" json:"strategy"`
	Warmup    Warmup    `yaml:"warmup" json:"warmup"`
	Resources Resources `yaml:"resources" json:"resources"`
	Runtime   string    `yaml:"runtime" json:"runtime"`
	// Image is the model-server image for runtimes docker and kubernetes;
	// ignored by runtime process.
	Image   string   `yaml:"image,omitempty" json:"image,omitempty"`
	Quality *Quality `yaml:"quality,omitempty" json:"quality,omitempty"`
	// Kubernetes is where runtime kubernetes runs the colors (kubernetes.go).
	Kubernetes *Kubernetes `yaml:"kubernetes,omitempty" json:"kubernetes,omitempty"`
}

// Model names the model version to serve and where its GGUF file is.
type Model struct {
	Name    string `yaml:"name" json:"name"`
	Version string `yaml:"version" json:"version"`
	// Path is relative to the models directory (or to it with a models/ prefix);
	// it may not escape it.
	Path   string `yaml:"path" json:"path"`
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
}

// Strategy says how to move from the active version to the desired one.
type Strategy struct {
	Type         string   `yaml:"type" json:"type"`
	ReadyTimeout Duration `yaml:"readyTimeout,omitempty" json:"readyTimeout,omitempty"`
	DrainTimeout Duration `yaml:"drainTimeout,omitempty" json:"drainTimeout,omitempty"`
	// AutoPromote, for type prewarm, swaps as soon as the standby is warm.
	// When false the reconciler waits for `zdml deploy-fast` (Argo Rollouts'
	// autoPromotionEnabled).
	AutoPromote *bool `yaml:"autoPromote,omitempty" json:"autoPromote,omitempty"`
	// Steps, Analysis and Sticky are for type canary (canary.go).
	Steps    []CanaryStep `yaml:"steps,omitempty" json:"steps,omitempty"`
	Analysis *Analysis    `yaml:"analysis,omitempty" json:"analysis,omitempty"`
	Sticky   string       `yaml:"sticky,omitempty" json:"sticky,omitempty"`
}

// Warmup is the real inference gate run on the standby before it gets traffic.
type Warmup struct {
	Prompts    []string `yaml:"prompts" json:"prompts"`
	MaxLatency Duration `yaml:"maxLatency,omitempty" json:"maxLatency,omitempty"`
	MaxTokens  int      `yaml:"maxTokens,omitempty" json:"maxTokens,omitempty"`
}

// Resources bound one color.
type Resources struct {
	Memory   Quantity `yaml:"memory,omitempty" json:"memory,omitempty"`
	CPUs     float64  `yaml:"cpus,omitempty" json:"cpus,omitempty"`
	Threads  int      `yaml:"threads,omitempty" json:"threads,omitempty"`
	Parallel int      `yaml:"parallel,omitempty" json:"parallel,omitempty"`
	Ctx      int      `yaml:"ctx,omitempty" json:"ctx,omitempty"`
}
