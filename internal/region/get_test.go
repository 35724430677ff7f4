package region

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/region/auth"
	"github.com/ironkit/ironkit/netmodel"
	"github.com/ironkit/ironkit/store"
)

// TestGetMachineMatchesList: the single GET (one query through
// store.MachineExtra) presents a machine exactly as the list (the page's
// side-table union) does: details, tags, addresses, zone, pool, MACs; and a
// machine with no region data too.
func TestGetMachineMatchesList(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		svc, _ := startRegion(t, dsn, &recPower{ops: map[string][]string{}})
		st, b := svc.Store(), svc.Backend()
		admin := auth.Principal{Kind: auth.Admin, UserID: 1, Username: "admin"}
		if _, err := st.CreateZone(ctx, netmodel.Zone{Name: "rack-2"}); err != nil {
			t.Fatal(err)
		}
		bare, err := b.CreateMachine(ctx, admin, api.MachineCreate{Architecture: "amd64/generic", MACAddresses: []string{"52:54:00:ef:00:01"}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := b.CreateMachine(ctx, admin, api.MachineCreate{Architecture: "amd64/generic",
			MACAddresses: []string{"52:54:00:ef:00:03", "52:54:00:ef:00:02"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"zeta", "Alpha", "gpu"} {
			if _, err := st.DB().ExecContext(ctx, "INSERT INTO tags (name, comment, created_at) VALUES (?, '', ?)", name, time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
		}
		zone, tags, cpu, mem := "rack-2", []string{"zeta", "Alpha", "gpu"}, 16, int64(65536)
		if _, err := b.UpdateMachine(ctx, admin, m.SystemID, api.MachineUpdate{Zone: &zone, Tags: &tags, CPUCount: &cpu, MemoryMiB: &mem}); err != nil {
			t.Fatal(err)
		}
		f, err := st.CreateFabric(ctx, netmodel.Fabric{Name: "f-get"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := st.UntaggedVLAN(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		p := netip.MustParsePrefix("10.23.0.0/24")
		sn, err := st.CreateSubnet(ctx, netmodel.Subnet{VLANID: v.ID, CIDR: p, Gateway: p.Addr().Next()})
		if err != nil {
			t.Fatal(err)
		}
		sm, err := st.Machine(ctx, m.SystemID)
		if err != nil {
			t.Fatal(err)
		}
		for _, ifc := range []store.Interface{sm.Interfaces[1], sm.Interfaces[0]} {
			if _, err := st.AllocateIP(ctx, sn.ID, store.AllocRequest{Type: netmodel.AllocSticky, InterfaceID: ifc.ID}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := b.ListMachines(ctx, api.MachineQuery{Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 {
			t.Fatalf("listed %d machines, want 2", len(list))
		}
		for _, want := range list {
			got, err := b.GetMachine(ctx, want.SystemID)
			if err != nil {
				t.Fatal(err)
			}
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			if string(gj) != string(wj) {
				t.Fatalf("GET %s:\n%s\nlist:\n%s", want.SystemID, gj, wj)
			}
			if want.SystemID == m.SystemID && (got.Zone != "rack-2" || len(got.Tags) != 3 || len(got.IPAddresses) != 2 ||
				got.CPUCount != 16 || got.MemoryMiB != 65536 || len(got.MACAddresses) != 2) {
				t.Fatalf("GET %s = %s: want zone rack-2, 3 tags, 2 addresses, 16 CPUs, 65536 MiB, 2 MACs", m.SystemID, gj)
			}
			if want.SystemID == bare.SystemID && (got.PowerState != "unknown" || got.Tags != nil || got.IPAddresses != nil) {
				t.Fatalf("bare machine GET = %s", gj)
			}
		}
		if _, err := b.GetMachine(ctx, "nosuch"); err == nil {
			t.Fatal("GET of an unknown machine succeeded")
		}
	})
}
