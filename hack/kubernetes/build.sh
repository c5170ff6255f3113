#!/usr/bin/env bash
# build.sh makes sure the Kubernetes test cluster's binaries are built and
# prints the directory that holds them. The binaries are cached outside the
# checkout, keyed by the Kubernetes version and a hash of this module's
# go.mod, go.sum, the build flags and the Go version, so only the first build
# on a machine pays:
#   ${ZDML_CACHE:-$HOME/.cache/zdml}/kubernetes/v1.34.4-<hash>/bin/
# One go build compiles kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy and etcd (they share most packages).
# A lock file makes two builds at once (two test binaries, two make runs)
# wait for each other: the second one finds the first one's binaries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

kube_version=v1.34.4
major=1 minor=34
pkgs=(
  k8s.io/kubernetes/cmd/kube-apiserver
  k8s.io/kubernetes/cmd/kube-controller-manager
  k8s.io/kubernetes/cmd/kube-scheduler
  k8s.io/kubernetes/cmd/kubelet
  k8s.io/kubernetes/cmd/kube-proxy
  go.etcd.io/etcd/server/v3
)
binaries=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy etcd)

# A module-proxy build reports v0.0.0-master+$Format:%H$: stamp the release.
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

export GOWORK=off CGO_ENABLED=0 GOFLAGS=-buildvcs=false
unset CGO_CFLAGS CGO_CPPFLAGS CGO_CXXFLAGS
hash=$( { cat go.mod go.sum; echo "$ldflags ${pkgs[*]}"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-12)
dir=${ZDML_CACHE:-$HOME/.cache/zdml}/kubernetes/$kube_version-$hash
bin=$dir/bin

complete() {
  local b
  for b in "${binaries[@]}"; do [[ -x $bin/$b ]] || return 1; done
}

if complete; then echo "$bin"; exit 0; fi
mkdir -p "$dir"
exec 9>"$dir/build.lock"
if ! flock -n 9; then
  echo "kube-binaries: another build of $dir is running; waiting for it" >&2
  flock 9
fi
if complete; then echo "$bin"; exit 0; fi

tmp=$(mktemp -d "$dir/bin.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "kube-binaries: building Kubernetes $kube_version and etcd into $bin (first time on this machine: ~17 min on 2 shared cores)" >&2
start=$(date +%s)
/usr/bin/time -f 'peak RSS %M KiB, %e s wall, %U s user' -o "$tmp/time" \
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}" >&2
mv "$tmp/server" "$tmp/etcd" # go build names go.etcd.io/etcd/server/v3 after "server"
complete_tmp=1
for b in "${binaries[@]}"; do [[ -x $tmp/$b ]] || { echo "kube-binaries: $b was not built" >&2; complete_tmp=0; }; done
((complete_tmp)) || exit 1
echo "kube-binaries: built in $(($(date +%s) - start)) s: $(cat "$tmp/time")" >&2
{ date -u +%FT%TZ; cat "$tmp/time"; go env GOVERSION; } >"$dir/build.log"
rm -f "$tmp/time"
rm -rf "$bin"
mv -T "$tmp" "$bin"
trap - EXIT
echo "$bin"
