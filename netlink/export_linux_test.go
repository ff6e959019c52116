package netlink

import "github.com/vishvananda/netlink/nl"

func nativePut(b []byte, v uint32)   { nl.NativeEndian().PutUint32(b, v) }
func nativePut16(b []byte, v uint16) { nl.NativeEndian().PutUint16(b, v) }
