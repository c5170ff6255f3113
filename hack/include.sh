#!/usr/bin/env bash
# include.sh CACHE copies third_party/include (the headers the llama.cpp cgo
# build needs that its module zip lacks) to CACHE/include/<content hash> once
# and prints that directory. The path is part of the cgo flags, so a path
# that depends only on the content lets every checkout share one build.
set -euo pipefail
src=$(cd "$(dirname "$0")/../third_party/include" && pwd)
hash=$(cd "$src" && find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
dst=$1/include/$hash
if [[ ! -d $dst ]]; then
  mkdir -p "$1/include"
  tmp=$(mktemp -d "$1/include/.tmp.XXXXXX")
  cp -R "$src/." "$tmp/"
  mv -T "$tmp" "$dst" 2>/dev/null || rm -rf "$tmp" # another make won the race
fi
echo "$dst"
