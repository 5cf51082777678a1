package gitreceive

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPackHolds(t *testing.T) {
	base := filepath.Join(t.TempDir(), "pack-0123")
	write := func() {
		for _, ext := range []string{".pack", ".idx"} {
			require.NoError(t, os.WriteFile(base+ext, []byte("x"), 0o444))
		}
	}
	exists := func() bool {
		_, err := os.Stat(base + ".pack")
		return err == nil
	}
	var h packHolds
	hold := func(created bool) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.holdLocked(base, created)
	}

	// The same pack pushed twice at once: the first push is refused while
	// the second, which found the pack there, is still in flight.
	write()
	hold(true)
	hold(false)
	require.NoError(t, h.release(base, false))
	assert.True(t, exists(), "the second push still needs it")
	require.NoError(t, h.release(base, true))
	assert.True(t, exists(), "the second push was accepted")

	// A refused push alone: its pack goes.
	hold(false)
	require.NoError(t, h.release(base, false))
	assert.True(t, exists(), "there before any push in flight: an accepted push's")
	require.NoError(t, os.Remove(base+".pack"))
	require.NoError(t, os.Remove(base+".idx"))
	write()
	hold(true)
	require.NoError(t, h.release(base, false))
	assert.False(t, exists())
	assert.Empty(t, h.m)
}
