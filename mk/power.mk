# power: BMC drivers benchmark. State query of 1,000 simulated BMCs (IPMI
# and Redfish mixed) on loopback, and the IPMI driver against ipmitool.
.PHONY: bench-power
bench: bench-power

bench-power:
	$(GO) test -run '^$$' -bench 'BenchmarkPower' -benchtime 1x -count 3 -timeout 20m ./power/
