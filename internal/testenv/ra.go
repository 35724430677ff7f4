package testenv

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// SendRouterAdvertisements sends IPv6 router advertisements on iface inside
// n until the test ends: once a second and in answer to every router
// solicitation. They advertise no prefix, no DHCPv6 (M and O clear) and a
// router lifetime of 0, which is enough for iPXE to finish IPv6
// autoconfiguration at once instead of waiting ~13 s for a router.
func SendRouterAdvertisements(t testing.TB, n *Netns, iface string) {
	t.Helper()
	var c *icmp.PacketConn
	var ifi *net.Interface
	err := n.Do(func() (err error) {
		if ifi, err = net.InterfaceByName(iface); err != nil {
			return err
		}
		c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	})
	if err != nil {
		t.Fatalf("router advertisements on %s in %s: %v", iface, n.Name, err)
	}
	p := c.IPv6PacketConn()
	_ = p.SetMulticastHopLimit(255) // RFC 4861: hop limit 255 or receivers drop it
	_ = p.SetHopLimit(255)
	_ = p.SetMulticastInterface(ifi)
	_ = p.SetControlMessage(ipv6.FlagInterface, true)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	_ = p.SetICMPFilter(&f)

	body := []byte{64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // hop limit 64, flags 0, lifetime 0, reachable 0, retrans 0
	if len(ifi.HardwareAddr) == 6 {
		body = append(body, 1, 1) // source link-layer address option
		body = append(body, ifi.HardwareAddr...)
	}
	msg, _ := (&icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}).Marshal(nil)
	// A numeric zone: a name would be resolved in the calling thread's namespace.
	dst := &net.IPAddr{IP: net.IPv6linklocalallnodes, Zone: strconv.Itoa(ifi.Index)}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		next := time.Now()
		for ctx.Err() == nil {
			if time.Now().After(next) {
				_, _ = p.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255}, dst)
				next = time.Now().Add(time.Second)
			}
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			nr, cm, src, err := p.ReadFrom(buf)
			if err == nil && nr > 0 && buf[0] == byte(ipv6.ICMPTypeRouterSolicitation) && (cm == nil || cm.IfIndex == ifi.Index) {
				// Answer at once, unicast too (RFC 4861 6.2.6): some UEFI SNP
				// drivers filter the all-nodes multicast.
				if ua, ok := src.(*net.IPAddr); ok && !ua.IP.IsUnspecified() {
					_, _ = p.WriteTo(msg, &ipv6.ControlMessage{IfIndex: ifi.Index, HopLimit: 255}, &net.IPAddr{IP: ua.IP, Zone: strconv.Itoa(ifi.Index)})
				}
				next = time.Now()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		c.Close()
	})
}
