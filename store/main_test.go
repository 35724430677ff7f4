package store_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a Store leaves goroutines behind (change
// listeners, subscriptions) after every test closed its Stores.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
