// Package kubernetes holds no code: its test decodes the manifests of this directory strictly
// with the Kubernetes API types, offline. It is a module of its own so that the monitor's
// module does not depend on k8s.io/api.
package kubernetes
