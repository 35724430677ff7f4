package dhcpsrv

import "os"

// runChild runs the helper process a test re-executed this binary as, and
// reports whether it did (TestMain then exits).
func runChild() bool {
	switch os.Getenv("DHCPSRV_CHILD") {
	case "":
		return false
	}
	return true
}
