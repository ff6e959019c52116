// Package manifests renders how vipd is installed on a control-plane node:
// a kubelet static pod manifest (placed in /etc/kubernetes/manifests before
// `kubeadm init`) or a systemd unit.
//
// Both give vipd exactly what VRRP (RFC 9568) and the announcements need and
// nothing more: CAP_NET_ADMIN (addresses, via rtnetlink), CAP_NET_RAW (the
// IPPROTO_VRRP and packet sockets) and CAP_NET_BROADCAST; no kubeconfig and
// no service account token. The arguments are vipd's flags as the operator
// gave them, quoted so that any string survives: YAML marshalling for the
// pod, systemd's quoting rules for the unit.
package manifests
