package h1

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestConnectionListed(t *testing.T) {
	assert.True(t, ConnectionListed([]string{"keep-alive, X-Secret"}, "X-Secret"))
	assert.True(t, ConnectionListed([]string{"close", " upgrade "}, "Upgrade"))
	assert.False(t, ConnectionListed([]string{"X-Secret-2"}, "X-Secret"))
	assert.False(t, ConnectionListed(nil, "X"))
}
