//go:build tools

// Package vipd pins dependencies during bootstrap.
package vipd

import (
	_ "github.com/mdlayher/arp"
	_ "github.com/mdlayher/ndp"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/pflag"
	_ "github.com/vishvananda/netlink"
	_ "golang.org/x/net/ipv4"
	_ "golang.org/x/net/ipv6"
	_ "sigs.k8s.io/yaml"
)
