package main

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/klog/v2"

	"github.com/platform-paas/platform/deploy/localstack/syncbuf"
)

// TestRouteLibraryLogsFollowsTheLatestLogger checks that klog's lines go to
// the logger of the latest call, and (under -race) that calls while
// client-go logs do not race.
func TestRouteLibraryLogsFollowsTheLatestLogger(t *testing.T) {
	var first, second syncbuf.Buffer
	routeLibraryLogs(slog.New(slog.NewTextHandler(&first, nil)), slog.LevelInfo)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				klog.Background().Info("busy")
			}
		})
	}
	routeLibraryLogs(slog.New(slog.NewTextHandler(&second, nil)), slog.LevelInfo)
	wg.Wait()
	klog.Background().WithValues("pod", "web-1").Info("after the switch")
	assert.Contains(t, second.String(), "after the switch")
	assert.Contains(t, second.String(), "pod=web-1")
	assert.Contains(t, second.String(), "component=klog")
	assert.NotContains(t, first.String(), "after the switch")
}
