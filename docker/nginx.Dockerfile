# nginx built without pulling: docker/images.sh assembles a root filesystem
# from this machine's nginx binary and the shared libraries it links (ldd),
# plus dash and mkdir/cp for the entrypoint.
FROM scratch
COPY rootfs/ /
# nginx finishes in-flight requests on SIGQUIT (SIGTERM is its fast stop).
ENTRYPOINT ["/bin/sh", "/usr/local/bin/zdml-nginx"]
STOPSIGNAL SIGQUIT
