package power_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test in the package must leave no goroutine behind: drivers,
// simulators and the bulk query all stop what they start.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
