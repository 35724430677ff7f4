package dhcpsrv

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

var (
	macA = net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0xa}
	macB = net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0xb}
	macR = net.HardwareAddr{0x52, 0x54, 0, 0, 0, 0x99}
	t0   = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func testConfig() Config {
	return Config{
		Subnets: []Subnet{{
			Name: "pxe", Prefix: netip.MustParsePrefix("10.9.0.0/24"), Interface: "eth0",
			ServerAddr: mustAddr("10.9.0.1"),
			Pools:      []Pool{{Start: mustAddr("10.9.0.100"), End: mustAddr("10.9.0.102")}},
			Reservations: []Reservation{{MAC: macR, Addr: mustAddr("10.9.0.50"), Hostname: "node-r",
				Options: []Option{{Code: 224, Value: []byte("host-opt")}}}},
			Routers: []netip.Addr{mustAddr("10.9.0.254")}, DNS: []netip.Addr{mustAddr("10.9.0.53")},
			DomainName: "maas", SearchList: []string{"maas", "example.com"}, NTP: []netip.Addr{mustAddr("10.9.0.1")},
			MTU: 1500, LeaseTime: time.Hour, PXELeaseTime: 10 * time.Minute,
			Options: []Option{{Code: 223, Value: []byte("subnet-opt")}},
			Boot:    Boot{DisabledArchs: []iana.Arch{iana.EFI_ARM32}},
		}, {
			Name: "relayed", Prefix: netip.MustParsePrefix("10.8.0.0/16"), ServerAddr: mustAddr("10.8.0.1"),
			Pools: []Pool{{Start: mustAddr("10.8.1.0"), End: mustAddr("10.8.1.255")}},
		}},
		Boot: Boot{HTTPBase: "http://10.9.0.1:5248/boot/", IPXEScript: "http://10.9.0.1:5248/ipxe/boot.ipxe"},
	}
}

func pkt(t *testing.T, mac net.HardwareAddr, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	p, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pxe(arch iana.Arch, class string) dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) {
		d.UpdateOption(dhcpv4.OptClassIdentifier(class + ":Arch:00000:UNDI:002001"))
		d.UpdateOption(dhcpv4.OptClientArch(arch))
	}
}

func bound(a string, mac net.HardwareAddr, subnet string) Lease {
	return Lease{Addr: mustAddr(a), MAC: mac, Subnet: subnet, State: StateBound, Start: t0.Add(-time.Minute), Expiry: t0.Add(time.Hour)}
}

func TestDecide(t *testing.T) {
	sid := dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 9, 0, 1}))
	want := func(a string) dhcpv4.Modifier {
		return dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(a)))
	}
	tests := []struct {
		name   string
		req    func(t *testing.T) *dhcpv4.DHCPv4
		leases []Lease
		answer func(*dhcpv4.DHCPv4) bool
		check  func(t *testing.T, d decision)
	}{
		{
			name: "discover gets the first free pool address and the subnet options",
			req:  func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDiscover) },
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeOffer, "10.9.0.100")
				r := d.Reply
				if r.ServerIdentifier().String() != "10.9.0.1" || r.Router()[0].String() != "10.9.0.254" ||
					r.DNS()[0].String() != "10.9.0.53" || r.DomainName() != "maas" || r.NTPServers()[0].String() != "10.9.0.1" {
					t.Errorf("standard options wrong: %s", r.Summary())
				}
				if got := r.IPAddressLeaseTime(0); got != time.Hour {
					t.Errorf("lease time %v, want 1h", got)
				}
				if sl := r.DomainSearch(); sl == nil || len(sl.Labels) != 2 || sl.Labels[1] != "example.com" {
					t.Errorf("search list %v", sl)
				}
				if string(r.Options.Get(dhcpv4.GenericOptionCode(223))) != "subnet-opt" || r.Options.Get(dhcpv4.OptionInterfaceMTU) == nil {
					t.Errorf("custom subnet option or MTU missing")
				}
				if r.BootFileName != "" || r.Options.Has(dhcpv4.OptionBootfileName) {
					t.Errorf("non-PXE client got a boot file %q", r.BootFileName)
				}
				if !d.Broadcast || d.Action != actOffer || d.Lease.State != StateOffered {
					t.Errorf("want broadcast offer with hold, got %+v", d)
				}
			},
		},
		{
			name:   "discover skips held addresses",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDiscover) },
			leases: []Lease{bound("10.9.0.100", macB, "pxe")},
			check:  func(t *testing.T, d decision) { expectReply(t, d, dhcpv4.MessageTypeOffer, "10.9.0.101") },
		},
		{
			name:   "returning client gets its previous address back",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDiscover) },
			leases: []Lease{{Addr: mustAddr("10.9.0.102"), MAC: macA, Subnet: "pxe", State: StateExpired, Expiry: t0.Add(-time.Hour)}},
			check:  func(t *testing.T, d decision) { expectReply(t, d, dhcpv4.MessageTypeOffer, "10.9.0.102") },
		},
		{
			name: "reservation gets its address, hostname and per-host option",
			req:  func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macR, dhcpv4.MessageTypeDiscover) },
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeOffer, "10.9.0.50")
				if d.Reply.HostName() != "node-r" || string(d.Reply.Options.Get(dhcpv4.GenericOptionCode(224))) != "host-opt" {
					t.Errorf("reservation options missing: %s", d.Reply.Summary())
				}
			},
		},
		{
			name: "exhausted pool drops",
			req:  func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDiscover) },
			leases: []Lease{bound("10.9.0.100", macB, "pxe"), bound("10.9.0.101", macB, "pxe"),
				{Addr: mustAddr("10.9.0.102"), MAC: macB, Subnet: "pxe", State: StateDeclined, Expiry: t0.Add(time.Minute)}},
			check: func(t *testing.T, d decision) { expectDrop(t, d, DropExhausted) },
		},
		{
			name: "PXE BIOS gets lpxelinux.0 in option 67 and the file field, next-server, short lease",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC, "PXEClient"))
			},
			check: func(t *testing.T, d decision) {
				expectBoot(t, d, "lpxelinux.0", false)
				if got := d.Reply.IPAddressLeaseTime(0); got != 10*time.Minute {
					t.Errorf("PXE lease time %v, want 10m", got)
				}
			},
		},
		{
			name: "UEFI x64 (arch 7) gets the EFI loader",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_X86_64, "PXEClient"))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "bootx64.efi", false) },
		},
		{
			name: "UEFI x64 (arch 9) gets the EFI loader",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_BC, "PXEClient"))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "bootx64.efi", false) },
		},
		{
			name: "arm64 (arch 11) gets the arm64 loader",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_ARM64, "PXEClient"))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "bootaa64.efi", false) },
		},
		{
			name: "x64 HTTP boot (arch 16) gets an absolute URL and HTTPClient echoed",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_X86_64_HTTP, "HTTPClient"))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "http://10.9.0.1:5248/boot/bootx64.efi", true) },
		},
		{
			name: "arm64 HTTP boot (arch 19) gets an absolute URL",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_ARM64_HTTP, "HTTPClient"))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "http://10.9.0.1:5248/boot/bootaa64.efi", true) },
		},
		{
			name: "iPXE (user class) gets the rack's iPXE script, breaking the chainload loop",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC, "PXEClient"), dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "http://10.9.0.1:5248/ipxe/boot.ipxe", false) },
		},
		{
			name: "iPXE (option 175) gets the rack's iPXE script",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_X86_64, "PXEClient"), dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), []byte{1, 1, 1}))
			},
			check: func(t *testing.T, d decision) { expectBoot(t, d, "http://10.9.0.1:5248/ipxe/boot.ipxe", false) },
		},
		{
			name: "disabled architecture gets a lease without boot options",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_ARM32, "PXEClient"))
			},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeOffer, "10.9.0.100")
				if d.Reply.BootFileName != "" || d.Reply.Options.Has(dhcpv4.OptionBootfileName) {
					t.Errorf("disabled arch got boot file %q", d.Reply.BootFileName)
				}
			},
		},
		{
			name: "REQUEST answering our offer is ACKed and committed",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeRequest, sid, want("10.9.0.101"))
			},
			leases: []Lease{{Addr: mustAddr("10.9.0.101"), MAC: macA, Subnet: "pxe", State: StateOffered, Expiry: t0.Add(time.Second)}},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeAck, "10.9.0.101")
				if d.Action != actCommit || d.Event != EventCommit || d.Lease.State != StateBound || !d.Lease.Expiry.Equal(t0.Add(time.Hour)) {
					t.Errorf("want commit of a 1h bound lease, got %+v", d)
				}
			},
		},
		{
			name: "REQUEST for another server's offer frees our hold",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IP{10, 9, 0, 2})), want("10.9.0.77"))
			},
			leases: []Lease{{Addr: mustAddr("10.9.0.101"), MAC: macA, Subnet: "pxe", State: StateOffered, Expiry: t0.Add(time.Second)}},
			check: func(t *testing.T, d decision) {
				expectDrop(t, d, DropNotForUs)
				if d.Action != actUnhold || d.Lease.Addr != mustAddr("10.9.0.101") {
					t.Errorf("want unhold of 10.9.0.101, got %+v", d)
				}
			},
		},
		{
			name: "INIT-REBOOT on the wrong network is NAKed",
			req:  func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeRequest, want("192.168.1.7")) },
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeNak, "0.0.0.0")
				if !d.Broadcast || d.Action != actNone {
					t.Errorf("NAK must be broadcast and change nothing: %+v", d)
				}
			},
		},
		{
			name:   "INIT-REBOOT for another client's address is NAKed",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeRequest, want("10.9.0.100")) },
			leases: []Lease{bound("10.9.0.100", macB, "pxe")},
			check:  func(t *testing.T, d decision) { expectReply(t, d, dhcpv4.MessageTypeNak, "0.0.0.0") },
		},
		{
			name:   "INIT-REBOOT for its own lease is ACKed as a renewal",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeRequest, want("10.9.0.100")) },
			leases: []Lease{bound("10.9.0.100", macA, "pxe")},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeAck, "10.9.0.100")
				if d.Event != EventRenew {
					t.Errorf("event %v, want renew", d.Event)
				}
			},
		},
		{
			name: "RENEW (ciaddr) is ACKed by unicast to the client",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.IP{10, 9, 0, 100}))
			},
			leases: []Lease{bound("10.9.0.100", macA, "pxe")},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeAck, "10.9.0.100")
				if d.Broadcast || d.To != netip.MustParseAddrPort("10.9.0.100:68") || d.Event != EventRenew {
					t.Errorf("want unicast renew to 10.9.0.100:68, got to=%v bcast=%v ev=%v", d.To, d.Broadcast, d.Event)
				}
			},
		},
		{
			name: "relayed DISCOVER is answered to the relay on port 67 with option 82 echoed",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IP{10, 8, 0, 254}),
					dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), []byte("port7")))))
			},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeOffer, "10.8.1.0")
				if d.To != netip.MustParseAddrPort("10.8.0.254:67") || d.Broadcast {
					t.Errorf("relay reply to %v (broadcast %v), want 10.8.0.254:67", d.To, d.Broadcast)
				}
				if d.Reply.RelayAgentInfo() == nil || d.Reply.GatewayIPAddr.String() != "10.8.0.254" {
					t.Errorf("option 82 / giaddr not echoed: %s", d.Reply.Summary())
				}
			},
		},
		{
			name: "relay from an unknown network is dropped",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IP{10, 7, 0, 1}))
			},
			check: func(t *testing.T, d decision) { expectDrop(t, d, DropNoSubnet) },
		},
		{
			name: "RELEASE releases the client's lease",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.IP{10, 9, 0, 100}))
			},
			leases: []Lease{bound("10.9.0.100", macA, "pxe")},
			check: func(t *testing.T, d decision) {
				if d.Reply != nil || d.Action != actRelease || d.Lease.State != StateReleased {
					t.Errorf("want silent release, got %+v", d)
				}
			},
		},
		{
			name: "RELEASE of someone else's lease is ignored",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeRelease, dhcpv4.WithClientIP(net.IP{10, 9, 0, 100}))
			},
			leases: []Lease{bound("10.9.0.100", macB, "pxe")},
			check:  func(t *testing.T, d decision) { expectDrop(t, d, DropUnknownAddr) },
		},
		{
			name:   "DECLINE quarantines the address",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDecline, want("10.9.0.100")) },
			leases: []Lease{bound("10.9.0.100", macA, "pxe")},
			check: func(t *testing.T, d decision) {
				if d.Action != actDecline || d.Lease.State != StateDeclined || !d.Lease.Expiry.Equal(t0.Add(time.Hour)) {
					t.Errorf("want 1h quarantine, got %+v", d)
				}
			},
		},
		{
			name: "INFORM gets options without an address, unicast",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				return pkt(t, macA, dhcpv4.MessageTypeInform, dhcpv4.WithClientIP(net.IP{10, 9, 0, 20}))
			},
			check: func(t *testing.T, d decision) {
				expectReply(t, d, dhcpv4.MessageTypeAck, "0.0.0.0")
				if d.Reply.Options.Has(dhcpv4.OptionIPAddressLeaseTime) || d.To != netip.MustParseAddrPort("10.9.0.20:68") || d.Action != actNone {
					t.Errorf("INFORM reply wrong: to %v %s", d.To, d.Reply.Summary())
				}
			},
		},
		{
			name: "BOOTREPLY is dropped",
			req: func(t *testing.T) *dhcpv4.DHCPv4 {
				p := pkt(t, macA, dhcpv4.MessageTypeOffer)
				p.OpCode = dhcpv4.OpcodeBootReply
				return p
			},
			check: func(t *testing.T, d decision) { expectDrop(t, d, DropNotRequest) },
		},
		{
			name:   "client outside the failover scope is dropped",
			req:    func(t *testing.T) *dhcpv4.DHCPv4 { return pkt(t, macA, dhcpv4.MessageTypeDiscover) },
			answer: func(*dhcpv4.DHCPv4) bool { return false },
			check:  func(t *testing.T, d decision) { expectDrop(t, d, DropOutOfScope) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := compile(testConfig())
			if err != nil {
				t.Fatal(err)
			}
			tab := newLeaseTable()
			for _, s := range c.subnets {
				for _, p := range s.Pools {
					tab.addPool(p)
				}
			}
			for _, l := range tc.leases {
				tab.put(l, t0)
			}
			d := decide(tc.req(t), env{now: t0, iface: "eth0", answer: tc.answer}, c, tab)
			tc.check(t, d)
		})
	}
}

func expectReply(t *testing.T, d decision, mt dhcpv4.MessageType, yiaddr string) {
	t.Helper()
	if d.Reply == nil {
		t.Fatalf("no reply (drop %q), want %v", d.Drop, mt)
	}
	if d.Reply.MessageType() != mt {
		t.Fatalf("reply %v, want %v: %s", d.Reply.MessageType(), mt, d.Reply.Summary())
	}
	if got := d.Reply.YourIPAddr.String(); !(got == yiaddr || (yiaddr == "0.0.0.0" && (got == "<nil>" || got == "0.0.0.0"))) {
		t.Fatalf("yiaddr %s, want %s", got, yiaddr)
	}
	if _, err := dhcpv4.FromBytes(d.Reply.ToBytes()); err != nil {
		t.Fatalf("reply does not re-parse: %v", err)
	}
}

func expectDrop(t *testing.T, d decision, reason string) {
	t.Helper()
	if d.Reply != nil || d.Drop != reason {
		t.Fatalf("got reply=%v drop=%q, want drop %q", d.Reply != nil, d.Drop, reason)
	}
}

func expectBoot(t *testing.T, d decision, file string, http bool) {
	t.Helper()
	if d.Reply == nil {
		t.Fatalf("no reply (drop %q)", d.Drop)
	}
	r := d.Reply
	if r.BootFileName != file || r.BootFileNameOption() != file {
		t.Errorf("file field %q, option 67 %q; want %q in both", r.BootFileName, r.BootFileNameOption(), file)
	}
	if r.ServerIPAddr.String() != "10.9.0.1" || r.TFTPServerName() != "10.9.0.1" {
		t.Errorf("siaddr %v, option 66 %q; want 10.9.0.1", r.ServerIPAddr, r.TFTPServerName())
	}
	if got := r.ClassIdentifier() == "HTTPClient"; got != http {
		t.Errorf("option 60 %q; HTTPClient echoed = %v, want %v", r.ClassIdentifier(), got, http)
	}
}

// The server's encoder must produce what the library's does.
func TestEncodeReplyMatchesLibrary(t *testing.T) {
	c, err := compile(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	tab := newLeaseTable()
	reqs := []*dhcpv4.DHCPv4{
		pkt(t, macA, dhcpv4.MessageTypeDiscover, pxe(iana.EFI_X86_64_HTTP, "HTTPClient")),
		pkt(t, macR, dhcpv4.MessageTypeDiscover, dhcpv4.WithGatewayIP(net.IP{10, 9, 0, 254}),
			dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(dhcpv4.OptGeneric(dhcpv4.GenericOptionCode(1), make([]byte, 200))))),
		pkt(t, macA, dhcpv4.MessageTypeRequest, dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.IP{192, 168, 0, 1}))),
	}
	for _, r := range reqs {
		d := decide(r, env{now: t0, iface: "eth0"}, c, tab)
		if d.Reply == nil {
			t.Fatalf("no reply to %v", r.MessageType())
		}
		// A long value exercises the RFC 3396 split.
		d.Reply.Options[250] = make([]byte, 300)
		if got, want := encodeReply(d.Reply), d.Reply.ToBytes(); string(got) != string(want) {
			t.Fatalf("encodeReply differs from ToBytes for %v:\n got %x\nwant %x", d.Reply.MessageType(), got, want)
		}
	}
}
