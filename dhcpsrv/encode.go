package dhcpsrv

import (
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// encodeReply is dhcpv4.(*DHCPv4).ToBytes for the replies this server
// builds, without its per-call sort and buffer growth (a fifth of the
// packet path's CPU): options in ascending code order, option 82 last
// (RFC 3046), long values split per RFC 3396, padded to the BOOTP minimum
// of 300 bytes. The fuzz and decision tests parse every reply back.
func encodeReply(d *dhcpv4.DHCPv4) []byte {
	size := 240 + 1
	for _, v := range d.Options {
		size += 2*(len(v)/255+1) + len(v)
	}
	b := make([]byte, 240, max(size, 300))
	b[0], b[1], b[2], b[3] = byte(d.OpCode), byte(d.HWType), byte(min(len(d.ClientHWAddr), 16)), d.HopCount
	copy(b[4:8], d.TransactionID[:])
	b[8], b[9] = byte(d.NumSeconds>>8), byte(d.NumSeconds)
	b[10], b[11] = byte(d.Flags>>8), byte(d.Flags)
	putIP(b[12:16], d.ClientIPAddr)
	putIP(b[16:20], d.YourIPAddr)
	putIP(b[20:24], d.ServerIPAddr)
	putIP(b[24:28], d.GatewayIPAddr)
	copy(b[28:44], d.ClientHWAddr)
	copy(b[44:44+63], d.ServerHostName)
	copy(b[108:108+127], d.BootFileName)
	b[236], b[237], b[238], b[239] = 99, 130, 83, 99
	// Codes in ascending order without sorting: a presence bitmap.
	var present [4]uint64
	for k := range d.Options {
		present[k/64] |= 1 << (k % 64)
	}
	for c := 1; c < 255; c++ {
		if present[c/64]&(1<<(c%64)) == 0 || c == 82 {
			continue
		}
		b = appendOpt(b, byte(c), d.Options[byte(c)])
	}
	if v, ok := d.Options[82]; ok {
		b = appendOpt(b, 82, v)
	}
	b = append(b, 255)
	for len(b) < 300 {
		b = append(b, 0)
	}
	return b
}

func appendOpt(b []byte, code byte, v []byte) []byte {
	if len(v) == 0 {
		return append(b, code, 0)
	}
	for len(v) > 0 {
		n := min(len(v), 255)
		b = append(b, code, byte(n))
		b = append(b, v[:n]...)
		v = v[n:]
	}
	return b
}

func putIP(dst []byte, ip net.IP) {
	if v4 := ip.To4(); v4 != nil {
		copy(dst, v4)
	}
}
