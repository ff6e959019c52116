//go:build integration

package integration

// The advert sniffer watches VRRP adverts as the switch sees them: one
// AF_PACKET socket in the switch namespace, on every port, keeping frames a
// host sent into the bridge. It tells the bench when the master last spoke
// (the phase of the advert cycle at which a fault was injected) and lets
// tests check intervals, priorities and priority-0 adverts on the wire.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// vrrpProto is the IP protocol number of VRRP (RFC 9568 §5.1.1.4).
const vrrpProto = 112

// wireAdvert is one advert seen by the switch.
type wireAdvert struct {
	At       time.Time
	Host     string // sender, by bridge port
	Src      netip.Addr
	Dst      netip.Addr // the group, or a peer for unicast VRRP
	Version  int
	VRID     int
	Priority int
	Interval time.Duration // Max Adver Int (v3, centiseconds) or Adver Int (v2, seconds)
}

type advertSniffer struct {
	f       *os.File
	ports   map[int]string // ifindex in the switch namespace -> host name
	mu      sync.Mutex
	adverts []wireAdvert
	done    chan struct{}
}

// sniff returns the lab's advert sniffer, starting it on first use.
func (l *lab) sniff() *advertSniffer {
	l.t.Helper()
	l.mu.Lock()
	s := l.sniffer
	l.mu.Unlock()
	if s != nil {
		return s
	}
	s = &advertSniffer{ports: map[int]string{}, done: make(chan struct{})}
	err := inNetns(l.sw, func() error {
		for _, n := range l.nodes() {
			ifi, err := net.InterfaceByName(n.Port)
			if err != nil {
				return err
			}
			s.ports[ifi.Index] = n.Name
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC,
			int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL)}); err != nil {
			unix.Close(fd)
			return err
		}
		s.f = os.NewFile(uintptr(fd), "sniffer")
		return nil
	})
	if err != nil {
		l.t.Fatalf("harness: sniffer: %v", err)
	}
	go s.loop()
	l.mu.Lock()
	l.sniffer = s
	l.mu.Unlock()
	l.onTeardown(func() { s.f.Close(); <-s.done })
	return s
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (s *advertSniffer) loop() {
	defer close(s.done)
	rc, err := s.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 2048)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		// Keep frames entering the bridge from a host; skip the copies the
		// bridge floods out of the other ports.
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		host, ok := s.ports[ll.Ifindex]
		if !ok {
			continue
		}
		if a, ok := parseAdvert(buf[:n], ntohs(ll.Protocol)); ok {
			a.At, a.Host = time.Now(), host
			s.mu.Lock()
			s.adverts = append(s.adverts, a)
			s.mu.Unlock()
		}
	}
}

func ntohs(v uint16) uint16 { return htons(v) }

// parseAdvert reads the few VRRP fields the harness needs from an IP packet.
// It is deliberately independent of package vrrp: it is the test's own view.
func parseAdvert(b []byte, ethType uint16) (wireAdvert, bool) {
	var a wireAdvert
	var vr []byte
	switch ethType {
	case unix.ETH_P_IP:
		if len(b) < 20 || b[0]>>4 != 4 {
			return a, false
		}
		ihl := int(b[0]&0x0f) * 4
		if b[9] != vrrpProto || len(b) < ihl+8 || ihl < 20 {
			return a, false
		}
		a.Src = netip.AddrFrom4([4]byte(b[12:16]))
		a.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		vr = b[ihl:]
	case unix.ETH_P_IPV6:
		if len(b) < 40+8 || b[6] != vrrpProto {
			return a, false
		}
		a.Src = netip.AddrFrom16([16]byte(b[8:24]))
		a.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		vr = b[40:]
	default:
		return a, false
	}
	a.Version = int(vr[0] >> 4)
	if vr[0]&0x0f != 1 { // Type 1 = ADVERTISEMENT
		return a, false
	}
	a.VRID, a.Priority = int(vr[1]), int(vr[2])
	switch a.Version {
	case 3:
		a.Interval = time.Duration(binary.BigEndian.Uint16(vr[4:6])&0x0fff) * 10 * time.Millisecond
	case 2:
		a.Interval = time.Duration(vr[5]) * time.Second
	default:
		return a, false
	}
	return a, true
}

// Adverts returns the adverts seen so far.
func (s *advertSniffer) Adverts() []wireAdvert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wireAdvert(nil), s.adverts...)
}

// Last returns the latest advert host sent for vrid (ok false if none).
func (s *advertSniffer) Last(host string, vrid int) (wireAdvert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.adverts) - 1; i >= 0; i-- {
		if a := s.adverts[i]; a.Host == host && a.VRID == vrid {
			return a, true
		}
	}
	return wireAdvert{}, false
}

// Since returns the adverts seen at or after t.
func (s *advertSniffer) Since(t time.Time) []wireAdvert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []wireAdvert
	for _, a := range s.adverts {
		if !a.At.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

func (a wireAdvert) String() string {
	return strings.Join([]string{a.At.Format("15:04:05.000"), a.Host, a.Src.String(),
		fmt.Sprintf("v%d vrid=%d prio=%d int=%v", a.Version, a.VRID, a.Priority, a.Interval)}, " ")
}
