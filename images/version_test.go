package images

import (
	"slices"
	"strings"
	"testing"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1", 0},
		{"9", "10", -1},
		{"20261121.2", "20261121.10", -1},
		{"20261121.10", "20261121.9", 1},
		{"20261121", "20261121.1", -1},    // a prefix sorts first
		{"20261121.1", "20261122", -1},    // the date decides before the serial
		{"20261121_9", "20261121_10", -1}, // other separators
		{"2026-11-3", "2026-11-21", -1},   // dates without leading zeros
		{"2026-11-21", "2026-12-01", -1},  // ISO dates
		{"2026-01-05", "2026-1-10", -1},   // mixed zero padding
		{"20261121T0930Z", "20261121T1015Z", -1},
		{"v1.9", "v1.10", -1},
		{"1.2.9", "1.2.10", -1},
		{"1.10", "1.9.9", 1},
		{"1.a", "1.1", 1}, // number against text: byte order ('1' < 'a')
		{"a", "b", -1},
		{"abc", "abd", -1},
		{"1a", "1b", -1},
		{"1", "1a", -1},
		{"01", "1", -1}, // equal as numbers: string order keeps the order total
		{"007", "7", -1},
		{"10", "010", 1},
		{"99999999999999999999999999", "100000000000000000000000000", -1}, // no overflow
		{"18446744073709551616", "18446744073709551615", 1},
		{"", "1", -1},
		{"", "", 0},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d (antisymmetry)", tt.b, tt.a, got, -tt.want)
		}
	}
}

// TestCompareVersionsIsTotalOrder checks transitivity and that 0 means
// equal strings over a mixed sample, so sorting is deterministic.
func TestCompareVersionsIsTotalOrder(t *testing.T) {
	vs := []string{"1", "01", "1.0", "1.00", "1.10", "1.9", "1a", "1.a", "a", "", "10", "2", "20261121",
		"20261121.1", "20261121.10", "20261121.2", "2026-11-21", "2026-11-3", "v1", "v10", "v2", "~1", "1~"}
	for _, a := range vs {
		for _, b := range vs {
			ab := CompareVersions(a, b)
			if (ab == 0) != (a == b) {
				t.Fatalf("CompareVersions(%q, %q) = %d", a, b, ab)
			}
			for _, c := range vs {
				if ab < 0 && CompareVersions(b, c) < 0 && CompareVersions(a, c) >= 0 {
					t.Fatalf("not transitive: %q < %q < %q but CompareVersions(%q, %q) = %d", a, b, c, a, c, CompareVersions(a, c))
				}
			}
		}
	}
	got := slices.Clone(vs[10:17])
	slices.SortFunc(got, CompareVersions)
	want := []string{"2", "10", "2026-11-21", "20261121", "20261121.1", "20261121.2", "20261121.10"} // 2026 < 20261121
	if !slices.Equal(got, want) {
		t.Fatalf("sorted = %s, want %s", strings.Join(got, " "), strings.Join(want, " "))
	}
}

func TestCurrentAndPruneUseNumericVersions(t *testing.T) {
	key := Key{OS: "ubuntu", Release: "noble", Arch: "amd64", Subarch: "generic", Flavour: "generic"}
	var sets []Set
	for _, v := range []string{"20261121.9", "20261121.10", "20261121.2"} {
		sets = append(sets, Set{Key: key, Version: v, Type: Synced, Complete: true})
	}
	cur := Current(sets)
	if len(cur) != 1 || cur[0].Version != "20261121.10" {
		t.Fatalf("Current = %+v, want version 20261121.10", cur)
	}
	sortSets(sets)
	var order []string
	for _, s := range sets {
		order = append(order, s.Version)
	}
	if want := []string{"20261121.2", "20261121.9", "20261121.10"}; !slices.Equal(order, want) {
		t.Fatalf("sortSets order = %v, want %v", order, want)
	}
}
