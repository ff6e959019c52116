// Stub: k8s.io/kubernetes requires k8s.io/sample-apiserver, which the control-plane binaries never
// imports and which the module proxy does not serve at v0.31.4.
module k8s.io/sample-apiserver

go 1.22.0
