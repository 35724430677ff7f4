package store_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a Store leaves goroutines behind (change
// listeners, subscriptions) after every test closed its Stores. Started
// with childDSNEnv set, the binary is an allocator child process instead.
func TestMain(m *testing.M) {
	if os.Getenv(childDSNEnv) != "" {
		os.Exit(allocatorChild())
	}
	goleak.VerifyTestMain(m)
}
