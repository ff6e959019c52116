// Package arp announces a virtual IP address on its link: IPv4 with gratuitous
// ARP (RFC 826, announced as in RFC 5227 §3), IPv6 with an unsolicited Neighbor
// Advertisement (RFC 4861 §7.2.6).
package arp
