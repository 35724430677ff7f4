package pxe

import (
	"bufio"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const arpTable = `IP address       HW type     Flags       HW address            Mask     Device
10.0.0.70        0x1         0x2         52:54:00:00:00:70     *        eth0
10.0.0.7         0x1         0x2         52:54:00:12:34:56     *        eth0
10.0.0.8         0x1         0x0         00:00:00:00:00:00     *        eth0
10.0.0.9         0x1         0x2         not-a-mac             *        eth0
`

var arpWant = map[string]string{
	"10.0.0.7": "52:54:00:12:34:56", "10.0.0.70": "52:54:00:00:00:70",
	"10.0.0.8": "", "10.0.0.9": "", "10.0.0.1": "", "::ffff:10.0.0.7": "52:54:00:12:34:56",
}

func TestParseARP(t *testing.T) {
	for ip, want := range arpWant {
		got := parseARP(bufio.NewScanner(strings.NewReader(arpTable)), netip.MustParseAddr(ip))
		if macString(got) != want {
			t.Errorf("parseARP %s: %q, want %q", ip, macString(got), want)
		}
		got = readARP(strings.NewReader(arpTable))[netip.MustParseAddr(ip).Unmap()]
		if macString(got) != want {
			t.Errorf("readARP %s: %q, want %q", ip, macString(got), want)
		}
	}
	// The real table: loopback is never in it.
	if m := ARPTable(netip.MustParseAddr("127.0.0.1")); m != nil {
		t.Errorf("127.0.0.1 in the ARP table: %v", m)
	}
	if m := NewARPCache().Lookup(netip.MustParseAddr("127.0.0.1")); m != nil {
		t.Errorf("127.0.0.1 in the cached ARP table: %v", m)
	}
}

func TestARPCache(t *testing.T) {
	now := time.Unix(1000, 0)
	table, reads := arpTable, 0
	c := &ARPCache{MaxAge: 10 * time.Second, MissAge: time.Second,
		Read: func() (io.ReadCloser, error) {
			reads++
			return io.NopCloser(strings.NewReader(table)), nil
		},
		Now: func() time.Time { return now },
	}
	ip7, ip1 := netip.MustParseAddr("10.0.0.7"), netip.MustParseAddr("10.0.0.1")
	steps := []struct {
		name    string
		advance time.Duration
		ip      netip.Addr
		want    string
		reads   int
	}{
		{"first lookup reads", 0, ip7, "52:54:00:12:34:56", 1},
		{"miss within MissAge: no read", 500 * time.Millisecond, ip1, "", 1},
		{"hit within MaxAge: no read", 5 * time.Second, ip7, "52:54:00:12:34:56", 1},
		{"miss after MissAge re-reads", 0, ip1, "", 2},
		{"a new neighbour, missed within MissAge", 500 * time.Millisecond, ip1, "", 2},
		{"miss after MissAge sees the new neighbour", time.Second, ip1, "52:54:00:aa:bb:cc", 3},
		{"hit within MaxAge keeps the old MAC", 9 * time.Second, ip7, "52:54:00:12:34:56", 3},
		{"hit after MaxAge re-reads", 2 * time.Second, ip7, "52:54:00:99:99:99", 4},
		{"IPv4-mapped address", 0, netip.MustParseAddr("::ffff:10.0.0.7"), "52:54:00:99:99:99", 4},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if s.name == "a new neighbour, missed within MissAge" {
			table += "10.0.0.1         0x1         0x2         52:54:00:aa:bb:cc     *        eth0\n"
		}
		if s.name == "hit within MaxAge keeps the old MAC" {
			table = strings.Replace(table, "52:54:00:12:34:56", "52:54:00:99:99:99", 1)
		}
		if got := macString(c.Lookup(s.ip)); got != s.want || reads != s.reads {
			t.Fatalf("%s: got %q after %d reads, want %q after %d", s.name, got, reads, s.want, s.reads)
		}
	}
}
