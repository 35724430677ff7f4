package ironctl

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// columns are the table columns of each resource, as JSON keys.
var columns = map[string][]string{
	"machines":       {"system_id", "hostname", "status", "owner", "architecture", "cpu_count", "memory_mib", "power_state", "zone", "pool"},
	"fabrics":        {"id", "name", "description"},
	"vlans":          {"id", "fabric_id", "vid", "name", "mtu", "dhcp_on", "primary_rack", "secondary_rack", "relay_vlan_id"},
	"subnets":        {"id", "name", "cidr", "vlan_id", "gateway_ip", "dns_servers"},
	"ipranges":       {"id", "subnet_id", "type", "start_ip", "end_ip", "comment"},
	"ipaddresses":    {"id", "subnet_id", "ip", "alloc_type", "system_id", "owner"},
	"zones":          {"id", "name", "description"},
	"pools":          {"id", "name", "description"},
	"tags":           {"id", "name", "comment"},
	"racks":          {"id", "name", "version", "last_seen"},
	"events":         {"created", "system_id", "type", "from_status", "to_status", "actor", "message"},
	"users":          {"id", "username", "email", "admin"},
	"boot-resources": {"name", "version", "type", "complete", "size"},
	"api-keys":       {"id", "name", "created", "revoked"},
}

// render writes v (decoded JSON) as JSON or as a table of the resource's
// columns; a single object is shown as key/value lines.
func render(w io.Writer, format, resource string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	switch x := v.(type) {
	case []any:
		cols := columns[resource]
		if cols == nil && len(x) > 0 {
			if m, ok := x[0].(map[string]any); ok {
				cols = sortedKeys(m)
			}
		}
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(cols, "\t")))
		for _, it := range x {
			m, _ := it.(map[string]any)
			cells := make([]string, len(cols))
			for i, c := range cols {
				cells[i] = cell(m[c])
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			fmt.Fprintf(tw, "%s:\t%s\n", k, cell(x[k]))
		}
	case nil:
	default:
		fmt.Fprintln(tw, cell(x))
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if x == "" {
			return "-"
		}
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprintf("%d", int64(x))
		}
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, p := range x {
			parts[i] = cell(p)
		}
		return strings.Join(parts, ",")
	case map[string]any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}
