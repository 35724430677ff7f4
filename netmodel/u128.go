package netmodel

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// u128 is an address as a 128-bit unsigned integer, so the allocator does
// interval arithmetic on IPv4 and IPv6 alike. IPv4 addresses occupy the low
// 32 bits; the family is kept by the caller (the subnet's).
type u128 struct{ hi, lo uint64 }

func fromAddr(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	return from16(a)
}

// from16 is fromAddr for an IPv6 address (or any address as IPv6); small
// enough to inline into the IPv6 sweep.
func from16(a netip.Addr) u128 {
	b := a.As16()
	return u128{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

func (u u128) addr(is4 bool) netip.Addr {
	if is4 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(u.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], u.hi)
	binary.BigEndian.PutUint64(b[8:], u.lo)
	return netip.AddrFrom16(b)
}

func (u u128) less(v u128) bool { return u.hi < v.hi || (u.hi == v.hi && u.lo < v.lo) }

func (u u128) compare(v u128) int {
	switch {
	case u.less(v):
		return -1
	case v.less(u):
		return 1
	}
	return 0
}

func (u u128) addOne() u128 {
	lo, carry := bits.Add64(u.lo, 1, 0)
	return u128{hi: u.hi + carry, lo: lo}
}

func (u u128) subOne() u128 {
	lo, borrow := bits.Sub64(u.lo, 1, 0)
	return u128{hi: u.hi - borrow, lo: lo}
}

func (u u128) sub(v u128) u128 {
	lo, borrow := bits.Sub64(u.lo, v.lo, 0)
	return u128{hi: u.hi - v.hi - borrow, lo: lo}
}

// bounds returns the first and last address of a (masked) prefix.
func bounds(p netip.Prefix) (first, last u128) {
	p = p.Masked()
	first = fromAddr(p.Addr())
	width := 128
	if p.Addr().Is4() {
		width = 32
	}
	host := width - p.Bits() // host bits, 0–128
	switch {
	case host == 0:
		last = first
	case host < 64:
		last = u128{hi: first.hi, lo: first.lo | (1<<host - 1)}
	case host == 64:
		last = u128{hi: first.hi, lo: ^uint64(0)}
	default:
		last = u128{hi: first.hi | (1<<(host-64) - 1), lo: ^uint64(0)}
	}
	return first, last
}
