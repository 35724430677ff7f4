package backend

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/lifecycle"
	"github.com/ironkit/ironkit/store"
)

// Enlist implements api.Metadata: an unknown machine becomes New.
func (b *Backend) Enlist(ctx context.Context, e api.Enlist) (api.Machine, error) {
	ifcs, err := interfaces("mac_addresses", e.MACAddresses)
	if err != nil {
		return api.Machine{}, err
	}
	m, err := b.st.CreateMachine(ctx, store.Machine{Hostname: e.Hostname, Architecture: e.Architecture,
		Interfaces: ifcs, Power: store.Power{Type: e.PowerType, Params: e.PowerParameters}}, "enlistment")
	if err != nil {
		return api.Machine{}, mapErr(err)
	}
	return b.presentOne(ctx, m)
}

// commissioningScripts is what the ephemeral environment runs; its
// collector turns the output into an api.Inventory. Data, not code paths.
var commissioningScripts = []api.Script{
	{Name: "00-lscpu", Timeout: 60, Content: "#!/bin/sh\nexec lscpu --json\n"},
	{Name: "10-meminfo", Timeout: 60, Content: "#!/bin/sh\nexec cat /proc/meminfo\n"},
	{Name: "20-numa", Timeout: 60, Content: "#!/bin/sh\nfor n in /sys/devices/system/node/node*; do echo \"$n $(cat $n/cpulist) $(grep MemTotal $n/meminfo)\"; done\n"},
	{Name: "30-lsblk", Timeout: 60, Content: "#!/bin/sh\nexec lsblk --json --bytes --output NAME,SIZE,MODEL,SERIAL,TYPE\n"},
	{Name: "40-ip-link", Timeout: 60, Content: "#!/bin/sh\nexec ip -json link\n"},
	{Name: "50-dmi", Timeout: 60, Content: "#!/bin/sh\nfor f in product_uuid product_serial sys_vendor product_name bios_version; do echo \"$f=$(cat /sys/class/dmi/id/$f 2>/dev/null)\"; done\n"},
}

// CommissioningScripts implements api.Metadata.
func (b *Backend) CommissioningScripts(ctx context.Context, id string) ([]api.Script, error) {
	if _, err := b.st.Machine(ctx, id); err != nil {
		return nil, mapErr(err)
	}
	return append([]api.Script(nil), commissioningScripts...), nil
}

// CommissioningResult implements api.Metadata: store the inventory, learn
// new NICs, and finish commissioning (or fail it).
func (b *Backend) CommissioningResult(ctx context.Context, id string, r api.CommissioningResult) error {
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return mapErr(err)
	}
	if m.Status != lifecycle.Commissioning {
		return &api.Error{Status: 409, Code: "invalid_transition", MachineStatus: m.Status, Action: lifecycle.EventCommissioned,
			Message: fmt.Sprintf("machine %s is %s, not commissioning: results are accepted only while commissioning", id, m.Status.Title())}
	}
	if r.Failed {
		return b.systemEvent(ctx, m, lifecycle.EventFailed, "commissioning scripts failed: "+truncate(r.Log, 2000))
	}
	inv, err := json.Marshal(r.Inventory)
	if err != nil {
		return err
	}
	m.Inventory = inv
	if _, err := b.st.UpdateMachine(ctx, m); err != nil {
		return mapErr(err)
	}
	known := map[string]bool{}
	for _, ifc := range m.Interfaces {
		known[ifc.MAC.String()] = true
	}
	for _, n := range r.Inventory.NICs {
		mac, err := net.ParseMAC(n.MAC)
		if err != nil || known[mac.String()] {
			continue
		}
		if _, err := b.st.AddInterface(ctx, id, store.Interface{Name: n.Name, MAC: mac}); err != nil && !errors.Is(err, store.ErrDuplicate) {
			return mapErr(err)
		}
	}
	d, err := b.details(ctx, b.db, id)
	if err != nil {
		return err
	}
	d.CPUCount, d.MemoryMiB = r.Inventory.CPU.Count, r.Inventory.MemoryMiB
	if err := b.saveDetails(ctx, d); err != nil {
		return err
	}
	m, err = b.st.Machine(ctx, id)
	if err != nil {
		return mapErr(err)
	}
	return b.systemEvent(ctx, m, lifecycle.EventCommissioned, "commissioning results stored")
}

// systemEvent applies an internal event to m as read (its version), so a
// concurrent change wins and this one reports a conflict.
func (b *Backend) systemEvent(ctx context.Context, m *store.Machine, ev lifecycle.Action, reason string) error {
	_, err := b.st.Transition(ctx, m.SystemID, store.TransitionRequest{Action: ev, User: "machine:" + m.SystemID, Reason: reason,
		Options: lifecycle.Options{System: true}, Version: m.Version,
		InTx: func(ctx context.Context, tx *sql.Tx, out *store.Machine) error {
			if b.cfg.Jobs != nil && (out.Status == lifecycle.Ready || lifecycle.IsFailed(out.Status)) && ev != lifecycle.EventDeployed {
				// Back in the pool or failed: the ephemeral environment's
				// work is over; turn the machine off (enqueued with the
				// transition, in its transaction).
				return b.cfg.Jobs.PowerOffWhile(ctx, tx, m.SystemID, out.Status)
			}
			return nil
		}})
	return mapErr(err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// Heartbeat implements api.Metadata.
func (b *Backend) Heartbeat(ctx context.Context, id string) error {
	_, err := b.st.Heartbeat(ctx, id)
	return mapErr(err)
}

// DeployInstructions implements api.Metadata.
func (b *Backend) DeployInstructions(ctx context.Context, id, base string) (api.DeployInstructions, error) {
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return api.DeployInstructions{}, mapErr(err)
	}
	if m.Status != lifecycle.Deploying && m.Status != lifecycle.Deployed {
		return api.DeployInstructions{}, &api.Error{Status: 409, Code: "invalid_transition", MachineStatus: m.Status,
			Message: fmt.Sprintf("machine %s is %s: deploy instructions exist only while deploying", id, m.Status.Title())}
	}
	d, err := b.details(ctx, b.db, id)
	if err != nil {
		return api.DeployInstructions{}, err
	}
	netcfg, err := b.networkConfig(ctx, m)
	if err != nil {
		return api.DeployInstructions{}, err
	}
	userData := d.UserData
	if userData == "" {
		userData = "#cloud-config\n{}\n"
	}
	arch, _, _ := strings.Cut(m.Architecture, "/")
	url, sum, rackPath, err := b.cfg.RootImage(ctx, base, d.OSystem, d.DistroSeries, arch)
	if err != nil {
		return api.DeployInstructions{}, err
	}
	return api.DeployInstructions{
		ImageURL: url, ImageSHA256: sum, ImagePath: rackPath, OSystem: d.OSystem, DistroSeries: d.DistroSeries,
		DiskLayout:    diskLayout(m.Inventory),
		NetworkConfig: netcfg,
		UserData:      userData,
		MetaData:      fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", m.SystemID, m.Hostname),
	}, nil
}

// diskLayout installs to the first disk of the inventory: an EFI system
// partition and a root filesystem on the rest.
func diskLayout(inventory json.RawMessage) api.DiskLayout {
	disk := "sda"
	var inv api.Inventory
	if json.Unmarshal(inventory, &inv) == nil && len(inv.Disks) > 0 {
		disk = inv.Disks[0].Name
	}
	return api.DiskLayout{BootDisk: disk, Partitions: []api.Partition{
		{Mount: "/boot/efi", FSType: "vfat", SizeBytes: 512 << 20},
		{Mount: "/", FSType: "ext4"},
	}}
}

// networkConfig renders netplan v2 for the machine's interfaces and their
// addresses.
func (b *Backend) networkConfig(ctx context.Context, m *store.Machine) (json.RawMessage, error) {
	type eth struct {
		Match       map[string]string `json:"match"`
		SetName     string            `json:"set-name"`
		DHCP4       bool              `json:"dhcp4"`
		Addresses   []string          `json:"addresses,omitempty"`
		Routes      []map[string]any  `json:"routes,omitempty"`
		Nameservers map[string]any    `json:"nameservers,omitempty"`
	}
	eths := map[string]eth{}
	gatewaySet := false
	for _, ifc := range m.Interfaces {
		e := eth{Match: map[string]string{"macaddress": ifc.MAC.String()}, SetName: ifc.Name}
		addrs, err := b.st.InterfaceAddresses(ctx, ifc.ID)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !a.Addr.IsValid() {
				continue
			}
			sn, err := b.st.Subnet(ctx, a.SubnetID)
			if err != nil {
				return nil, mapErr(err)
			}
			e.Addresses = append(e.Addresses, netip.PrefixFrom(a.Addr, sn.CIDR.Bits()).String())
			if sn.Gateway.IsValid() && !gatewaySet {
				e.Routes = append(e.Routes, map[string]any{"to": "default", "via": sn.Gateway.String()})
				gatewaySet = true
			}
			if len(sn.DNSServers) > 0 {
				e.Nameservers = map[string]any{"addresses": mapSlice(sn.DNSServers, netip.Addr.String)}
			}
		}
		e.DHCP4 = len(e.Addresses) == 0
		eths[ifc.Name] = e
	}
	return json.Marshal(map[string]any{"version": 2, "ethernets": eths})
}

// Signal implements api.Metadata.
func (b *Backend) Signal(ctx context.Context, id string, s api.Signal) error {
	m, err := b.st.Machine(ctx, id)
	if err != nil {
		return mapErr(err)
	}
	switch s.Status {
	case "installed":
		if m.Status != lifecycle.Deploying {
			return &api.Error{Status: 409, Code: "invalid_transition", MachineStatus: m.Status,
				Message: fmt.Sprintf("machine %s is %s, not deploying", id, m.Status.Title())}
		}
		_, err := b.st.AddEvent(ctx, store.Event{SystemID: id, Type: "installed", User: "machine:" + id, Reason: truncate(s.Log, 2000)})
		if err != nil {
			return err
		}
		// Installation done; from now on the machine boots from disk.
		_, err = b.st.Heartbeat(ctx, id)
		return mapErr(err)
	case "booted":
		if m.Status == lifecycle.EnteringRescueMode {
			return b.systemEvent(ctx, m, lifecycle.EventRescueEntered, "the rescue environment is up")
		}
		return b.systemEvent(ctx, m, lifecycle.EventDeployed, "the installed system booted")
	case "tested":
		return b.systemEvent(ctx, m, lifecycle.EventTested, "hardware tests passed: "+truncate(s.Log, 2000))
	case "erased":
		return b.systemEvent(ctx, m, lifecycle.EventErased, "disks erased")
	case "failed":
		return b.systemEvent(ctx, m, lifecycle.EventFailed, "the ephemeral environment reported failure: "+truncate(s.Log, 2000))
	}
	return api.BadField("status", s.Status, "use installed, booted, erased, tested or failed")
}
