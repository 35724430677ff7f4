package rack_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// database/sql's opener goroutine ends when a pool closes; the
		// region's pool closes in a cleanup after goleak's check of a
		// failing test can run.
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}
