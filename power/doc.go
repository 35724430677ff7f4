// Package power turns machines on and off and makes them PXE-boot through
// their baseboard management controllers (BMCs).
//
// It owns:
//   - the small driver interfaces ([PowerSetter], [StateGetter],
//     [BootDeviceSetter], [BootDeviceClearer]) and the [Driver] that
//     combines them;
//   - a [Registry] of drivers with typed, validated parameter [Schema]s that
//     an API or CLI can show (name, type, required, secret);
//   - four built-in drivers: IPMI 2.0 over LAN ("ipmi", github.com/bougou/go-ipmi),
//     Redfish ("redfish", github.com/stmcginnis/gofish), templated HTTP calls
//     ("webhook") and "manual" (records what an operator must do);
//   - the [Engine] around a driver: retries with back-off for retryable
//     errors only, verification polling until the BMC reports the target
//     state, the boot-device/power-on delay quirk, and bulk state queries
//     with bounded concurrency.
//
// It does not own where BMC credentials are stored, which machine a BMC
// belongs to, or when to power a machine: callers (the region and rack
// services) decide that and hand this package a driver name and parameters.
// BMC simulators for tests, examples and simulated datacenters live in the
// sub-package powersim.
package power
