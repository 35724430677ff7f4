// Package pxe owns the network-boot half of a rack: a read-only TFTP server
// (on github.com/pin/tftp/v3), an HTTP boot server, and the rendering of boot
// configurations (iPXE scripts, GRUB and PXELINUX configs) for a machine, its
// architecture and a boot purpose (enlist, commission, deploy, local, rescue,
// poweroff).
//
// Both servers read files through the small Files interface, so the rack's
// image cache (package images) can plug in later; DirFiles serves a
// directory through os.Root, so nothing outside the root is reachable, not
// even through symlinks. Per-machine files (pxelinux.cfg/01-<mac>,
// grub/grub.cfg-<mac>, iPXE scripts) are generated on request by a Resolver;
// ConfigResolver is the one that renders boot configs from a BootSource.
//
// The package does not own DHCP (package dhcpsrv tells machines which file to
// load), boot images themselves (package images), or machine state (the
// region decides each machine's purpose and hands it to the rack, which
// implements BootSource).
//
// # Names
//
// Every requested name goes through CleanName: NUL and control bytes,
// backslashes, percent-encoded bytes, ".." and "." components, empty
// components and names longer than MaxNameLen are refused with
// ErrInvalidName. One leading "/" is accepted and means the root (PXE clients
// and GRUB send root-relative names with a leading slash, as tftpd-hpa -s
// accepts them): an absolute name never reaches the host filesystem.
//
// # TFTP decisions
//
// pin/tftp v3.2.0 clamps blksize to the MTU of the interface a request came
// in on, learnt from IP_PKTINFO, and a request queued before Serve enables
// that socket option gets no interface information and is clamped to 512.
// TFTPServer therefore turns pin's own negotiation off
// (SetBlockSizeNegotiation(false)) and puts a thin front in front of pin: the
// listening socket has IP_PKTINFO enabled when it is created (Listen), so
// no datagram can arrive without it, and the front clamps the requested
// blksize to min(request, interface MTU − 28, WithMaxBlockSize) before pin
// sees the request. The same front answers what pin would get wrong with the
// RFC 1350 error codes: write requests (2, access violation: the server is
// read-only), refused names (2), unknown modes and malformed requests (4,
// illegal operation). Unknown options (including RFC 2349 timeout and RFC 7440
// windowsize, which pin cannot honour) are left out of the OACK, as RFC 2347
// allows. A consequence of the front is that pin answers from a socket bound
// to the wildcard address: the kernel picks the source address by route,
// which is the address the client used on any rack with one address per
// subnet. pin also opens that socket on Serve's thread, so inside a network
// namespace Serve must run on a thread in it (testenv.Netns.Do).
//
// pin has no RFC 7440 windowsize; it can send ahead without negotiation
// (SetAnticipate) but needs every ACK of a window. The front picks the
// window per request: lock-step (DefaultSendAhead) unless the client offers
// windowsize, then min(windowsize, DefaultMaxSendAhead). Both were chosen by
// measurement: GRUB on UEFI loses ACKs in bursts (README.md, the VM test and
// `make bench-tftp`).
package pxe
