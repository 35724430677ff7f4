package region

import (
	"testing"

	"github.com/ironkit/ironkit/internal/testenv"
)

// freshPostgres gives the test a database of its own on the test server.
func freshPostgres(t *testing.T) string {
	t.Helper()
	return testenv.FreshPostgres(t, "region")
}
