package gitreceive

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: the
// server's listener, its SSH sessions, their keepalive loops and the
// pushes they run must all have stopped by the time the tests end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
