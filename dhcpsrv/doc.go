// Package dhcpsrv is ironkit's DHCPv4 server: what MAAS gets from ISC dhcpd
// on every rack, as an importable package built on
// github.com/insomniacslk/dhcp.
//
// It owns: subnets with dynamic pools, reservations (MAC → address and
// hostname), standard and custom options per subnet and per host; PXE,
// UEFI HTTP-boot and iPXE boot options chosen by architecture (option 93)
// from a table that is data (DefaultLoaders, Boot); the full lease protocol
// (DISCOVER/OFFER/REQUEST/ACK, renew, rebind, INIT-REBOOT, RELEASE, DECLINE,
// INFORM, expiry reclamation); relayed requests (giaddr); a durable lease
// log with group commit; lease events for the region; Prometheus metrics.
//
// It does not own: addressing policy (netmodel decides subnets, ranges and
// static addresses; FromNetmodel turns them into a Config), boot files
// (package pxe serves them over TFTP and HTTP), DNS, or DHCPv6.
//
// # Design
//
// The reply to a request is a pure function of (request, config, lease
// state) — decide in decide.go, table-tested — that returns the reply, its
// destination and the lease change to apply. The socket loop only reads a
// batch of packets (recvmmsg), runs the decision under one lock, sends
// replies that need no durability (OFFER, NAK, INFORM) and hands ACKs to the
// lease log. The log is append-only: a committer goroutine writes every
// record queued while the previous fdatasync ran and syncs once (group
// commit), and only then sends the ACKs of that batch: no ACK leaves before
// its lease is durable, and a kill -9 loses no ACKed lease. A background
// compactor snapshots the live leases and deletes old segments.
//
// Replies go where RFC 2131 says: to the relay (giaddr) on port 67; to
// ciaddr when the client has an address; otherwise broadcast on the
// interface the request came in on (no layer-2 unicast).
//
// # Usage
//
// Run a server on a named interface (needs root: SO_BINDTODEVICE, port 67):
//
//	srv, err := dhcpsrv.New(dhcpsrv.Config{
//		Interfaces: []string{"eth0"},
//		LeaseDir:   "/var/lib/rackd/dhcp",
//		Subnets: []dhcpsrv.Subnet{{
//			Name: "pxe", Prefix: netip.MustParsePrefix("10.0.0.0/24"), Interface: "eth0",
//			ServerAddr: netip.MustParseAddr("10.0.0.1"),
//			Pools:      []dhcpsrv.Pool{{Start: netip.MustParseAddr("10.0.0.100"), End: netip.MustParseAddr("10.0.0.199")}},
//			Routers:    []netip.Addr{netip.MustParseAddr("10.0.0.1")},
//		}},
//		Boot: dhcpsrv.Boot{
//			// TFTP loaders by architecture come from DefaultLoaders (BIOS
//			// lpxelinux.0, UEFI bootx64.efi, arm64 bootaa64.efi); override
//			// with Loaders. next-server defaults to the subnet's ServerAddr.
//			HTTPBase:   "http://10.0.0.1:5248/boot/",
//			IPXEScript: "http://10.0.0.1:5248/ipxe/boot.ipxe",
//		},
//	}, dhcpsrv.WithLogger(log), dhcpsrv.WithRegisterer(reg), dhcpsrv.WithLeaseHook(push))
//	if err != nil { ... }
//	err = srv.Run(ctx) // until ctx ends
//
// To serve inside a network namespace, call srv.Listen(ctx) on a thread in
// that namespace (testenv.Netns.Do), then srv.Run(ctx) from anywhere.
// Without root, WithListenAddr("127.0.0.1:0") serves relayed requests on
// loopback.
package dhcpsrv
