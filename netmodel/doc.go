// Package netmodel owns the network model of ironkit as plain values and pure
// functions: fabrics, VLANs (vid, MTU, dhcp_on, primary and secondary rack,
// relay), spaces, subnets, IP ranges (dynamic, reserved), static addresses
// with their allocation types (auto, sticky, user-reserved, dhcp,
// discovered), zones and resource pools; the validation rules that keep them
// consistent; and the choice of the next free address in a subnet.
//
// It does no I/O and holds no state: it does not persist anything, and it
// does not guarantee that an address is handed out once under concurrency.
// That is the store's job (a unique index on the address and a retry that
// passes the conflicting address back to Allocator.Next as extra).
//
// Addresses use net/netip. ironkit serves IPv4 today; nothing here precludes
// IPv6 (the Allocator works on 128-bit intervals).
package netmodel
