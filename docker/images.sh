#!/usr/bin/env bash
# images.sh [modelserver|zdml|nginx]... builds zdml's Docker images on this
# machine without pulling anything (there may be no registry):
#   modelserver  a static bin/static/modelserver (llama.cpp linked in) FROM scratch
#   zdml         the static reconciler FROM scratch
#   nginx        a root filesystem from this machine's nginx and its ldd libraries
# Each image is tagged zdml/<name>:content-<hash of its build context>; a
# context already built is not built again, so `make test` pays only for
# what changed. The usable name (ZDML_<NAME>_IMAGE, default zdml/<name>:local)
# is then pointed at it. Run from the Makefile (`make images`): the cgo flags
# must be the Makefile's, or llama.cpp is recompiled.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=$root/.cache/images
mkdir -p "$cache" bin/static
# One build at a time: test packages running in parallel all ask for images.
exec 9>"$cache/.lock"
flock 9

log() { printf 'images: %s\n' "$*" >&2; }

# hash_dir prints a hash of every path, mode, link target and file content
# under a directory.
hash_dir() {
	(cd "$1" && find . -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' p; do
		printf '%s %s' "$p" "$(stat -c %a "$p")"
		if [[ -L $p ]]; then printf ' -> %s' "$(readlink "$p")"; elif [[ -f $p ]]; then sha256sum <"$p" | cut -c1-64; fi
		printf '\n'
	done) | sha256sum | cut -c1-16
}

# build NAME CONTEXT DOCKERFILE: docker build unless the content tag exists.
build() {
	local name=$1 ctx=$2 dockerfile=$3 var want hash tag
	cp "$dockerfile" "$ctx/Dockerfile"
	hash=$(hash_dir "$ctx")
	tag=zdml/$name:content-$hash
	var=ZDML_$(tr '[:lower:]' '[:upper:]' <<<"$name")_IMAGE
	want=${!var:-zdml/$name:local}
	if docker image inspect "$tag" >/dev/null 2>&1; then
		log "$name: up to date ($tag)"
	else
		local t0=$SECONDS
		DOCKER_BUILDKIT=0 docker build -q --no-cache --label "zdml.content=$hash" -t "$tag" "$ctx" >/dev/null 2>"$cache/$name.build.log" ||
			{ cat "$cache/$name.build.log" >&2; exit 1; }
		log "$name: built $tag in $((SECONDS - t0))s"
	fi
	docker tag "$tag" "$want"
	# Older content tags of this image are garbage now.
	docker image ls --format '{{.Repository}}:{{.Tag}}' "zdml/$name" | grep -F ":content-" | grep -vxF "$tag" |
		xargs -r docker image rm >/dev/null 2>&1 || true
	log "$name: $want = $tag, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}')"
}

# fresh_ctx NAME: an empty build context directory.
fresh_ctx() {
	rm -rf "$cache/$1"
	mkdir -p "$cache/$1"
	echo "$cache/$1"
}

image_modelserver() {
	# Run by hand rather than by make: take the Makefile's flags anyway.
	[[ -n ${CGO_CPPFLAGS:-} ]] || eval "$(make -s print-env)"
	# The Makefile's CGO_* flags plus static link flags: only the link differs
	# from `make build`, so the C++ comes from the Go build cache.
	# The linker's warnings about dlopen and getpwuid in a static binary are
	# harmless (FINDINGS); its output is shown only when the build fails.
	go build -tags netgo,osusergo -ldflags '-s -w -linkmode external -extldflags "-static"' \
		-o bin/static/modelserver ./cmd/modelserver 2>"$cache/modelserver.go-build.log" ||
		{ cat "$cache/modelserver.go-build.log" >&2; exit 1; }
	local ctx
	ctx=$(fresh_ctx modelserver)
	cp bin/static/modelserver "$ctx/"
	mkdir -p "$ctx/data" "$ctx/tmp"
	chmod 1777 "$ctx/tmp"
	build modelserver "$ctx" docker/modelserver.Dockerfile
}

image_zdml() {
	CGO_ENABLED=0 go build -ldflags '-s -w' -o bin/static/zdml ./cmd/zdml
	local ctx
	ctx=$(fresh_ctx zdml)
	cp bin/static/zdml "$ctx/"
	mkdir -p "$ctx/tmp"
	chmod 1777 "$ctx/tmp"
	build zdml "$ctx" docker/zdml.Dockerfile
}

# copy_with_libs FILE ROOTFS copies an executable and every shared library
# it loads (ldd), at the same paths, following symlinks.
copy_with_libs() {
	local f=$1 rootfs=$2 lib
	install -D -m 0755 "$f" "$rootfs$f"
	for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
		[[ -e $rootfs$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
	done
}

image_nginx() {
	local bin ctx rootfs
	bin=$(command -v nginx || echo /usr/sbin/nginx)
	[[ -x $bin ]] || { log "nginx not found: run make deps"; exit 1; }
	ctx=$(fresh_ctx nginx)
	rootfs=$ctx/rootfs
	copy_with_libs "$(readlink -f "$bin")" "$rootfs"
	[[ $(readlink -f "$bin") == /usr/sbin/nginx ]] || install -D "$rootfs$(readlink -f "$bin")" "$rootfs/usr/sbin/nginx"
	for tool in /bin/dash /bin/mkdir /bin/cp; do copy_with_libs "$(readlink -f "$tool")" "$rootfs"; done
	mkdir -p "$rootfs/bin"
	[[ -e $rootfs/bin/sh ]] || ln -s "$(readlink -f /bin/dash)" "$rootfs/bin/sh"
	for t in mkdir cp; do [[ -e $rootfs/bin/$t ]] || ln -s "$(readlink -f /bin/$t)" "$rootfs/bin/$t"; done
	mkdir -p "$rootfs"/{etc/zdml,tmp,run,var/lib/nginx,var/log/nginx,state/nginx,usr/local/bin}
	chmod 1777 "$rootfs/tmp"
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
	install -m 0644 docker/nginx/bootstrap.conf "$rootfs/etc/zdml/bootstrap.conf"
	install -m 0755 docker/nginx/entrypoint.sh "$rootfs/usr/local/bin/zdml-nginx"
	build nginx "$ctx" docker/nginx.Dockerfile
}

docker version -f '{{.Server.Version}}' >/dev/null || { log "the Docker Engine is unreachable (is dockerd running? DOCKER_HOST=${DOCKER_HOST:-unset})"; exit 1; }
targets=("$@")
((${#targets[@]})) || targets=(nginx zdml modelserver)
for t in "${targets[@]}"; do
	case $t in
	modelserver | zdml | nginx) "image_$t" ;;
	*) log "unknown image $t (want modelserver, zdml or nginx)"; exit 2 ;;
	esac
done
