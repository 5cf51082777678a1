package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, _, err := runCLI(t, args...)
		require.NoError(t, err, args)
		assert.Equal(t, "platform dev\n", out, args)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"help"}} {
		out, _, err := runCLI(t, args...)
		require.NoError(t, err, args)
		assert.Contains(t, out, "topic:command", args)
		assert.Contains(t, out, "PLATFORM_API_URL", args)
		assert.Contains(t, out, "version", args)
	}
}

func TestUnknownCommand(t *testing.T) {
	_, _, err := runCLI(t, "apps:destroy")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown command")
}
