package lifecycle

import (
	"fmt"
	"slices"
)

// Status is a machine's node status. Its value is a stable lower-case,
// hyphenated name suitable for storage and APIs; the zero value is not a
// status.
type Status string

// Every node status of the MAAS tradition.
const (
	// New: enlisted (or added) but never commissioned.
	New Status = "new"
	// Commissioning: the ephemeral environment is taking inventory.
	Commissioning Status = "commissioning"
	// FailedCommissioning: commissioning failed or its deadline expired.
	FailedCommissioning Status = "failed-commissioning"
	// Missing: the machine cannot be found (no BMC, no rack sees it).
	Missing Status = "missing"
	// Ready: commissioned, unowned, available for allocation.
	Ready Status = "ready"
	// Reserved: held back for imminent use; not allocatable by others.
	Reserved Status = "reserved"
	// Allocated: owned by a user, not yet deployed.
	Allocated Status = "allocated"
	// Deploying: the ephemeral environment is installing the image.
	Deploying Status = "deploying"
	// Deployed: installed and booting from local disk.
	Deployed Status = "deployed"
	// FailedDeployment: deployment failed or its deadline expired.
	FailedDeployment Status = "failed-deployment"
	// Releasing: being powered off and returned to the pool.
	Releasing Status = "releasing"
	// FailedReleasing: releasing failed or its deadline expired.
	FailedReleasing Status = "failed-releasing"
	// DiskErasing: the ephemeral environment is erasing the disks on release.
	DiskErasing Status = "disk-erasing"
	// FailedDiskErasing: disk erasure failed or its deadline expired.
	FailedDiskErasing Status = "failed-disk-erasing"
	// EnteringRescueMode: booting the ephemeral environment for rescue.
	EnteringRescueMode Status = "entering-rescue-mode"
	// RescueMode: running the ephemeral environment for rescue.
	RescueMode Status = "rescue-mode"
	// FailedEnteringRescueMode: entering rescue mode failed or timed out.
	FailedEnteringRescueMode Status = "failed-entering-rescue-mode"
	// ExitingRescueMode: leaving rescue mode back to the previous status.
	ExitingRescueMode Status = "exiting-rescue-mode"
	// FailedExitingRescueMode: exiting rescue mode failed or timed out.
	FailedExitingRescueMode Status = "failed-exiting-rescue-mode"
	// Testing: the ephemeral environment is running hardware tests.
	Testing Status = "testing"
	// FailedTesting: hardware tests failed or their deadline expired.
	FailedTesting Status = "failed-testing"
	// Broken: marked broken by a user; out of service until marked fixed.
	Broken Status = "broken"
	// Retired: permanently out of service; only commissioning revives it.
	Retired Status = "retired"
)

// statusTitles holds every status in declaration order with its
// human-readable title (as MAAS shows it).
var statusTitles = [...]struct {
	s     Status
	title string
}{
	{New, "New"},
	{Commissioning, "Commissioning"},
	{FailedCommissioning, "Failed commissioning"},
	{Missing, "Missing"},
	{Ready, "Ready"},
	{Reserved, "Reserved"},
	{Allocated, "Allocated"},
	{Deploying, "Deploying"},
	{Deployed, "Deployed"},
	{FailedDeployment, "Failed deployment"},
	{Releasing, "Releasing"},
	{FailedReleasing, "Releasing failed"},
	{DiskErasing, "Disk erasing"},
	{FailedDiskErasing, "Failed disk erasing"},
	{EnteringRescueMode, "Entering rescue mode"},
	{RescueMode, "Rescue mode"},
	{FailedEnteringRescueMode, "Failed to enter rescue mode"},
	{ExitingRescueMode, "Exiting rescue mode"},
	{FailedExitingRescueMode, "Failed to exit rescue mode"},
	{Testing, "Testing"},
	{FailedTesting, "Failed testing"},
	{Broken, "Broken"},
	{Retired, "Retired"},
}

// Statuses returns every status in a stable order (New first). The slice is
// the caller's to modify.
func Statuses() []Status {
	out := make([]Status, len(statusTitles))
	for i, st := range statusTitles {
		out[i] = st.s
	}
	return out
}

// String returns the stored name of the status.
func (s Status) String() string { return string(s) }

// Valid reports whether s is one of the defined statuses.
func (s Status) Valid() bool {
	return slices.ContainsFunc(statusTitles[:], func(st struct {
		s     Status
		title string
	}) bool {
		return st.s == s
	})
}

// Title returns the human-readable name ("Failed commissioning"), or the
// stored name for an undefined status.
func (s Status) Title() string {
	for _, st := range statusTitles {
		if st.s == s {
			return st.title
		}
	}
	return string(s)
}

// ParseStatus returns the status with the stored name s.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", fmt.Errorf("lifecycle: unknown status %q: use one of %v", s, Statuses())
	}
	return st, nil
}
