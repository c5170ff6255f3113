package kubernetes

import _ "embed"

// RBAC is the ServiceAccount, Role and RoleBinding the driver needs in its
// namespace (rbac.yaml; docs/kubernetes.md shows it): apply it with
// kubectl apply -n <namespace> -f -.
//
//go:embed rbac.yaml
var RBAC string

// Reconciler is the ConfigMap (desired.yaml) and Deployment that run zdml's
// reconciler in the cluster as rbac.yaml's ServiceAccount
// (reconciler.yaml): kubectl apply -n <namespace> -f -.
//
//go:embed reconciler.yaml
var Reconciler string
