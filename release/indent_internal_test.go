package release

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIndented(t *testing.T) {
	var out strings.Builder
	w := &indented{w: &out}
	fmt.Fprintln(w, "web: 1/2 new pods ready")
	fmt.Fprint(w, "release phase: migr")
	fmt.Fprint(w, "ating\nmigrated\n\nno newline")
	w.end()
	assert.Equal(t, "       web: 1/2 new pods ready\n       release phase: migrating\n       migrated\n       \n       no newline\n", out.String())
}
