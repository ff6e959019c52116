//go:build tools

// Package kube pins the upstream Kubernetes commands that build.sh builds, so
// that `go mod tidy` keeps their requirements. A main package cannot be
// imported for real; the tools build tag keeps this file out of every build.
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
