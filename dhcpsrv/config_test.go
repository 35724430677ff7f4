package dhcpsrv

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestValidateNamesTheProblem(t *testing.T) {
	ok := testConfig()
	tests := []struct {
		name  string
		spoil func(c *Config)
		want  string
	}{
		{"no subnets", func(c *Config) { c.Subnets = nil }, "no subnets"},
		{"host bits", func(c *Config) { c.Subnets[0].Prefix = netip.MustParsePrefix("10.9.0.1/24") }, "host bits set: use 10.9.0.0/24"},
		{"server outside attached subnet", func(c *Config) { c.Subnets[0].ServerAddr = mustAddr("10.7.0.1") }, "ServerAddr 10.7.0.1 is not inside 10.9.0.0/24"},
		{"pool outside", func(c *Config) { c.Subnets[0].Pools[0].End = mustAddr("10.9.1.5") }, "is not inside 10.9.0.0/24"},
		{"overlapping pools", func(c *Config) {
			c.Subnets[0].Pools = append(c.Subnets[0].Pools, Pool{Start: mustAddr("10.9.0.101"), End: mustAddr("10.9.0.110")})
		}, "pools 0 and 1 overlap"},
		{"duplicate reservation", func(c *Config) {
			c.Subnets[0].Reservations = append(c.Subnets[0].Reservations, Reservation{MAC: macR, Addr: mustAddr("10.9.0.51")})
		}, "reserved twice"},
		{"protocol option", func(c *Config) { c.Subnets[0].Options = []Option{{Code: 53, Value: []byte{1}}} }, "codes 0, 53, 54 and 255"},
		{"overlapping subnets", func(c *Config) { c.Subnets[1].Prefix = netip.MustParsePrefix("10.9.0.0/16") }, "overlap"},
		{"relative HTTP base", func(c *Config) { c.Boot.HTTPBase = "boot/" }, "not an absolute http:// URL"},
		{"interface not listed", func(c *Config) { c.Interfaces = []string{"eth1"} }, `Interface "eth0" is not in Config.Interfaces`},
		{"bad failover", func(c *Config) { c.Failover = &Failover{Mode: HotStandby, Role: 7} }, "Failover.Role 7"},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("the base config is invalid: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			tc.spoil(&c)
			err := c.Validate()
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
}
