# The model-server image built on this machine without pulling anything:
# docker/images.sh puts a static bin/static/modelserver (llama.cpp linked in)
# into the build context. The user-facing build is the Dockerfile at the root.
FROM scratch
COPY modelserver /modelserver
COPY --chown=65532:65532 data /data
COPY tmp /tmp
USER 65532:65532
EXPOSE 8000
ENTRYPOINT ["/modelserver"]
