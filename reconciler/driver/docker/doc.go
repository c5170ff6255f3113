// Package docker is the Docker runtime's driver: each color is a container
// (<prefix>-blue, <prefix>-green) created through the Docker Engine API from
// a locally built image, owned by label so that a restarted reconciler
// adopts its own containers and removes only its own orphans, with the
// models bind-mounted read-only and the chat history in a shared volume.
// Every API call goes through internal/dockercall's timeout and retries.
package docker
