#!/bin/sh
# build.sh builds the kubelet named by this module's go.mod and caches it under
# ${XDG_CACHE_HOME:-$HOME/.cache}/vipd/kubelet-<version>, keyed by version.
# It prints the cached path on stdout; a second run prints it at once.
# Takes about 8 minutes on 2 cores the first time.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ { print $2; exit }' "$here/go.mod")
[ -n "$version" ] || { echo "build.sh: no k8s.io/kubernetes version in $here/go.mod" >&2; exit 1; }

cache=${XDG_CACHE_HOME:-$HOME/.cache}/vipd
out=$cache/kubelet-$version
if [ -x "$out" ] && "$out" --version >/dev/null 2>&1; then
	echo "$out"
	exit 0
fi
mkdir -p "$cache"

# The version variables are those the upstream Makefile sets (hack/lib/version.sh);
# kubelet --version and the node status report them.
pkg=k8s.io/component-base/version
minor=$(echo "$version" | cut -d. -f2)
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$version"

tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
echo "build.sh: building kubelet $version (several minutes)" >&2
start=$(date +%s)
(cd "$here" && CGO_ENABLED=0 GOWORK=off go build -trimpath -tags providerless \
	-ldflags "$ldflags" -o "$tmp" .)
mv "$tmp" "$out"
echo "build.sh: built $out in $(( $(date +%s) - start ))s" >&2
echo "$out"
