package builder

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

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

// imageCommand returns the ENTRYPOINT and CMD instructions of a
// Dockerfile's last stage, as written ("CMD [\"./server\"]"), or "" when
// the stage has neither (its base image's apply) or the Dockerfile does not
// parse (the build says why).
func imageCommand(dockerfile []byte) string {
	res, err := parser.Parse(bytes.NewReader(dockerfile))
	if err != nil {
		return ""
	}
	var entrypoint, cmd string
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "from":
			entrypoint, cmd = "", ""
		case "entrypoint":
			entrypoint = strings.TrimSpace(n.Original)
		case "cmd":
			cmd = strings.TrimSpace(n.Original)
		}
	}
	return strings.TrimSpace(entrypoint + " " + cmd)
}
