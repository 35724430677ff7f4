// Package ironctl is the command-line client of the region API: login
// profiles (region URL + API key in a YAML file), commands for machines,
// networks, racks and events, and json or table output. cmd/ironctl is its
// thin main; everything here takes its I/O (args, environment lookups,
// stdout, the profile file path) as parameters so it is testable.
//
// It does not talk to the database or racks: only to /api/v1.
package ironctl
