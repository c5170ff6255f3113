#!/usr/bin/env bash
# deps.sh GROUP... makes sure the Debian packages a make target needs are
# installed. As root it installs what is missing with apt-get; otherwise it
# names what to install and fails.
#   build    C/C++ headers for the llama.cpp build
#   runtime  nginx (the real proxy) and git
#   monitor  prometheus and promtool
#   docker   docker-compose (the compose stack and its tests; images are built from host binaries)
#   kube     the Kubernetes test cluster's node: containerd, runc, the CNI plugins, iptables, conntrack, ip
set -euo pipefail

declare -A need=(
  [build]="g++ nlohmann-json3-dev libstb-dev"
  [runtime]="nginx git"
  [monitor]="prometheus"
  [docker]="docker-compose"
  [kube]="containerd runc containernetworking-plugins iptables conntrack iproute2"
)
# Files that prove a package is present, so a non-Debian machine with the
# same things installed another way passes too.
declare -A probe=(
  [g++]="g++" [nlohmann-json3-dev]="/usr/include/nlohmann/json.hpp" [libstb-dev]="/usr/include/stb/stb_image.h"
  [nginx]="nginx" [git]="git" [prometheus]="promtool" [docker-compose]="docker-compose"
  [containerd]="containerd" [runc]="runc" [containernetworking-plugins]="/usr/lib/cni/bridge"
  [iptables]="iptables" [conntrack]="conntrack" [iproute2]="ip"
)

present() {
  local p=${probe[$1]}
  if [[ $p == /* ]]; then [[ -e $p ]]; else command -v "$p" >/dev/null 2>&1 || [[ -x /usr/sbin/$p ]]; fi
}

missing=()
for group in "$@"; do
  [[ -n ${need[$group]+x} ]] || { echo "deps.sh: unknown group $group" >&2; exit 2; }
  for pkg in ${need[$group]}; do present "$pkg" || missing+=("$pkg"); done
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts a system nginx on :80 after install; this project runs its own.
  if [[ " ${missing[*]} " == *" nginx"* ]]; then
    (service nginx stop || nginx -s quit) >/dev/null 2>&1 || true
  fi
  # Likewise a system prometheus on :9090, where `make monitor` runs its own.
  if [[ " ${missing[*]} " == *" prometheus"* ]]; then
    service prometheus stop >/dev/null 2>&1 || true
  fi
  exit 0
fi
echo "missing packages: ${missing[*]}" >&2
echo "install them with: sudo apt-get install ${missing[*]}" >&2
exit 1
