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
// The rack is a real one: internal/rack's Service, what `rackd serve`
// runs. RegisterRack registers it with the region over the rack RPC (the
// shared secret's HMAC proof) and returns its rackd config for serving the
// simulated segment on loopback (DHCP on one socket answering the relay,
// TFTP and HTTP boot on loopback ports, the loopback interface counted as
// its own); SetupRegion gives the region the loopback subnet with the rack
// as primary DHCP rack and the boot resources its image cache syncs; the
// rack gets its config, each machine's boot purpose and machine tokens
// through the rack RPC, and the region powers the machines through it.
// RunRack runs it in-process; cmd/ironkit-demo runs it as a separate
// process. Rack (RackOf) is what the machines' firmware needs to find it.
//
// The package is internal because it wires the region's wire types
// (internal/region/api) and stands in for an internal service (the rack);
// it is a test and demo fixture, not SDK surface. It does not own machine
// state (the region does) nor boot-config rendering (package pxe).
//
// Every wait has a deadline, everything stops when the context passed to
// Run ends, and no goroutine outlives Run.
package simdc
