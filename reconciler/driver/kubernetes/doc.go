// Package kubernetes is the Kubernetes runtime (runtime: kubernetes): each
// color is a Deployment <app>-<color> of one model-server pod, reached by
// the reconciler through its own Service <app>-<color> and the API
// server's service proxy (no cluster networking needed), and the traffic
// swap is the selector of one stable Service, moved from one color to the
// other (Router). Everything is done through client-go; objects are owned
// by label (app.kubernetes.io/managed-by=zdml, app.kubernetes.io/instance=
// <app>), so a restarted reconciler recovers from the cluster's objects,
// as Argo Rollouts does. docs/kubernetes.md describes the objects and the
// RBAC (rbac.yaml) the driver needs.
package kubernetes
