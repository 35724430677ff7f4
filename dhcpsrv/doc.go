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
// loopback. FromNetmodel builds the Config from netmodel VLANs, subnets,
// ranges and static addresses.
//
// The lease hook (WithLeaseHook) receives commit, renew, release, decline
// and expire events after they are durable, in order, from one goroutine;
// it must return quickly and must not call back into the Server.
//
// # Performance
//
// `make bench-dhcp` runs perfdhcp against ironkit, Kea 2.2 (memfile,
// persist=true, single-threaded) and ISC dhcpd 4.4 in one run, with every
// server pinned to the same core and capped at the same CPU budget and
// perfdhcp on the other core; README.md holds the method, every run and
// the commands. Over six runs (three at 10 %, three at 7 % of a core per
// server) ironkit answered 2.15–2.96× Kea's DORA/s (median 2.5×) and, with
// a hot-standby partner attached, 1.62–2.00× (median 1.81×), while
// fdatasyncing every lease before its ACK (Kea's memfile does not fsync).
// Per DORA at saturation ironkit spent 27–36 µs of CPU, Kea 63–85. With a
// whole core per server one run gave 1.40×, a lower bound: perfdhcp on the
// machine's other core could not offer more than about 10,000 DORA/s.
//
// # Metrics
//
// ironkit_dhcp_packets_total{direction,type}, ironkit_dhcp_drops_total{reason}
// (malformed packets among them: they are dropped and counted, never a
// crash), ironkit_dhcp_active_leases{subnet},
// ironkit_dhcp_pool_utilisation_ratio{subnet}, ironkit_dhcp_lease_records_total
// and ironkit_dhcp_lease_syncs_total (their ratio is the group-commit factor).
//
// # Failover
//
// Two servers (MAAS's primary and secondary rack of a VLAN) share the VLAN's
// subnets: Config.Failover names the mode, this server's role and the peer
// link (TCP, port 647 by default; the primary dials the secondary).
// HotStandby: the primary answers every client, the secondary none until the
// primary is down (MAAS's split 255). LoadBalancing: the RFC 3074 hash of
// the client identifier (else the MAC) picks the server, even → primary,
// odd → secondary.
//
// What the pair promises:
//
//   - No address is handed to two clients by the pair. Each server allocates
//     fresh addresses only from its own share of every pool (an address hash;
//     Failover.SecondaryShare/256 of each pool belongs to the secondary), in
//     every state — also when the two cannot talk to each other.
//   - While both are up and in sync (FailoverNormal), an ACK leaves only after
//     its lease is durable in this server's log and acknowledged by the
//     partner, which made it durable in its own: when one server dies, the
//     survivor knows every lease the dead one ACKed.
//   - After Failover.MaxResponseDelay (default 3 s) without heartbeats
//     (every Failover.Heartbeat, default 1 s) the survivor declares the
//     partner down and answers every client: it renews the leases it knows
//     (its own and the replicated ones) and gives new clients addresses from
//     its own share. Tested: kill -9 of the primary under perfdhcp, the
//     secondary serves about 2 s later, no address bound to two MACs.
//   - When the partner returns, both send their whole lease tables and merge
//     them (the newer commit wins). A server that (re)starts answers nobody
//     until it holds its partner's table (FailoverWaiting), so it cannot hand
//     out an address the survivor leased meanwhile; alone, it declares the
//     partner down after MaxResponseDelay.
//
// What it does not promise:
//
//   - It is not the ISC failover protocol nor Kea HA: it does not interoperate
//     with either. The peer link is neither authenticated nor encrypted: keep
//     it on a management network.
//   - There is no MCLT. If both servers are up but cannot reach each other
//     (split brain), both declare the other down and both answer everyone.
//     New allocations still cannot collide, but a release or expiry seen by
//     one server is unknown to the other until they resync, so the other may
//     re-ACK a released address to its old client while the owner has given
//     it to a new one.
//   - Shares are fixed: a survivor can run out of its share while the
//     partner's share has free addresses. Size pools for it (in hot-standby,
//     raise SecondaryShare if the secondary must carry long outages).
//   - Lease events are delivered by the server that made the change only.
//     Merging relies on commit timestamps: keep the racks' clocks in sync.
//   - A Server has one partner and one role; a rack that is primary for some
//     VLANs and secondary for others runs one Server per role.
package dhcpsrv
