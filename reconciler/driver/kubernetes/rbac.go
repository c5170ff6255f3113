package kubernetes

import _ "embed"

// RBAC is the ServiceAccount, Role and RoleBinding the driver needs in its
// namespace (rbac.yaml; docs/kubernetes.md shows it): apply it with
// kubectl apply -n <namespace> -f -.
//
//go:embed rbac.yaml
var RBAC string
