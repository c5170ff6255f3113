# The reconciler image (zdml, pure Go, static) built without pulling.
FROM scratch
COPY zdml /zdml
COPY tmp /tmp
ENTRYPOINT ["/zdml"]
