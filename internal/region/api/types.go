package api

import (
	"encoding/json"
	"time"

	"github.com/ironkit/ironkit/lifecycle"
)

// The API's JSON representations. They are the API's own types, decoupled
// from the store's models so the wire format changes only on purpose.

// Version is the reply of GET /api/v1/version.
type Version struct {
	Version    string   `json:"version"`
	APIVersion string   `json:"api_version"`
	Features   []string `json:"features"`
}

// Machine is a machine as the API shows it. Power parameters marked secret
// (BMC passwords) are write-only: they are accepted on create and update and
// never returned.
type Machine struct {
	SystemID        string             `json:"system_id"`
	Hostname        string             `json:"hostname"`
	Status          lifecycle.Status   `json:"status"`
	StatusTitle     string             `json:"status_title"`
	PreviousStatus  lifecycle.Status   `json:"previous_status,omitempty"`
	Locked          bool               `json:"locked"`
	Architecture    string             `json:"architecture"`
	CPUCount        int                `json:"cpu_count"`
	MemoryMiB       int64              `json:"memory_mib"`
	Zone            string             `json:"zone"`
	Pool            string             `json:"pool"`
	Tags            []string           `json:"tags"`
	Owner           string             `json:"owner,omitempty"`
	PowerType       string             `json:"power_type"`
	PowerParameters map[string]string  `json:"power_parameters,omitempty" doc:"secret parameters (passwords) are write-only and never returned"`
	PowerState      string             `json:"power_state"`
	MACAddresses    []string           `json:"mac_addresses"`
	IPAddresses     []string           `json:"ip_addresses"`
	OSystem         string             `json:"osystem,omitempty"`
	DistroSeries    string             `json:"distro_series,omitempty"`
	Deadline        *time.Time         `json:"deadline,omitempty"`
	Inventory       json.RawMessage    `json:"inventory,omitempty" doc:"hardware inventory from commissioning"`
	AllowedActions  []lifecycle.Action `json:"allowed_actions"`
	Created         time.Time          `json:"created"`
	Updated         time.Time          `json:"updated"`
	Revision        int64              `json:"revision" doc:"incremented by every change (optimistic concurrency)"`
}

// MachinePage is one page of a machine list.
type MachinePage struct {
	Machines []Machine `json:"machines"`
	// Next is the cursor of the next page; empty on the last page.
	Next string `json:"next,omitempty"`
}

// MachineQuery selects machines for a list.
type MachineQuery struct {
	Status       lifecycle.Status
	Hostname     string
	Architecture string
	Zone         string
	Pool         string
	Tag          string
	MAC          string
	// Owner restricts to machines owned by a username ("": any).
	Owner string
	// VisibleTo, for a non-admin username, restricts to Ready machines and
	// machines owned by that user ("": no restriction).
	VisibleTo string
	// After is the system id after which the page starts (decoded cursor);
	// lists are ordered by system id.
	After string
	Limit int
}

// MachineCreate is the body of POST /api/v1/machines. With Status
// "deployed" it imports an already-deployed machine without touching it.
type MachineCreate struct {
	Hostname        string            `json:"hostname"`
	Architecture    string            `json:"architecture"`
	MACAddresses    []string          `json:"mac_addresses"`
	PowerType       string            `json:"power_type,omitempty"`
	PowerParameters map[string]string `json:"power_parameters,omitempty" writeonly:"true"`
	Zone            string            `json:"zone,omitempty"`
	Pool            string            `json:"pool,omitempty"`
	Status          lifecycle.Status  `json:"status,omitempty" doc:"new (default) or deployed to import an already-deployed machine"`
	IPAddresses     []string          `json:"ip_addresses,omitempty" doc:"with status deployed: the machine's current addresses"`
	Owner           string            `json:"owner,omitempty" doc:"with status deployed: the owning user"`
	OSystem         string            `json:"osystem,omitempty"`
	DistroSeries    string            `json:"distro_series,omitempty"`
	CPUCount        int               `json:"cpu_count,omitempty"`
	MemoryMiB       int64             `json:"memory_mib,omitempty"`
}

// MachineUpdate is the body of PATCH /api/v1/machines/{id}; absent fields
// are left unchanged.
type MachineUpdate struct {
	Hostname        *string           `json:"hostname,omitempty"`
	Architecture    *string           `json:"architecture,omitempty"`
	PowerType       *string           `json:"power_type,omitempty"`
	PowerParameters map[string]string `json:"power_parameters,omitempty" writeonly:"true" doc:"merged into the current parameters"`
	Zone            *string           `json:"zone,omitempty"`
	Pool            *string           `json:"pool,omitempty"`
	Tags            *[]string         `json:"tags,omitempty"`
	CPUCount        *int              `json:"cpu_count,omitempty"`
	MemoryMiB       *int64            `json:"memory_mib,omitempty"`
}

// ActionRequest is the body of POST /api/v1/machines/{id}/actions/{action}.
type ActionRequest struct {
	// Comment is recorded in the event.
	Comment string `json:"comment,omitempty"`
	// Erase: release with disk erasure.
	Erase bool `json:"erase,omitempty"`
	// OSystem, DistroSeries and UserData: deploy.
	OSystem      string `json:"osystem,omitempty"`
	DistroSeries string `json:"distro_series,omitempty"`
	UserData     string `json:"user_data,omitempty" doc:"cloud-init user-data (text)"`
}

// MachineActions are the actions of POST /api/v1/machines/{id}/actions/{action}.
var MachineActions = []string{
	"commission", "test", "abort", "deploy", "release", "mark-broken", "mark-fixed",
	"rescue-mode", "exit-rescue-mode", "lock", "unlock", "power-on", "power-off", "power-query",
}

// AllocateRequest is the body of POST /api/v1/machines/allocate.
type AllocateRequest struct {
	Hostname     string   `json:"hostname,omitempty"`
	Architecture string   `json:"architecture,omitempty"`
	MinCPUCount  int      `json:"min_cpu_count,omitempty"`
	MinMemoryMiB int64    `json:"min_memory_mib,omitempty"`
	Tags         []string `json:"tags,omitempty"`
	Zone         string   `json:"zone,omitempty"`
	Pool         string   `json:"pool,omitempty"`
	NotIn        []string `json:"not_in,omitempty" doc:"system ids to skip"`
	Comment      string   `json:"comment,omitempty"`
}

// MachineToken is a freshly issued machine token (shown once).
type MachineToken struct {
	SystemID string `json:"system_id"`
	Token    string `json:"token"`
}

// User is a user account; the password hash is never shown.
type User struct {
	ID       int64     `json:"id"`
	Username string    `json:"username"`
	Email    string    `json:"email"`
	Admin    bool      `json:"admin"`
	Created  time.Time `json:"created"`
}

// UserCreate is the body of POST /api/v1/users.
type UserCreate struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password" writeonly:"true"`
	Admin    bool   `json:"admin,omitempty"`
}

// APIKey describes an API key; the key itself is shown once, on creation.
type APIKey struct {
	ID      int64      `json:"id"`
	UserID  int64      `json:"user_id"`
	Name    string     `json:"name"`
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
	// Key is set only in the reply that creates it.
	Key string `json:"key,omitempty"`
}

// APIKeyCreate is the body of POST /api/v1/users/me/api-keys.
type APIKeyCreate struct {
	Name string `json:"name"`
}

// Login is the body of POST /api/v1/login: it trades a password for a new
// API key (what `ironctl login` stores in its profile).
type Login struct {
	Username string `json:"username"`
	Password string `json:"password" writeonly:"true"`
	KeyName  string `json:"key_name,omitempty"`
}

// LoginReply answers a login.
type LoginReply struct {
	User   User   `json:"user"`
	APIKey APIKey `json:"api_key"`
}

// Fabric is a set of interconnected VLANs.
type Fabric struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// VLAN is a broadcast domain of a fabric.
type VLAN struct {
	ID            int64  `json:"id"`
	FabricID      int64  `json:"fabric_id"`
	VID           int    `json:"vid"`
	Name          string `json:"name"`
	MTU           int    `json:"mtu"`
	DHCPOn        bool   `json:"dhcp_on"`
	PrimaryRack   int64  `json:"primary_rack,omitempty"`
	SecondaryRack int64  `json:"secondary_rack,omitempty"`
	RelayVLANID   int64  `json:"relay_vlan_id,omitempty"`
	SpaceID       int64  `json:"space_id,omitempty"`
	Description   string `json:"description,omitempty"`
}

// Subnet is an IP prefix on a VLAN.
type Subnet struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	VLANID      int64    `json:"vlan_id"`
	CIDR        string   `json:"cidr"`
	GatewayIP   string   `json:"gateway_ip,omitempty"`
	DNSServers  []string `json:"dns_servers,omitempty"`
	Description string   `json:"description,omitempty"`
}

// IPRange is an inclusive range of a subnet's addresses.
type IPRange struct {
	ID       int64  `json:"id"`
	SubnetID int64  `json:"subnet_id"`
	Type     string `json:"type" doc:"dynamic or reserved"`
	StartIP  string `json:"start_ip"`
	EndIP    string `json:"end_ip"`
	Comment  string `json:"comment,omitempty"`
}

// IPAddress is a static address known to the region.
type IPAddress struct {
	ID        int64  `json:"id"`
	SubnetID  int64  `json:"subnet_id"`
	IP        string `json:"ip"`
	AllocType string `json:"alloc_type"`
	SystemID  string `json:"system_id,omitempty"`
	Owner     string `json:"owner,omitempty"`
	Comment   string `json:"comment,omitempty"`
}

// IPReserve is the body of POST /api/v1/ipaddresses: reserve ip, or the
// next free address of subnet_id when ip is empty.
type IPReserve struct {
	SubnetID int64  `json:"subnet_id"`
	IP       string `json:"ip,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// Zone is an availability zone.
type Zone struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Pool is a resource pool.
type Pool struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Tag is a machine tag.
type Tag struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	Comment string `json:"comment,omitempty"`
}

// Rack is a registered rack controller.
type Rack struct {
	ID       int64      `json:"id"`
	Name     string     `json:"name"`
	Version  string     `json:"version,omitempty"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// What the rack reported in its last heartbeat (the rack RPC): the
	// address it came from (reported data; racks are identified by token),
	// its interfaces, its services' health (MAAS's service tracking), the
	// config revision it serves and other DHCP servers it saw.
	Address        string          `json:"address,omitempty"`
	Interfaces     json.RawMessage `json:"interfaces,omitempty"`
	Services       json.RawMessage `json:"services,omitempty"`
	ConfigRevision string          `json:"config_revision,omitempty"`
	RogueDHCP      json.RawMessage `json:"rogue_dhcp,omitempty"`
}

// RackCommand is a command queued for a rack (the rack RPC delivers it on
// the rack's next command poll): sync-images or reconfigure.
type RackCommand struct {
	ID     int64  `json:"id"`
	RackID int64  `json:"rack_id"`
	Kind   string `json:"kind"`
	State  string `json:"state"`
}

// Region is a region controller (regiond) registered in the shared
// database. Alive: it refreshed LastSeen within the last 2 minutes.
type Region struct {
	ID        int64     `json:"id"`
	Hostname  string    `json:"hostname"`
	Address   string    `json:"address"`
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	LastSeen  time.Time `json:"last_seen"`
	Alive     bool      `json:"alive"`
}

// Event is one entry of a machine's history.
type Event struct {
	ID         int64            `json:"id"`
	SystemID   string           `json:"system_id,omitempty"`
	Type       string           `json:"type"`
	Actor      string           `json:"actor,omitempty"`
	FromStatus lifecycle.Status `json:"from_status,omitempty"`
	ToStatus   lifecycle.Status `json:"to_status,omitempty"`
	Action     lifecycle.Action `json:"action,omitempty"`
	Message    string           `json:"message,omitempty"`
	Created    time.Time        `json:"created"`
}

// EventQuery selects events.
type EventQuery struct {
	SystemID string
	Type     string
	Since    time.Time
	// VisibleTo, for a non-admin username, restricts to events of machines
	// that user may see.
	VisibleTo string
	Limit     int
}

// Enlist is the body of POST /api/v1/metadata/enlist, sent by the ephemeral
// environment of an unknown machine.
type Enlist struct {
	Hostname        string            `json:"hostname,omitempty"`
	Architecture    string            `json:"architecture"`
	MACAddresses    []string          `json:"mac_addresses"`
	PowerType       string            `json:"power_type,omitempty"`
	PowerParameters map[string]string `json:"power_parameters,omitempty" writeonly:"true" doc:"BMC address and credentials"`
}

// Script is a commissioning script the ephemeral environment runs.
type Script struct {
	Name    string `json:"name"`
	Content string `json:"content"`
	Timeout int    `json:"timeout_seconds"`
}

// Inventory is what commissioning found; stored as given and shown on the
// machine.
type Inventory struct {
	CPU       InventoryCPU      `json:"cpu"`
	MemoryMiB int64             `json:"memory_mib"`
	NUMA      []InventoryNUMA   `json:"numa,omitempty"`
	Disks     []InventoryDisk   `json:"disks,omitempty"`
	NICs      []InventoryNIC    `json:"nics,omitempty"`
	Firmware  map[string]string `json:"firmware,omitempty" doc:"DMI/firmware ids: system_uuid, serial, vendor, product, bios_version"`
}

// InventoryCPU describes the processors.
type InventoryCPU struct {
	Count        int    `json:"count"`
	Model        string `json:"model,omitempty"`
	Architecture string `json:"architecture,omitempty"`
}

// InventoryNUMA is one NUMA node.
type InventoryNUMA struct {
	Index     int   `json:"index"`
	Cores     []int `json:"cores"`
	MemoryMiB int64 `json:"memory_mib"`
}

// InventoryDisk is one block device.
type InventoryDisk struct {
	Name   string `json:"name"`
	Size   int64  `json:"size_bytes"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
}

// InventoryNIC is one network interface.
type InventoryNIC struct {
	Name  string `json:"name"`
	MAC   string `json:"mac"`
	Speed int    `json:"speed_mbps,omitempty"`
}

// CommissioningResult is the body the ephemeral environment posts when
// commissioning ends.
type CommissioningResult struct {
	Inventory Inventory `json:"inventory"`
	// Failed scripts make commissioning fail; Log is kept in the event.
	Failed bool   `json:"failed,omitempty"`
	Log    string `json:"log,omitempty"`
}

// Signal is the body of POST /api/v1/metadata/{id}/signal.
type Signal struct {
	Status string `json:"status" doc:"installed (image written), booted (deployed system or rescue environment up), erased, tested, or failed"`
	Log    string `json:"log,omitempty"`
}

// DeployInstructions tell the ephemeral environment what to install.
type DeployInstructions struct {
	ImageURL      string          `json:"image_url" doc:"the root image on the region (the fallback when the rack that booted the machine does not have it)"`
	ImageSHA256   string          `json:"image_sha256,omitempty"`
	ImagePath     string          `json:"image_path,omitempty" doc:"the root image's path on the HTTP boot server of the rack that booted the machine (<os>/<arch>/<subarch>/<release>/<flavour>/<file>, served from the rack's image cache); the ephemeral environment fetches <ironkit.rack_url>/<image_path> first, verifies image_sha256, and falls back to image_url"`
	OSystem       string          `json:"osystem"`
	DistroSeries  string          `json:"distro_series"`
	DiskLayout    DiskLayout      `json:"disk_layout"`
	NetworkConfig json.RawMessage `json:"network_config" doc:"netplan v2 network configuration"`
	UserData      string          `json:"user_data" doc:"cloud-init NoCloud user-data"`
	MetaData      string          `json:"meta_data" doc:"cloud-init NoCloud meta-data"`
}

// DiskLayout is the storage layout to install to.
type DiskLayout struct {
	BootDisk   string      `json:"boot_disk"`
	Partitions []Partition `json:"partitions"`
}

// Partition is one partition of the layout.
type Partition struct {
	Mount  string `json:"mount"`
	FSType string `json:"fstype"`
	// SizeBytes 0 means the rest of the disk.
	SizeBytes int64 `json:"size_bytes"`
}

// Empty is the reply of actions that return nothing but acknowledge.
type Empty struct{}

// BootResource is one version of a boot resource set.
type BootResource struct {
	Name     string     `json:"name" doc:"os/arch/subarch/release/flavour"`
	OS       string     `json:"os"`
	Release  string     `json:"release"`
	Arch     string     `json:"arch"`
	Subarch  string     `json:"subarch"`
	Flavour  string     `json:"flavour"`
	Version  string     `json:"version"`
	Type     string     `json:"type" doc:"synced or uploaded"`
	Complete bool       `json:"complete"`
	Size     int64      `json:"size"`
	Files    []BootFile `json:"files"`
}

// BootFile is one file of a boot resource.
type BootFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// BootUpload names the file a PUT /api/v1/boot-resources/... uploads.
type BootUpload struct {
	OS, Release, Arch, Subarch, Flavour, Version, Name string
	Size                                               int64
	SHA256                                             string
	Complete                                           bool
}

// ImportRequest is the body of POST /api/v1/boot-resources/import.
type ImportRequest struct {
	Source string `json:"source" doc:"mirror: a directory on the region, file:// or http(s):// URL"`
}

// ImportStatus is the state of the current (or last) import.
type ImportStatus struct {
	Running  bool         `json:"running"`
	Source   string       `json:"source,omitempty"`
	Started  time.Time    `json:"started,omitzero"`
	Finished time.Time    `json:"finished,omitzero"`
	Done     int64        `json:"done_bytes"`
	Total    int64        `json:"total_bytes"`
	Sets     int          `json:"sets"`
	Files    int          `json:"files"`
	Bytes    int64        `json:"bytes"`
	Error    string       `json:"error,omitempty"`
	Progress []ImportFile `json:"progress,omitempty"`
}

// ImportFile is the progress of one file of an import.
type ImportFile struct {
	Name     string `json:"name"`
	Done     int64  `json:"done"`
	Total    int64  `json:"total"`
	Finished bool   `json:"finished"`
}
