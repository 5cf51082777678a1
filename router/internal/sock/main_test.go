package sock

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the tests if goroutines they started outlive them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
