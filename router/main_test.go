package router

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if goroutines they started outlive them. It
// ignores none: the informers end with Run, and the local-stack test reads
// its client's certificates into memory and closes the client's
// connections, so that client-go leaves no goroutine behind (see there).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
