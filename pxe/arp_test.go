package pxe

import (
	"bufio"
	"net/netip"
	"strings"
	"testing"
)

func TestParseARP(t *testing.T) {
	const table = `IP address       HW type     Flags       HW address            Mask     Device
10.0.0.7         0x1         0x2         52:54:00:12:34:56     *        eth0
10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        eth0
`
	for ip, want := range map[string]string{"10.0.0.7": "52:54:00:12:34:56", "10.0.0.8": "", "10.0.0.9": ""} {
		got := parseARP(bufio.NewScanner(strings.NewReader(table)), netip.MustParseAddr(ip))
		if macString(got) != want {
			t.Errorf("%s: %q, want %q", ip, macString(got), want)
		}
	}
	// The real table: loopback is never in it.
	if m := ARPTable(netip.MustParseAddr("127.0.0.1")); m != nil {
		t.Errorf("127.0.0.1 in the ARP table: %v", m)
	}
}
