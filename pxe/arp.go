package pxe

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ARPTable looks ip up in the kernel's IPv4 neighbour table
// (/proc/net/arp of the calling thread's network namespace): a MAC lookup
// for WithMACLookup when nothing better (the DHCP lease table) is at hand.
// It returns nil when the address is not there.
func ARPTable(ip netip.Addr) net.HardwareAddr {
	f, err := os.Open("/proc/net/arp")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseARP(bufio.NewScanner(f), ip)
}

// parseARP reads /proc/net/arp's format:
// "IP address  HW type  Flags  HW address  Mask  Device".
func parseARP(sc *bufio.Scanner, ip netip.Addr) net.HardwareAddr {
	want := ip.Unmap().String()
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[0] != want || f[2] == "0x0" {
			continue // header, other address, or incomplete entry
		}
		if m, err := net.ParseMAC(f[3]); err == nil {
			return m
		}
	}
	return nil
}
