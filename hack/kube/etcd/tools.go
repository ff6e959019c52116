//go:build tools

// Package etcd pins the etcd server and etcdctl commands that ../build.sh
// builds, so that `go mod tidy` keeps their requirements.
package etcd

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
	_ "go.etcd.io/etcd/server/v3"
)
