#!/bin/sh
# build.sh builds what the kubeadm integration test (integration/kubeadm_test.go,
# docs/kubeadm-test.md) runs, from the Go module proxy, and caches it under
# ${XDG_CACHE_HOME:-$HOME/.cache}/vipd, keyed by version:
#
#   kube-<k8s>/bin/   kubeadm kube-apiserver kube-controller-manager kube-scheduler kubectl
#   etcd-<etcd>/bin/  etcd etcdctl
#   kube-<k8s>/images/*.tar  FROM-scratch OCI archives with the references kubeadm
#                     pulls (registry.k8s.io/kube-apiserver:<k8s>, ..., etcd:<etcd>-0,
#                     pause:3.10), each binary at /<name> (the image PATH is /)
#
# A warm cache builds nothing. It prints the kube-<k8s> directory on stdout.
# First run: about 5 minutes on 2 cores (2 when the kubelet's build cache is warm).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }
	$1 == "require" && $2 == "k8s.io/kubernetes" { print $3; exit }' "$here/go.mod")
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ { print $2; exit }' "$here/etcd/go.mod")
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes version in $here/go.mod" >&2; exit 1; }
[ -n "$etcd_version" ] || { echo "build.sh: no go.etcd.io/etcd/server/v3 version in $here/etcd/go.mod" >&2; exit 1; }
# kubeadm v1.31 deploys etcd <version>-0 and pause 3.10
# (cmd/kubeadm/app/constants/constants.go: SupportedEtcdVersion, PauseVersion).
etcd_tag=${etcd_version#v}-0
pause_tag=3.10

cache=${XDG_CACHE_HOME:-$HOME/.cache}/vipd
kube=$cache/kube-$version
etcd=$cache/etcd-$etcd_version
cmds="kubeadm kube-apiserver kube-controller-manager kube-scheduler kubectl"
mkdir -p "$cache"
tmp=
trap 'if [ -n "$tmp" ]; then rm -rf "$tmp"; fi' EXIT

# The version variables are those the upstream Makefile sets (hack/lib/version.sh);
# kubeadm refuses a control plane newer than itself, so they must be right.
kube_ok() {
	for c in $cmds; do [ -x "$kube/bin/$c" ] || return 1; done
	[ "$("$kube/bin/kubeadm" version -o short 2>/dev/null)" = "$version" ]
}
if ! kube_ok; then
	pkg=k8s.io/component-base/version
	minor=$(echo "$version" | cut -d. -f2)
	ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags="$ldflags -X $pkg.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$version"
	ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
	tmp=$kube.tmp.$$
	mkdir -p "$tmp/bin"
	echo "build.sh: building $cmds $version (several minutes)" >&2
	start=$(date +%s)
	pkgs=
	for c in $cmds; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
	(cd "$here" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath -tags providerless \
		-ldflags "$ldflags" -o "$tmp/bin/" $pkgs)
	rm -rf "$kube/bin" && mkdir -p "$kube" && mv "$tmp/bin" "$kube/bin"
	rm -rf "$tmp"; tmp=
	echo "build.sh: built $kube/bin in $(( $(date +%s) - start ))s" >&2
fi

etcd_ok() {
	[ -x "$etcd/bin/etcdctl" ] &&
		"$etcd/bin/etcd" --version 2>/dev/null | grep -q "^etcd Version: ${etcd_version#v}\$"
}
if ! etcd_ok; then
	tmp=$etcd.tmp.$$
	mkdir -p "$tmp/bin"
	echo "build.sh: building etcd and etcdctl $etcd_version" >&2
	start=$(date +%s)
	# The server's main package is go.etcd.io/etcd/server/v3, which go build names "server".
	(cd "$here/etcd" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath \
		-ldflags "-s -w" -o "$tmp/bin/etcd" go.etcd.io/etcd/server/v3 &&
		CGO_ENABLED=0 GOWORK=off GOFLAGS=-mod=mod go build -trimpath \
		-ldflags "-s -w" -o "$tmp/bin/etcdctl" go.etcd.io/etcd/etcdctl/v3)
	rm -rf "$etcd/bin" && mkdir -p "$etcd" && mv "$tmp/bin" "$etcd/bin"
	rm -rf "$tmp"; tmp=
	echo "build.sh: built $etcd/bin in $(( $(date +%s) - start ))s" >&2
fi

# Images: rebuilt only when missing or older than their binary (packing is ~2 s each).
# The stamp names the exact inputs so a changed version can never reuse an archive.
img=$kube/images
mkdir -p "$img"
pack() { # pack NAME REF DST=SRC...
	name=$1 ref=$2; shift 2
	out=$img/$name.tar
	stale=
	[ -s "$out" ] && [ "$(cat "$out.ref" 2>/dev/null)" = "$ref" ] || stale=1
	for a in "$@"; do [ -n "$stale" ] || [ "${a#*=}" -ot "$out" ] || stale=1; done
	[ -n "$stale" ] || return 0
	set -- $(for a in "$@"; do echo "-add $a"; done)
	(cd "$root" && GOWORK=off go run ./hack/mkimage -o "$out.tmp" -ref "$ref" \
		-entrypoint "/$name" "$@")
	mv "$out.tmp" "$out"
	echo "$ref" > "$out.ref"
	echo "build.sh: packed $ref" >&2
}
for c in kube-apiserver kube-controller-manager kube-scheduler; do
	pack "$c" "registry.k8s.io/$c:$version" "/$c=$kube/bin/$c"
done
pack etcd "registry.k8s.io/etcd:$etcd_tag" "/etcd=$etcd/bin/etcd" "/etcdctl=$etcd/bin/etcdctl"
if [ ! -x "$img/pause.bin" ] || [ "$root/hack/pause/main.go" -nt "$img/pause.bin" ]; then
	(cd "$root" && CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags '-s -w' -o "$img/pause.bin" ./hack/pause)
fi
pack pause "registry.k8s.io/pause:$pause_tag" "/pause=$img/pause.bin"
echo "$kube"
