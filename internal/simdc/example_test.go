package simdc_test

import (
	"fmt"
	"net"

	"github.com/ironkit/ironkit/internal/region/api"
	"github.com/ironkit/ironkit/internal/simdc"
)

// A machine's hardware, and the inventory its commissioning reports.
func ExampleSpec_Inventory() {
	s := simdc.Spec{
		Hostname: "sim-001", Cores: 8, MemoryMiB: 16384,
		MACs:       []net.HardwareAddr{{0x52, 0x54, 0, 0, 0, 1}},
		Disks:      []api.InventoryDisk{{Name: "sda", Size: 240 << 30}},
		SystemUUID: "5d5d5d5d-0000-4000-8000-000000000001",
	}
	inv := s.Inventory()
	fmt.Println(inv.CPU.Count, inv.MemoryMiB, inv.Disks[0].Name, inv.NICs[0].Name, inv.NICs[0].MAC, inv.Firmware["system_uuid"])
	// Output:
	// 8 16384 sda eno1 52:54:00:00:00:01 5d5d5d5d-0000-4000-8000-000000000001
}
