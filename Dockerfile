# syntax=docker/dockerfile:1
# zero-downtime-ml images, multi-stage. Targets:
#   modelserver  the model server, static (llama.cpp linked in), FROM scratch
#   zdml         the reconciler and CLI, pure Go, static, FROM scratch
#   nginx        nginx with zdml's entrypoint and bootstrap config
# Build one with: docker build --target modelserver -t zdml/modelserver:local .
# (docker compose build does this for every service.)
#
# Without a registry (CI here), `make images` builds the same images from
# binaries built on the host, pulling nothing: see docker/images.sh.

ARG GO_IMAGE=golang:1.26-bookworm
ARG NGINX_IMAGE=nginx:1.27-alpine

FROM ${GO_IMAGE} AS build
# Headers the llama.cpp build needs (FINDINGS: the module zip drops them).
RUN apt-get update && apt-get install -y --no-install-recommends \
        g++ make nlohmann-json3-dev libstb-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
# The Makefile's cgo flags (-O3, -march=x86-64-v3 on amd64; LLAMA_MARCH=
# for older CPUs), plus a fully static link: the binary runs in an empty
# root. The linker's warnings about dlopen and getpwuid are harmless.
ARG LLAMA_MARCH
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/root/go/pkg/mod \
    eval "$(make -s print-env ${LLAMA_MARCH:+LLAMA_MARCH=$LLAMA_MARCH})" && \
    go build -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"' \
        -o /out/modelserver ./cmd/modelserver 2>/tmp/link.log || { cat /tmp/link.log; exit 1; }
RUN --mount=type=cache,target=/root/.cache/go-build --mount=type=cache,target=/root/go/pkg/mod \
    CGO_ENABLED=0 go build -ldflags '-s -w' -o /out/zdml ./cmd/zdml
RUN mkdir -p /out/data /out/tmp && chmod 1777 /out/tmp

FROM scratch AS modelserver
COPY --from=build /out/modelserver /modelserver
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/tmp /tmp
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/modelserver"]

FROM scratch AS zdml
COPY --from=build /out/zdml /zdml
COPY --from=build /out/tmp /tmp
ENTRYPOINT ["/zdml"]

FROM ${NGINX_IMAGE} AS nginx
COPY docker/nginx/bootstrap.conf /etc/zdml/bootstrap.conf
COPY docker/nginx/entrypoint.sh /usr/local/bin/zdml-nginx
# nginx finishes in-flight requests on SIGQUIT (SIGTERM is its fast stop).
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "/usr/local/bin/zdml-nginx"]
