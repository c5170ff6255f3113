#!/bin/sh
# zdml-nginx: runs nginx in the foreground on a zdml config directory. Every
# path in a zdml-rendered config is relative to the directory (nginx -p), so
# the same file serves as a local process and here. Before the reconciler
# has rendered a config, a bootstrap one answers 503 so the stack can start
# in any order; the reconciler replaces it with a tested, verified reload.
set -eu
dir=${ZDML_NGINX_DIR:-/state/nginx}
mkdir -p "$dir/logs" "$dir/temp"
if [ ! -f "$dir/nginx.conf" ]; then
	cp /etc/zdml/bootstrap.conf "$dir/nginx.conf"
fi
exec /usr/sbin/nginx -p "$dir/" -e logs/error.log -c "$dir/nginx.conf" -g "daemon off; user root;"
