#!/bin/sh
# not only the apiserver: stays an exec check
ETCDCTL_API=3 etcdctl endpoint health || exit 1
