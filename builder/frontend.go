package builder

import (
	"errors"
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// ErrFrontendPinned is returned (wrapped) by Detect for a Dockerfile that
// names its own frontend.
var ErrFrontendPinned = errors.New("the Dockerfile frontend is pinned by the platform")

// checkDockerfile refuses a Dockerfile whose syntax directive (`# syntax=`,
// or the other comment forms BuildKit accepts) names a frontend image.
// Such a frontend is a program of the user's choosing that BuildKit would
// run with the build's privileges: it could give its steps cache mounts
// outside the app's namespace and read the build's secrets as it pleases.
// Builds always use the Dockerfile frontend compiled into BuildKit, and
// the local stack's BuildKit has no other (see deploy/local/up.sh).
func checkDockerfile(root *os.Root) error {
	data, _, err := readFile(root, "Dockerfile")
	if err != nil {
		return err
	}
	ref, _, loc, ok := parser.DetectSyntax(data)
	if !ok {
		return nil
	}
	line := 1
	if len(loc) > 0 {
		line = loc[0].Start.Line
	}
	return fmt.Errorf("Dockerfile line %d names the frontend %q: %w; remove the syntax line and push again "+
		"(the built-in frontend supports the current Dockerfile syntax, including RUN --mount)", line, ref, ErrFrontendPinned)
}
