// Package simdc is a simulated datacenter: N machines, each with a
// simulated BMC (IPMI or Redfish from power/powersim, on loopback) that the
// region registers as the machine's power settings. When its BMC powers a
// machine on, the machine behaves like network-boot firmware followed by
// ironkit's ephemeral environment, over the real protocols:
//
//   - DHCP DISCOVER/REQUEST (github.com/insomniacslk/dhcp packets) through a
//     simulated relay agent (Relay: giaddr 127.0.0.1, so a DHCP server on a
//     loopback port serves it without root);
//   - the boot loader and its config over TFTP (PXELINUX firmware, with
//     github.com/pin/tftp/v3's client) or over HTTP (iPXE firmware: the
//     script URL from the DHCP reply, then the per-MAC script it chains to);
//   - the kernel and initrd the config names;
//   - then, as the ephemeral environment, the region's metadata API with the
//     purpose, metadata URL and machine token found on the rendered kernel
//     command line (ironkit.purpose=, ironkit.metadata_url=,
//     ironkit.token=): enlist, commissioning results with heartbeats,
//     deploy instructions and the image, signals installed / booted / erased.
//
// Nothing is scripted per machine: what a machine does on each boot is what
// the region's boot config (rendered by package pxe from the rack's view of
// the region) tells it, so the simulation exercises the real flow.
//
// Rack is the seam to the rack controller: the addresses a machine's
// firmware needs (the DHCP server the relay forwards to, the TFTP port on
// the next-server). InProcessRack provides them until rackd exists: a
// dhcpsrv.Server and pxe's TFTP and HTTP servers on loopback ports,
// configured from the region's API (subnets, dynamic ranges, machines and
// their statuses) with an administrator's API key. rackd replaces it by
// running with the relay's port and reporting its own addresses.
//
// The package is internal because it wires the region's wire types
// (internal/region/api) and stands in for an internal service (the rack);
// it is a test and demo fixture, not SDK surface. It does not own machine
// state (the region does) nor boot-config rendering (package pxe).
//
// Every wait has a deadline, everything stops when the context passed to
// Run ends, and no goroutine outlives Run.
package simdc
