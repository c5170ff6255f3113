# zero-downtime-ml. Every target is one obvious line; `make help` lists them.
SHELL := /bin/bash
GO    ?= go

# llama.cpp is compiled by cgo. -march=x86-64-v3 (AVX2, FMA, F16C) makes
# generation 2-5x faster; override with LLAMA_MARCH= on older CPUs.
ifeq ($(shell $(GO) env GOARCH),amd64)
LLAMA_MARCH ?= -march=x86-64-v3
endif
# The include path is part of the cgo flags Go's build cache keys on, so it
# points at a copy outside the checkout, named by its content: every clone and
# worktree on a machine shares one llama.cpp build (~3 min on 2 cores).
ZDML_CACHE ?= $(HOME)/.cache/zdml
LLAMA_INCLUDE := $(shell $(dir $(abspath $(lastword $(MAKEFILE_LIST))))hack/include.sh "$(ZDML_CACHE)")
export CGO_CPPFLAGS := -I$(LLAMA_INCLUDE) -DGGML_USE_CPU_REPACK
export CGO_CFLAGS   := -O3 $(LLAMA_MARCH)
export CGO_CXXFLAGS := -O3 $(LLAMA_MARCH)

ZDML   := bin/zdml
MODELS := models
# The reconciler commands act on this repository's committed desired.yaml (GitOps).
ZDML_SRC := --repo . --branch main --file desired.yaml --models-dir $(MODELS)
SMOLLM2_URL ?= https://huggingface.co/HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF/resolve/main/smollm2-1.7b-instruct-q4_k_m.gguf

.DEFAULT_GOAL := help
.PHONY: reconcile deploy prewarm deploy-fast promote abort pause resume maintenance-on maintenance-off prewarm-and-deploy prewarm-status rollback state history evidence deploy-log start-blue stop-blue start-green stop-green swap-to-green swap-to-blue which-active mem health chat bench-deploy bench-kubernetes bench-contention open-report
.PHONY: images setup up up-full down logs logs-all reset clean bench-docker
.PHONY: monitor grafana prom-targets deploy-monitored
.PHONY: loadtest-deploy loadtest-large loadtest-storm soak test-baseline test-deploy-load test-prewarm report generate-traffic bench-loadgen
.PHONY: kube-binaries kube-up kube-down
.PHONY: help deps build models models-large model-smollm2 bench-models bench-models-large bench-nginx fuzz-spec test lint print-env

help: ## list targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

deps: ## install what the build and tests need (apt-get as root, else a message)
	@hack/deps.sh build runtime monitor docker kube

build: deps ## build bin/modelserver and bin/zdml
	$(GO) build -o bin/ ./cmd/modelserver ./cmd/zdml

models: build ## generate the test and demo GGUF models into models/
	$(ZDML) models generate --dir $(MODELS)

models-large: build ## generate the SmolLM2-1.7B-shaped Q4_0 models (3 x 1.0 GB, ~45 s; not part of make models or make test)
	$(ZDML) models generate --large --dir $(MODELS)

model-smollm2: build ## download SmolLM2-1.7B-Instruct Q4_K_M (~1 GB); needs SMOLLM2_SHA256=<hex from the file's huggingface.co page>
	$(ZDML) models download --url "$(SMOLLM2_URL)" --sha256 "$(SMOLLM2_SHA256)" --out $(MODELS)/smollm2-1.7b-instruct-q4_k_m.gguf

bench-models: models ## time a 30-token demo reply on one thread (tokens/s), and demo-v2-slow beside demo-v1 (ratio)
	$(GO) test -run '^$$' -bench 'DemoReply|DemoSlowVsV1' -benchtime 20x -count 3 ./models

bench-models-large: models-large ## load time, memory and tokens/s of 16- and 30-token replies of the SmolLM2-1.7B-shaped model at 1 and 2 threads
	$(GO) test -run '^$$' -bench LargeReply -benchtime 5x -count 1 -timeout 20m ./models

bench-nginx: deps ## keep-alive race: failed POSTs across 60 reloads, public keepalive_timeout 0 vs 65s
	$(GO) test -run '^$$' -bench KeepaliveRace -benchtime 60x ./nginx

.PHONY: bench-nginx-split
bench-nginx-split: deps ## canary split vs plain config, interleaved: p50/p99 of an OpenAI POST (1 KiB to 900 KiB bodies) and their ratios
	$(GO) test -run '^$$' -bench SplitLatency -benchtime 1000x ./nginx

.PHONY: bench-modelserver
bench-modelserver: build models ## HTTP API vs the raw binding loop on demo-v1, interleaved: tokens/s ratio (goal >= 0.95), TTFT, 4-client batching gain
	$(GO) test -run '^$$' -bench ModelServer -benchtime 1x -count 1 -timeout 30m ./modelserver/llm

.PHONY: bench-probes
bench-probes: build models-large ## CPU the reconciler's probes cost a ready and a not-ready color on the 1 GB model, above idle (goal < 1 % of a core), and the ready gate's poll fixed at 100 ms vs backed off (ratio); DEEP_EVERY=2s READY_EVERY=100ms WINDOW=20s
	ZDML_BENCH_DEEP_EVERY=$(DEEP_EVERY) ZDML_BENCH_READY_EVERY=$(READY_EVERY) ZDML_BENCH_WINDOW=$(WINDOW) $(GO) test -run '^$$' -bench Probes -benchtime 1x -count 1 -timeout 20m ./modelserver

.PHONY: bench-quality
bench-quality: build models models-large ## the quality gate's time on the demo and the 1 GB model (active scored and cached), and the active's p99 under a client loop while judged vs not (ratio); SIZES=demo,large ROUNDS=3
	ZDML_BENCH_MODELS=$(SIZES) ZDML_BENCH_ROUNDS=$(ROUNDS) $(GO) test -run '^$$' -bench Quality -benchtime 1x -count 1 -timeout 60m ./quality

.PHONY: bench-quality-deploy
bench-quality-deploy: build models models-large ## what the quality gate adds to a blue/green deploy (its step against the deploy's duration, budget 20 %), demo and 1 GB model, 1 client (quality: {}); SIZES=demo,large ROUNDS=2 PROMPTS=1 (a golden prompt too)
	ZDML_BENCH_MODELS=$(SIZES) ZDML_BENCH_ROUNDS=$(ROUNDS) ZDML_BENCH_PROMPTS=$(PROMPTS) $(GO) test -run '^$$' -bench QualityDeploy -benchtime 1x -count 1 -timeout 90m ./reconciler

fuzz-spec: ## fuzz the desired.yaml decoder and validator for 3 minutes
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 3m ./spec

# Every package runs under the race detector. -race recompiles llama.cpp for
# modelserver/llm once (its own build-cache entry), and reuses it afterwards.
test: build models kube-binaries ## run every test under -race (real nginx, model servers, Docker, Prometheus, git, a Kubernetes cluster)
	$(GO) test -race -count=1 -timeout 40m $$($(GO) list ./... | grep -v '/reconciler\(/\|$$\)')
	$(GO) test -race -count=1 -p 1 -timeout 40m ./reconciler/...

# The Kubernetes test cluster (internal/testenv/kubecluster): the binaries
# are built once per machine into $${ZDML_CACHE:-~/.cache/zdml}/kubernetes/.
KUBE_DIR ?= .zdml/kube
kube-binaries: ## build kube-apiserver, -controller-manager, -scheduler, kubelet, kube-proxy and etcd once per machine (cached outside the checkout; cold: ~17 min on 2 shared cores)
	@hack/kubernetes/build.sh >/dev/null

kube-up: deps kube-binaries ## start a single-node Kubernetes cluster by hand (files and logs in .zdml/kube); prints its KUBECONFIG
	@$(GO) run ./internal/testenv/kubecluster/cmd/kubecluster up --dir $(KUBE_DIR)

kube-down: ## stop the make kube-up cluster and remove its leftovers (mounts, cgroups, network namespace)
	@$(GO) run ./internal/testenv/kubecluster/cmd/kubecluster down --dir $(KUBE_DIR)

images: deps ## build the Docker images here, never pulling (IMAGES="modelserver zdml nginx"); cached by content
	@docker/images.sh $(IMAGES)

monitor: build ## run Prometheus (Debian's) on 127.0.0.1:9090 against the local stack; data in .zdml/prometheus; Ctrl-C stops it
	$(ZDML) monitor run

grafana: build ## print the compose stack's Grafana URL and whether it answers (Grafana runs only in compose)
	@$(ZDML) monitor grafana

prom-targets: build ## show Prometheus's scrape targets and their health (HTTP API)
	@$(ZDML) monitor targets

deploy-monitored: build ## commit desired.yaml, snapshot metrics around the deploy into reports/<date>-deploy-monitored.md
	$(ZDML) monitor deploy

reconcile: build models ## run the reconciler daemon on this repository: commit desired.yaml on main and watch it deploy
	$(ZDML) reconcile $(ZDML_SRC)
deploy: build ## deploy the committed desired.yaml now (asks the daemon when it runs); retries a quarantined spec
	$(ZDML) deploy $(ZDML_SRC)
prewarm: build ## start and warm the standby with desired.yaml, no swap
	$(ZDML) prewarm $(ZDML_SRC)
deploy-fast: build ## swap the prewarmed standby in (swap + drain only)
	$(ZDML) deploy-fast $(ZDML_SRC)
prewarm-and-deploy: build ## prewarm, then deploy-fast: both steps in sequence
	$(ZDML) prewarm $(ZDML_SRC) && $(ZDML) deploy-fast $(ZDML_SRC)
prewarm-status: build ## is the standby warm and ready for deploy-fast: color, version, warmed_at, ready (exit 1 if not)
	$(ZDML) prewarm-status $(ZDML_SRC)
promote: build ## promote now: the canary in progress to all traffic (skips its remaining steps), or the prewarmed standby
	$(ZDML) promote $(ZDML_SRC)
abort: build ## abort the canary in progress: weight 0 at once, the canary drains and stops, its spec is quarantined
	$(ZDML) abort $(ZDML_SRC)
pause: build ## hold the canary in progress at its weight (its analysis keeps running)
	$(ZDML) pause $(ZDML_SRC)
resume: build ## continue a paused canary (and past a pause: {} step)
	$(ZDML) resume $(ZDML_SRC)
maintenance-on: build ## maintenance mode: user routes answer 503 JSON with Retry-After, health stays up (MSG="...", RETRY_AFTER=30s)
	$(ZDML) maintenance on $(if $(MSG),--message "$(MSG)") $(if $(RETRY_AFTER),--retry-after $(RETRY_AFTER)) $(ZDML_SRC)
maintenance-off: build ## leave maintenance mode: user routes reach the active color again
	$(ZDML) maintenance off $(ZDML_SRC)
rollback: build ## emergency rollback to the previous version (works with the daemon down)
	$(ZDML) rollback $(ZDML_SRC)
state: build ## show the sync state, colors, last deploy and quarantine
	$(ZDML) status $(ZDML_SRC)
history: build ## show the last 20 deploys with step timings
	$(ZDML) history $(ZDML_SRC)
evidence: build ## what the last failed deploy left to look at: reason, scores, both versions' replies, the standby's log (ID=<deploy id>; LIST=1 lists them)
	$(ZDML) evidence $(if $(LIST),--list )$(ID) $(ZDML_SRC)
deploy-log: build ## the structured deploy log (events.jsonl), human-readable: last 40 events; FOLLOW=1 keeps following
	$(ZDML) deploy-log $(if $(FOLLOW),--follow) $(ZDML_SRC)
start-blue: build ## start blue with desired.yaml (not routed)
	$(ZDML) start blue $(ZDML_SRC)
stop-blue: build ## stop blue gracefully (refused while nginx routes to it)
	$(ZDML) stop blue $(ZDML_SRC)
start-green: build ## start green with desired.yaml (not routed)
	$(ZDML) start green $(ZDML_SRC)
stop-green: build ## stop green gracefully
	$(ZDML) stop green $(ZDML_SRC)
swap-to-green: build ## route nginx to green
	$(ZDML) swap green $(ZDML_SRC)
swap-to-blue: build ## route nginx to blue
	$(ZDML) swap blue $(ZDML_SRC)
which-active: build ## print the color nginx routes to
	$(ZDML) which-active $(ZDML_SRC)
mem: build ## RSS/PSS of each color and nginx, shared pages shown
	$(ZDML) mem $(ZDML_SRC)
health: build ## health of each color, nginx and the public route
	$(ZDML) health $(ZDML_SRC)
chat: build ## send one chat request through nginx (MSG="...")
	$(ZDML) chat "$(or $(MSG),Say hello)" $(ZDML_SRC)
bench-deploy: build models ## deploy step timings on the tiny and demo models, and deploy-fast swap+drain, under client load
	$(GO) test -run '^$$' -bench DeploySteps -benchtime 3x -timeout 20m ./reconciler
bench-kubernetes: build models kube-binaries ## deploy step timings on runtime kubernetes (the test cluster) vs process, alternating in one run, as ratios; ROUNDS=3 MODEL=tiny|demo
	ZDML_BENCH_ROUNDS=$(ROUNDS) ZDML_BENCH_MODEL=$(MODEL) $(GO) test -run '^$$' -bench KubeDeploySteps -benchtime 1x -count 1 -timeout 60m ./reconciler
bench-contention: build models ## active p99 while a standby loads and warms: nice 19, nice 10 (the default) and normal priority, side by side
	$(GO) test -run '^$$' -bench Contention -benchtime 1x -timeout 20m ./reconciler/driver/process

# Load tests on a temporary stack of their own (free ports, temp git repo):
# DURATION=90s lengthens every scenario; RUNTIME=docker runs the model servers as containers.
RUNTIME  ?= process
LOADTEST := ZDML_LOADTEST_DURATION=$(DURATION) ZDML_RUNTIME=$(RUNTIME) ZDML_IMAGE=$(if $(filter docker,$(RUNTIME)),$(or $(IMAGE),zdml/modelserver:local)) $(ZDML) loadtest
LOADTEST_DEPS := models $(if $(filter docker,$(RUNTIME)),images)
loadtest-deploy: $(LOADTEST_DEPS) ## every load-test scenario on a temporary stack: reports/<date>-<scenario>.md, reports/latest.md (DURATION=, RUNTIME=docker)
	ZDML_LOADTEST_COMMAND="make loadtest-deploy" $(LOADTEST)
loadtest-large: models-large $(LOADTEST_DEPS) ## the large-model scenarios (loadgen/scenarios/large: SmolLM2-1.7B-shaped, 1.02 GB) under load, long streams across a deploy included, ~12 min; reports/ and latest.md as above
	ZDML_LOADTEST_COMMAND="make loadtest-large" $(LOADTEST) --scenarios-dir loadgen/scenarios/large
loadtest-storm: $(LOADTEST_DEPS) ## 20 back-to-back GitOps deploys under open-loop traffic with long streams (loadgen/scenarios/storm, ~3 min): latency in deploy windows vs baseline
	ZDML_LOADTEST_COMMAND="make loadtest-storm" $(LOADTEST) --scenarios-dir loadgen/scenarios/storm
soak: $(LOADTEST_DEPS) ## 30 min (DURATION=) of traffic, a deploy every 90 s and rollbacks; memory, open files, goroutines, processes and disk must stay flat (loadgen/scenarios/soak)
	ZDML_LOADTEST_COMMAND="make soak$(if $(DURATION), DURATION=$(DURATION))" $(LOADTEST) --scenarios-dir loadgen/scenarios/soak
test-baseline: $(LOADTEST_DEPS) ## load test without a deploy (baseline)
	ZDML_LOADTEST_COMMAND="make test-baseline" $(LOADTEST) --scenario baseline
test-deploy-load: $(LOADTEST_DEPS) ## standard blue/green deploy under load
	ZDML_LOADTEST_COMMAND="make test-deploy-load" $(LOADTEST) --scenario deploy-under-load
test-prewarm: $(LOADTEST_DEPS) ## prewarm + fast deploy under load
	ZDML_LOADTEST_COMMAND="make test-prewarm" $(LOADTEST) --scenario prewarm-fast
report: build ## regenerate reports/ from the latest raw run of each scenario (reports/runs/), and reports/latest.md from the newest record (reports/<date>-<scenario>.json) of every scenario
	$(ZDML) report
open-report: ## print the path of reports/latest.md and open it with xdg-open when there is one
	@test -f reports/latest.md || { echo "no reports/latest.md yet: run make loadtest-deploy" >&2; exit 1; }; echo "$(CURDIR)/reports/latest.md"; if command -v xdg-open >/dev/null; then xdg-open "$(CURDIR)/reports/latest.md" >/dev/null 2>&1 & fi
generate-traffic: build ## chat traffic for 2 minutes (DURATION=) at a running stack (URL=http://127.0.0.1:8080), no deploy; report in reports/traffic/
	$(ZDML) loadtest --scenario baseline --url $(or $(URL),http://127.0.0.1:8080) --duration $(or $(DURATION),2m) --reports-dir reports/traffic --runs-dir reports/runs/traffic
bench-loadgen: ## the harness against a plain vegeta attack, same rate, same static endpoint: achieved-rate and latency-overhead ratios
	$(GO) test -run '^$$' -bench HarnessVsVegeta -benchtime 1x -count 3 ./loadgen

setup: models images ## first-time setup: models, images, start the compose stack and wait until it serves
	@docker/stack.sh up && docker/stack.sh wait

up: models images ## start nginx and the reconciler (Docker Compose); the reconciler deploys desired.yaml as containers
	@docker/stack.sh up

up-full: models images ## make up plus Prometheus (127.0.0.1:9090) and Grafana (127.0.0.1:3000)
	@docker/stack.sh up-full

down: ## stop the compose stack and its colors (state and chat history kept)
	@docker/stack.sh down

logs: ## follow the active color's log (compose stack)
	@docker/stack.sh logs

logs-all: ## follow every container's log (compose stack)
	@docker/stack.sh logs-all

reset: ## tear down the compose stack and its state: the next make up starts over with blue
	@docker/stack.sh reset

clean: ## make reset, and remove zdml's images and the image build cache
	@docker/stack.sh clean

bench-docker: build models images ## the same deploy with the process and the Docker driver, step by step side by side, and the swap time
	$(GO) test -run '^$$' -bench DockerVsProcess -benchtime 3x -timeout 30m ./reconciler

lint: deps ## gofmt check and go vet (vet compiles the cgo package, so the build headers come first)
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

print-env: ## print the cgo flags, for running go commands by hand: eval "$$(make -s print-env)"
	@echo "export CGO_CPPFLAGS='$(CGO_CPPFLAGS)' CGO_CFLAGS='$(CGO_CFLAGS)' CGO_CXXFLAGS='$(CGO_CXXFLAGS)'"
