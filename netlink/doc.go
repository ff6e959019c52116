// Package netlink adds and removes vipd's virtual IP addresses and reports link
// state over rtnetlink, as described in RFC 3549.
package netlink
