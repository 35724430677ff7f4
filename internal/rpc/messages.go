package rpc

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/ironkit/ironkit/netmodel"
)

// Config is what a rack serves, pulled from the region (GET /config) and
// cached on the rack's disk so it keeps serving while no region answers.
type Config struct {
	RackID int64 `json:"rack_id"`
	// Revision changes whenever anything below changes (a digest).
	Revision string                   `json:"revision"`
	VLANs    []netmodel.VLAN          `json:"vlans"`
	Subnets  []netmodel.Subnet        `json:"subnets"`
	Ranges   []netmodel.IPRange       `json:"ranges"`
	Static   []netmodel.StaticAddress `json:"static"`
	// Hosts maps a static address's interface id to its MAC and hostname.
	Hosts map[int64]Host `json:"hosts"`
	// Racks are the rack controllers serving the VLANs above (this one and
	// its failover partners) with the addresses they last reported.
	Racks []RackInfo `json:"racks"`
	// Machines is the boot data: how each known MAC boots.
	Machines []BootMachine `json:"machines"`
}

// Host is one machine interface a reservation is for.
type Host struct {
	MAC      string `json:"mac"`
	Hostname string `json:"hostname"`
}

// RackInfo is a rack's reported addresses.
type RackInfo struct {
	ID        int64          `json:"id"`
	Name      string         `json:"name"`
	Addresses []netip.Prefix `json:"addresses"`
}

// BootMachine is how one machine's interface boots.
type BootMachine struct {
	MAC      string `json:"mac"`
	SystemID string `json:"system_id"`
	Hostname string `json:"hostname"`
	// Purpose is a pxe.Purpose ("commission", "deploy", "local", …).
	Purpose string `json:"purpose"`
	// Extra are kernel command line words for the ephemeral environment
	// besides the purpose (ironkit.test=1 while testing, ironkit.erase=1
	// while erasing disks).
	Extra []string `json:"extra,omitempty"`
}

// BootRequest asks the region how one MAC boots now (POST /boot, when a
// machine's boot config is rendered). The config pull carries no secrets;
// this call is where the machine token travels, over the rack's
// authenticated RPC only.
type BootRequest struct {
	MAC string `json:"mac"`
}

// BootReply is how the MAC boots now. Known is false for a MAC no machine
// has (it enlists).
type BootReply struct {
	Known bool `json:"known"`
	BootMachine
	// Token is a machine token (ikm_…) freshly minted for this boot, set
	// only when the purpose needs the metadata API (commissioning,
	// testing, disk erasing, deploying, rescue). Minting one revokes the
	// machine's earlier tokens. It is a secret: never log it, never cache
	// it on disk.
	Token string `json:"token,omitempty"`
	// MetadataPath is the machine's metadata API path on the region
	// (/api/v1/metadata/<system id>), set with Token.
	MetadataPath string `json:"metadata_path,omitempty"`
}

// Command kinds a rack executes.
const (
	CmdPower       = "power"       // PowerArgs
	CmdSetBoot     = "set-boot"    // PowerArgs with Boot
	CmdCheckIPs    = "check-ips"   // CheckIPsArgs
	CmdSyncImages  = "sync-images" // no args
	CmdReconfigure = "reconfigure" // no args: pull the config now
)

// Command is one unit of work for a rack (GET /commands long-polls).
type Command struct {
	ID   int64           `json:"id"`
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args,omitempty"`
	// Deadline is when the region stops waiting for the result.
	Deadline time.Time `json:"deadline"`
}

// PowerArgs is a power operation on one BMC.
type PowerArgs struct {
	SystemID string            `json:"system_id"`
	Hostname string            `json:"hostname"`
	Type     string            `json:"type"`
	Params   map[string]string `json:"params"`
	Op       string            `json:"op"` // on, off, cycle, query
	PXE      bool              `json:"pxe,omitempty"`
}

// CheckIPsArgs asks which addresses answer on the network.
type CheckIPsArgs struct {
	Addrs []netip.Addr `json:"addrs"`
}

// Result is a command's outcome (POST /results).
type Result struct {
	ID    int64           `json:"id"`
	OK    bool            `json:"ok"`
	Error string          `json:"error,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// PowerResult is a power command's Data.
type PowerResult struct {
	State string `json:"state"`
}

// CheckIPsResult is a check-ips command's Data.
type CheckIPsResult struct {
	InUse []netip.Addr `json:"in_use"`
}

// LeaseEvent is one DHCP lease change (POST /leases in batches).
type LeaseEvent struct {
	Seq    uint64     `json:"seq"` // per-rack, increasing: the region ignores ones it has
	Type   string     `json:"type"`
	Addr   netip.Addr `json:"addr"`
	MAC    string     `json:"mac"`
	Host   string     `json:"hostname,omitempty"`
	Subnet string     `json:"subnet"`
	Start  time.Time  `json:"start"`
	Expiry time.Time  `json:"expiry"`
}

// LeaseBatch is a batch of lease events.
type LeaseBatch struct {
	Events []LeaseEvent `json:"events"`
}

// Heartbeat is the rack's periodic report (POST /heartbeat): its version,
// interface inventory and service health. The region records it and the
// address it came from (reported data only: identity is the token).
type Heartbeat struct {
	Version    string          `json:"version"`
	Interfaces []Interface     `json:"interfaces"`
	Services   []ServiceHealth `json:"services"`
	// ConfigRevision is the config the rack serves now.
	ConfigRevision string `json:"config_revision"`
	// RogueDHCP lists other DHCP servers seen answering on the rack's
	// segments.
	RogueDHCP []netip.Addr `json:"rogue_dhcp,omitempty"`
}

// HeartbeatReply tells the rack whether its config is stale.
type HeartbeatReply struct {
	ConfigRevision string `json:"config_revision"`
}

// Interface is one of the rack's network interfaces.
type Interface struct {
	Name      string         `json:"name"`
	MAC       string         `json:"mac"`
	Addresses []netip.Prefix `json:"addresses"`
}

// Service states.
const (
	ServiceRunning  = "running"
	ServiceDegraded = "degraded"
	ServiceDead     = "dead"
	ServiceOff      = "off"
)

// ServiceHealth is one rack service's state (MAAS's service tracking).
type ServiceHealth struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Info   string `json:"info,omitempty"`
}
