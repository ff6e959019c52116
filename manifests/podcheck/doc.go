// Package podcheck holds only a test: it decodes vipd's rendered static pod
// manifests (../testdata/pod-*.golden) strictly into the Kubernetes core/v1
// Pod. It is a module of its own so that k8s.io/api never enters vipd's
// go.mod or binary; run it with `cd manifests/podcheck && go test ./...`.
package podcheck
