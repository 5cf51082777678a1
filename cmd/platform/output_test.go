package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgo(t *testing.T) {
	c := &cli{now: func() time.Time { return testNow }}
	for d, want := range map[time.Duration]string{
		-time.Second:                    "~ 0s ago",
		0:                               "~ 0s ago",
		59 * time.Second:                "~ 59s ago",
		time.Minute:                     "~ 1m ago",
		59*time.Minute + 59*time.Second: "~ 59m ago",
		time.Hour:                       "~ 1h ago",
		47 * time.Hour:                  "~ 47h ago",
		48 * time.Hour:                  "~ 2d ago",
		400 * 24 * time.Hour:            "~ 400d ago",
	} {
		assert.Equal(t, want, c.ago(at(d)), d)
	}
}

func TestStamp(t *testing.T) {
	tz := time.FixedZone("EST", -5*3600)
	c := &cli{tz: tz}
	assert.Equal(t, "2026-11-25 05:03 EST", c.stamp(testNow))
	c.tz = time.UTC
	assert.Equal(t, "2026-11-25 10:03 UTC", c.stamp(testNow))
	assert.Equal(t, "", c.stamp(time.Time{}))
}

func TestRowsAndPairs(t *testing.T) {
	var out bytes.Buffer
	c := &cli{stdout: &out}
	require.NoError(t, c.table([]string{"A", "BB", "C"}, [][]string{{"long cell", "x", ""}, {"y", "", "z"}}))
	assert.Equal(t, "A          BB  C\nlong cell  x\ny              z\n", out.String(), "no trailing blanks")

	out.Reset()
	c.pairs([]string{"KEY", "LONGER_KEY", "EMPTY"}, func(k string) string {
		return map[string]string{"KEY": "one\ntwo", "LONGER_KEY": "v"}[k]
	})
	assert.Equal(t, "KEY:        one\n            two\nLONGER_KEY: v\nEMPTY:\n", out.String())
}
