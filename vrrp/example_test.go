package vrrp_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vipd/vipd/vrrp"
)

// A router sends an advertisement and a peer checks it as RFC 9568 §7.1 says.
func Example() {
	vip := netip.MustParseAddr("192.0.2.100")
	src := netip.MustParseAddr("192.0.2.11")

	// Send: one buffer, reused for every advertisement.
	buf := make([]byte, 0, vrrp.MaxLen)
	adv := vrrp.Advertisement{
		Version:   3,
		Type:      vrrp.TypeAdvertisement,
		VRID:      51,
		Priority:  150,
		Interval:  time.Second,
		Addresses: []netip.Addr{vip},
	}
	buf, err := adv.AppendBinary(buf[:0], src, vrrp.GroupIPv4, vrrp.ChecksumPseudoHeader)
	if err != nil {
		panic(err)
	}
	fmt.Printf("sent %x\n", buf)

	// Receive: the socket supplies the IP payload, addresses and TTL.
	exp := vrrp.Expect{Version: 3, VRID: 51, Interval: time.Second, Addresses: []netip.Addr{vip}}
	v := exp.Check(vrrp.Received{Payload: buf, Src: src, Dst: vrrp.GroupIPv4, TTL: 255})
	fmt.Println("drop:", v.Drop, "checksum:", v.Checksum, "priority:", v.Advert.Priority, "interval:", v.Advert.Interval)

	// A packet that was routed on its way is dropped, with the reason.
	v = exp.Check(vrrp.Received{Payload: buf, Src: src, Dst: vrrp.GroupIPv4, TTL: 254})
	fmt.Println("drop:", v.Drop, "err:", v.Err)

	// Output:
	// sent 313396010064d367c0000264
	// drop: none checksum: pseudo-header priority: 150 interval: 1s
	// drop: ttl err: vrrp: TTL is not 255: 254 from 192.0.2.11
}

// Parse verifies the checksum and says which form the sender used.
func ExampleParse() {
	msgOnly := []byte{0x31, 0x33, 0x96, 0x01, 0x00, 0x64, 0x76, 0x02, 0xc0, 0x00, 0x02, 0x64}
	adv, form, err := vrrp.Parse(msgOnly, netip.MustParseAddr("192.0.2.11"), vrrp.GroupIPv4)
	if err != nil {
		panic(err)
	}
	fmt.Println(adv.VRID, adv.Addresses, form)
	// Output:
	// 51 [192.0.2.100] message-only
}
