package registry_test

import (
	"io"
	"os"
	"testing"

	"github.com/sirupsen/logrus"
)

// TestMain quiets the library's access log, which goes to logrus's
// process-wide logger (platformd routes it; a test has nowhere to).
func TestMain(m *testing.M) {
	logrus.SetOutput(io.Discard)
	os.Exit(m.Run())
}
