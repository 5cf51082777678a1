package release_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/release/releasetest"
)

// BenchmarkPushOneLineChange measures, on the running local stack, a warm
// push of the Go sample after a one-line change: from `git push` starting
// to the image pushed to the registry (the builder's "Built in" line), and to
// the router serving the new version, and the rollout of the built release
// alone (the "Releasing" line to serving: what a config change or rollback
// costs). Figures are medians; the app's first (cold) push is reported too. Run with:
//
//	go test -run '^$' -bench PushOneLineChange -benchtime 5x ./release
func BenchmarkPushOneLineChange(b *testing.B) {
	s := releasetest.NewStackTenant(b)
	app := s.CreateApp(b, "bench")
	dir := s.Repo(b, "go", app.Name)

	cold := time.Now()
	out, err := s.Push(dir)
	require.NoError(b, err, "push output:\n%s", out)
	coldPush := time.Since(cold).Seconds()

	var toBuilding, toImage, toServing, rollout []float64
	main := filepath.Join(dir, "main.go")
	src, err := os.ReadFile(main)
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		body := fmt.Sprintf("hello from go, change %d", i)
		require.NoError(b, os.WriteFile(main, []byte(strings.Replace(string(src), "hello from go", body, 1)), 0o644))
		s.Git(b, dir, "commit", "-q", "-am", body)
		b.StartTimer()

		start := time.Now()
		cmd := s.GitCmd(dir, "push", "platform", "main")
		stderr, err := cmd.StderrPipe()
		require.NoError(b, err)
		require.NoError(b, cmd.Start())
		var (
			lines     []string
			releasing time.Time
		)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			lines = append(lines, line)
			switch {
			case strings.Contains(line, "-----> Building"):
				toBuilding = append(toBuilding, time.Since(start).Seconds())
			case strings.Contains(line, "-----> Built in"):
				toImage = append(toImage, time.Since(start).Seconds())
			case strings.Contains(line, "-----> Releasing"):
				releasing = time.Now()
			}
		}
		require.NoError(b, cmd.Wait(), "push output:\n%s", strings.Join(lines, "\n"))
		// A poll, every 10 ms: when the new version is served is what
		// the benchmark measures.
		for {
			code, got := s.Get(b, app.Name, "/")
			if code == 200 && strings.Contains(got, body) {
				break
			}
			require.Less(b, time.Since(start), time.Minute, "new version not served: %d %s", code, got)
			time.Sleep(10 * time.Millisecond)
		}
		toServing = append(toServing, time.Since(start).Seconds())
		rollout = append(rollout, time.Since(releasing).Seconds())
	}
	b.StopTimer()
	b.ReportMetric(coldPush, "cold-push-s")
	b.ReportMetric(median(rollout), "release-to-serving-s")
	b.ReportMetric(median(toBuilding), "to-build-start-s")
	b.ReportMetric(median(toImage), "to-image-s")
	b.ReportMetric(median(toServing), "to-serving-s")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	return c[len(c)/2]
}
