#!/usr/bin/env bash
# stack.sh VERB drives the docker compose stack for the Makefile:
#   up        nginx + reconciler; the reconciler deploys desired.yaml (committed) as containers
#   up-full   the same plus Prometheus and Grafana
#   wait      wait until the reconciler reports synced, then print its status
#   down      stop the stack; the colors (the reconciler's containers) are removed, data kept
#   logs      follow the active color's log
#   logs-all  follow every container's log (compose services and colors)
#   reset     down, and remove the state and chat history: the next up starts over with blue
#   clean     reset, and remove zdml's images and the image build cache
# Names follow ZDML_PREFIX (zdml) and ZDML_OWNER (zdml-compose), as in docker-compose.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
export PWD
prefix=${ZDML_PREFIX:-zdml}
owner=${ZDML_OWNER:-zdml-compose}
compose=(docker-compose -f docker-compose.yml --profile colors --profile monitoring)
log() { printf 'stack: %s\n' "$*" >&2; }

if command -v docker-compose >/dev/null; then :; elif docker compose version >/dev/null 2>&1; then
	compose=(docker compose -f docker-compose.yml --profile colors --profile monitoring)
else
	log "docker-compose not found: install it (apt-get install docker-compose)"; exit 1
fi

# colors lists the reconciler's color containers (running or not).
colors() { docker ps -aq --filter "label=zdml.owner=$owner" --filter label=zdml.role=modelserver; }

status() { docker exec "$prefix-reconciler" /zdml status "$@"; }

case ${1:-} in
up) docker-compose -f docker-compose.yml up -d ;;
up-full) docker-compose -f docker-compose.yml --profile monitoring up -d ;;
wait)
	for _ in $(seq 1 180); do
		if status --json 2>/dev/null | grep -q '"sync_state": "synced"'; then status; exit 0; fi
		sleep 1
	done
	log "not synced after 3 minutes:"; status || true; docker logs --tail 20 "$prefix-reconciler"; exit 1 ;;
down)
	# The reconciler first, so it does not heal what is being stopped.
	"${compose[@]}" stop reconciler >/dev/null 2>&1 || true
	ids=$(colors)
	if [[ -n $ids ]]; then docker stop -t 40 $ids >/dev/null; docker rm -f $ids >/dev/null; fi
	"${compose[@]}" down ;;
logs)
	active=$(status --json 2>/dev/null | sed -n 's/.*"active_color": "\([a-z]*\)".*/\1/p' | head -1)
	[[ -n $active ]] || { log "no active color (is the stack up? make up)"; exit 1; }
	docker logs -f --tail 50 "$prefix-$active" ;;
logs-all)
	trap 'kill $(jobs -p) 2>/dev/null' EXIT
	for id in $(colors); do
		name=$(docker inspect -f '{{.Name}}' "$id"); docker logs -f --tail 20 "$id" 2>&1 | sed "s|^|${name#/} | |" &
	done
	"${compose[@]}" logs -f --tail 20 ;;
reset)
	"$0" down
	"${compose[@]}" down -v
	vols=$(docker volume ls -q --filter "label=zdml.owner=$owner"); [[ -z $vols ]] || docker volume rm $vols >/dev/null
	log "state and chat history removed: the next make up deploys desired.yaml to blue" ;;
clean)
	"$0" reset
	imgs=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep -E '^zdml/(modelserver|zdml|nginx):' || true)
	[[ -z $imgs ]] || docker image rm $imgs >/dev/null
	rm -rf .cache/images bin/static
	log "containers, volumes and zdml images removed" ;;
*) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
