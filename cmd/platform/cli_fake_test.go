package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
)

// Tests of the commands whose endpoints need a deployer, against the fake
// API (see harness_test.go).

func TestConfigSet(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPatch, "/apps/shop/config", http.StatusOK, api.ConfigChange{
		Keys:    []string{"DATABASE_URL", "GREETING"},
		Release: api.Release{Version: 5, Status: "succeeded", Description: "Set DATABASE_URL, GREETING config vars", Current: true},
	})

	out, errOut, err := h.run(t, "config:set", "GREETING=hi there", "DATABASE_URL=postgres://db/shop?sslmode=require", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Setting DATABASE_URL, GREETING and restarting shop... done, v5, live in 0.0s\n", errOut)
	assert.Equal(t, []string{
		"DATABASE_URL: postgres://db/shop?sslmode=require",
		"GREETING:     hi there",
	}, lines(out))
	assert.Equal(t, []string{
		`PATCH /api/v1/apps/shop/config {"vars":{"DATABASE_URL":"postgres://db/shop?sslmode=require","GREETING":"hi there"}}`,
	}, h.requests())

	// The app from the checkout's platform remote.
	git(t, h.dir, "init", "-q")
	git(t, h.dir, "remote", "add", "platform", testGitURL+"/shop.git")
	assert.Equal(t, "EMPTY:\n", h.ok(t, "config:set", "EMPTY="))
	assert.Equal(t, []string{`PATCH /api/v1/apps/shop/config {"vars":{"EMPTY":""}}`}, h.requests())

	// A rollout that fails: the API says why; the line ends "failed".
	h.fake.fail(http.MethodPatch, "/apps/shop/config", http.StatusUnprocessableEntity, api.CodeReleaseFailed,
		"v6 failed: web did not become ready in 5m0s; the running release keeps serving and the config change was undone", "")
	_, errOut, err = h.run(t, "config:set", "GREETING=boom")
	assert.EqualError(t, err, "v6 failed: web did not become ready in 5m0s; the running release keeps serving and the config change was undone")
	assert.Equal(t, "Setting GREETING and restarting shop... failed\n", errOut)

	// A missing '=' is refused before anything is sent.
	h.requests()
	_, _, err = h.run(t, "config:set", "A=1", "GREETING", "B=2")
	assert.EqualError(t, err, `"GREETING" is not KEY=VALUE: give it a value, as in "GREETING=value"`)
	_, _, err = h.run(t, "config:set")
	assert.EqualError(t, err, "usage: platform config:set KEY=VALUE...")
	assert.Empty(t, h.requests())
}

func TestConfigUnset(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPatch, "/apps/shop/config", http.StatusOK, api.ConfigChange{
		Keys:    []string{"A", "B"},
		Release: api.Release{Version: 6, Status: "succeeded"},
	})
	out, errOut, err := h.run(t, "config:unset", "B", "A", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Unsetting A, B and restarting shop... done, v6, live in 0.0s\n", errOut)
	assert.Equal(t, []string{`PATCH /api/v1/apps/shop/config {"vars":{"A":null,"B":null}}`}, h.requests())

	_, _, err = h.run(t, "config:unset", "A=1", "-a", "shop")
	assert.EqualError(t, err, `"A=1" is not a config var name: config:unset takes names only, as in platform config:unset GREETING`)
	_, _, err = h.run(t, "config:unset", "-a", "shop")
	assert.EqualError(t, err, "usage: platform config:unset KEY...")
	assert.Empty(t, h.requests())
}

func TestPs(t *testing.T) {
	h := newFakeHarness(t)
	dynos := api.Dynos{Items: []api.Dyno{
		{Name: "web.1", Type: "web", State: "up", Release: 5, Size: "standard", Command: "bundle exec puma", Since: at(3 * time.Minute)},
		{Name: "web.2", Type: "web", State: "crashed", Reason: "CrashLoopBackOff", Release: 5, Size: "standard", Command: "bundle exec puma", Restarts: 4, Since: at(90 * time.Second)},
		{Name: "web.3", Type: "web", State: "stopping", Release: 4, Size: "standard", Command: "bundle exec puma", Since: at(10 * time.Minute)},
		{Name: "clock.1", Type: "clock", State: "starting", Release: 5, Size: "small", Since: at(5 * time.Second)},
	}}
	h.fake.reply(http.MethodGet, "/apps/shop/ps", http.StatusOK, dynos)
	h.fake.reply(http.MethodGet, "/apps/shop/formation", http.StatusOK, api.Formation{Items: []api.Process{
		{Type: "clock", Quantity: 1, Size: "small", Ready: 0, Release: 5},
		{Type: "web", Quantity: 2, Size: "standard", Command: "bundle exec puma", Ready: 1, Release: 5},
		{Type: "worker", Quantity: 0, Size: "large", Command: "bin/worker"},
	}})

	out := h.ok(t, "ps", "-a", "shop")
	assert.Equal(t, []string{
		"=== clock (small) (1)",
		"clock.1: starting 2026-11-25 10:02 UTC (~ 5s ago)",
		"",
		"=== web (standard): bundle exec puma (2, and 1 stopping)",
		"web.1: up 2026-11-25 10:00 UTC (~ 3m ago)",
		"web.2: crashed 2026-11-25 10:01 UTC (~ 1m ago): CrashLoopBackOff, restarted 4 times",
		"web.3: stopping 2026-11-25 09:53 UTC (~ 10m ago)",
		"",
		"=== worker (large): bin/worker (0)",
	}, lines(out))
	assert.Equal(t, []string{"GET /api/v1/apps/shop/ps", "GET /api/v1/apps/shop/formation"}, h.requests())

	var got api.Dynos
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "ps", "-a", "shop", "--json")), &got))
	assert.Equal(t, dynos, got)
	assert.Equal(t, []string{"GET /api/v1/apps/shop/ps"}, h.requests())

	// An app that runs nothing yet.
	h.fake.reply(http.MethodGet, "/apps/new/ps", http.StatusOK, api.Dynos{Items: []api.Dyno{}})
	h.fake.reply(http.MethodGet, "/apps/new/formation", http.StatusOK, api.Formation{Items: []api.Process{}})
	out, errOut, err := h.run(t, "ps", "-a", "new")
	require.NoError(t, err)
	assert.Empty(t, out)
	assert.Equal(t, "new runs no processes: git push platform main deploys it\n", errOut)
	assert.Equal(t, "{\n  \"items\": []\n}\n", h.ok(t, "ps", "-a", "new", "--json"))
}

func TestPsScale(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPatch, "/apps/shop/formation", http.StatusOK, api.Formation{Items: []api.Process{
		{Type: "web", Quantity: 3, Size: "large", Command: "bundle exec puma", Ready: 1, Release: 5},
		{Type: "worker", Quantity: 1, Size: "standard", Command: "bin/worker"},
	}})

	out, errOut, err := h.run(t, "ps:scale", "web=3", "worker=1", "web=large", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Scaling processes of shop... done, now running web at 3:large, worker at 1:standard\n", errOut)
	assert.Equal(t, []string{
		`PATCH /api/v1/apps/shop/formation {"updates":[{"type":"web","quantity":3,"size":"large"},{"type":"worker","quantity":1}]}`,
	}, h.requests())

	var f api.Formation
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "ps:scale", "worker=small", "-a", "shop", "--json")), &f))
	assert.Len(t, f.Items, 2)
	assert.Equal(t, []string{`PATCH /api/v1/apps/shop/formation {"updates":[{"type":"worker","size":"small"}]}`}, h.requests())

	// Without arguments: the formation, in the grammar ps:scale takes.
	h.fake.reply(http.MethodGet, "/apps/shop/formation", http.StatusOK, api.Formation{Items: []api.Process{
		{Type: "web", Quantity: 2, Size: "standard"},
		{Type: "worker", Quantity: 0, Size: "small"},
	}})
	assert.Equal(t, "web=2:standard worker=0:small\n", h.ok(t, "ps:scale", "-a", "shop"))
	assert.Equal(t, []string{"GET /api/v1/apps/shop/formation"}, h.requests())
	f = api.Formation{}
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "ps:scale", "-a", "shop", "--json")), &f))
	assert.Equal(t, api.Formation{Items: []api.Process{{Type: "web", Quantity: 2, Size: "standard"}, {Type: "worker", Quantity: 0, Size: "small"}}}, f)
	h.requests()

	// The quota says no.
	h.fake.fail(http.MethodPatch, "/apps/shop/formation", http.StatusForbidden, api.CodeQuotaExceeded,
		"tenant acme may run 20 processes: scaling web to 30 would make 31", "")
	_, errOut, err = h.run(t, "ps:scale", "web=30", "-a", "shop")
	assert.EqualError(t, err, "tenant acme may run 20 processes: scaling web to 30 would make 31")
	assert.Equal(t, "Scaling processes of shop... failed\n", errOut)
	h.requests()

	// Arguments are checked before anything is sent.
	_, _, err = h.run(t, "ps:scale", "web=3", "worker", "-a", "shop")
	assert.EqualError(t, err, `"worker" is not TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small`)
	_, _, err = h.run(t, "ps:scale", "web=2:huge", "-a", "shop")
	assert.EqualError(t, err, `"web=2:huge": "huge" is not a size: use small, standard, large`)
	_, _, err = h.run(t, "ps:scale", "web=abc", "-a", "shop")
	assert.EqualError(t, err, `"web=abc": "abc" is neither a quantity (a whole number from 0 to 1000, as in web=3) nor a size (small, standard, large, as in web=large)`)
	assert.Empty(t, h.requests())
}

func TestPsRestart(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPost, "/apps/shop/ps/restart", http.StatusNoContent, nil)

	out, errOut, err := h.run(t, "ps:restart", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Restarting all processes of shop... done, ready in 0.0s\n", errOut)
	_, errOut, err = h.run(t, "ps:restart", "worker", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Restarting worker processes of shop... done, ready in 0.0s\n", errOut)
	_, errOut, err = h.run(t, "ps:restart", "--no-wait", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Restarting all processes of shop... done, without waiting for the new processes (platform ps shows them)\n", errOut)
	assert.Equal(t, []string{
		`POST /api/v1/apps/shop/ps/restart {}`,
		`POST /api/v1/apps/shop/ps/restart {"type":"worker"}`,
		`POST /api/v1/apps/shop/ps/restart {"no_wait":true}`,
	}, h.requests())

	h.fake.fail(http.MethodPost, "/apps/shop/ps/restart", http.StatusNotFound, api.CodeNotFound, "shop runs no clock processes", "")
	_, errOut, err = h.run(t, "ps:restart", "clock", "-a", "shop")
	assert.EqualError(t, err, "shop runs no clock processes")
	assert.Equal(t, "Restarting clock processes of shop... failed\n", errOut)

	_, _, err = h.run(t, "ps:restart", "Web", "-a", "shop")
	assert.EqualError(t, err, `"Web" is not a process type: platform ps lists the app's`)
	_, _, err = h.run(t, "ps:restart", "web", "worker", "-a", "shop")
	assert.EqualError(t, err, "usage: platform ps:restart [TYPE]")
}

func TestReleasesRollback(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPost, "/apps/shop/releases", http.StatusCreated, api.Release{
		Version: 6, Status: "succeeded", Description: "Rollback to v3", Author: "alice@example.com", Current: true, CreatedAt: at(0),
	})

	out, errOut, err := h.run(t, "releases:rollback", "v3", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Empty(t, out)
	assert.Equal(t, "Rolling back shop to v3... done, v6, live in 0.0s\n", errOut)
	_, errOut, err = h.run(t, "releases:rollback", "3", "-a", "shop")
	require.NoError(t, err, errOut)

	// Without a version, the API picks the release before the current one.
	_, errOut, err = h.run(t, "releases:rollback", "-a", "shop")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Rolling back shop to the previous release... done, v6, live in 0.0s\nv6: Rollback to v3\n", errOut)
	assert.Equal(t, []string{
		`POST /api/v1/apps/shop/releases {"rollback_to":3}`,
		`POST /api/v1/apps/shop/releases {"rollback_to":3}`,
		`POST /api/v1/apps/shop/releases {"rollback_to":0}`,
	}, h.requests())

	h.fake.fail(http.MethodPost, "/apps/shop/releases", http.StatusConflict, api.CodeConflict,
		"cannot roll back: v4 is failed: only a release that succeeded can be rolled back to", "")
	_, errOut, err = h.run(t, "releases:rollback", "v4", "-a", "shop")
	assert.EqualError(t, err, "cannot roll back: v4 is failed: only a release that succeeded can be rolled back to")
	assert.Equal(t, "Rolling back shop to v4... failed\n", errOut)
	h.requests()

	_, _, err = h.run(t, "releases:rollback", "v0", "-a", "shop")
	assert.EqualError(t, err, `"v0" is not a release version such as v5: platform releases lists them`)
	assert.Empty(t, h.requests())
}

func TestLogs(t *testing.T) {
	h := newFakeHarness(t)
	const text = "2026-11-25T10:00:00.000000+00:00 app[web.1]: listening on :5000\n" +
		"2026-11-25T10:00:01.000000+00:00 app[web.1]: GET / 200\n"
	h.fake.handle(http.MethodGet, "/apps/shop/logs", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, text)
	})
	assert.Equal(t, text, h.ok(t, "logs", "-a", "shop"))
	assert.Equal(t, text, h.ok(t, "logs", "-a", "shop", "-n", "500", "-p", "web"))
	assert.Equal(t, text, h.ok(t, "logs", "-a", "shop", "--num", "5", "--process", "worker"))
	assert.Equal(t, []string{
		"GET /api/v1/apps/shop/logs",
		"GET /api/v1/apps/shop/logs?lines=500&process=web",
		"GET /api/v1/apps/shop/logs?lines=5&process=worker",
	}, h.requests())

	_, _, err := h.run(t, "logs", "-a", "shop", "-n", "-1")
	assert.EqualError(t, err, "--num -1: give a number of lines of 1 or more")
	_, _, err = h.run(t, "logs", "-a", "shop", "-p", "Web")
	assert.EqualError(t, err, `--process "Web" is not a process type: platform ps lists the app's`)
	assert.Empty(t, h.requests())

	h.fake.fail(http.MethodGet, "/apps/shop/logs", http.StatusForbidden, api.CodeForbidden, "viewers cannot read logs", "")
	_, _, err = h.run(t, "logs", "-a", "shop")
	assert.EqualError(t, err, "viewers cannot read logs")
}

// TestLogsTailEndsOnInterrupt: -t streams until the context main cancels
// on SIGINT, then exits cleanly.
func TestLogsTailEndsOnInterrupt(t *testing.T) {
	h := newFakeHarness(t)
	served := make(chan struct{})
	h.fake.handle(http.MethodGet, "/apps/shop/logs", func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "2026-11-25T10:00:00.000000+00:00 app[web.1]: first\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // a follow ends when the client goes
	})
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	h.onStdout = interrupt // Ctrl-C once the first line is shown

	out, errOut, err := h.runCtx(ctx, t, "logs", "-t", "-a", "shop", "-p", "web")
	require.NoError(t, err, "an interrupted -t exits 0: %s", errOut)
	assert.Equal(t, "2026-11-25T10:00:00.000000+00:00 app[web.1]: first\n", out)
	assert.Empty(t, errOut)
	assert.Equal(t, []string{"GET /api/v1/apps/shop/logs?follow=true&process=web"}, h.requests())
	select {
	case <-served:
	case <-time.After(10 * time.Second):
		t.Fatal("the request was not ended")
	}
}

func TestTenantsQuotaChangeAndSuspend(t *testing.T) {
	h := newFakeHarness(t)
	suspended := at(0)
	h.fake.handle(http.MethodPatch, "/tenants/acme", func(w http.ResponseWriter, r *http.Request) {
		var req api.UpdateTenantRequest
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		tenant := api.Tenant{Name: "acme", Quota: api.Quota{MaxApps: 20, MaxProcesses: 20, MaxSize: "large"}, CreatedAt: at(time.Hour)}
		if req.Suspended != nil && *req.Suspended {
			tenant.SuspendedAt = &suspended
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(tenant)
	})

	out, errOut, err := h.run(t, "tenants:quota", "acme", "--apps", "20", "--max-size", "large")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Changing the quota of tenant acme... done\n", errOut)
	assert.Equal(t, []string{
		"=== acme Quota",
		"Apps:      20",
		"Processes: 20",
		"Max size:  large",
	}, lines(out))
	var tenant api.Tenant
	require.NoError(t, json.Unmarshal([]byte(h.ok(t, "tenants:quota", "acme", "--processes", "0", "--json")), &tenant))
	assert.Equal(t, "acme", tenant.Name)
	assert.Equal(t, []string{
		`PATCH /api/v1/tenants/acme {"quota":{"max_apps":20,"max_size":"large"}}`,
		`PATCH /api/v1/tenants/acme {"quota":{"max_processes":0}}`,
	}, h.requests())

	_, errOut, err = h.run(t, "tenants:suspend", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Suspending tenant acme... done\n", errOut)
	_, errOut, err = h.run(t, "tenants:unsuspend", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Lifting the suspension of tenant acme... done\n", errOut)
	assert.Equal(t, []string{
		`PATCH /api/v1/tenants/acme {"suspended":true}`,
		`PATCH /api/v1/tenants/acme {"suspended":false}`,
	}, h.requests())

	h.fake.fail(http.MethodPatch, "/tenants/acme", http.StatusConflict, api.CodeConflict,
		"tenant acme uses more than that quota: it has 4 apps, more than max_apps 2: destroy some first", "quota.max_apps")
	_, errOut, err = h.run(t, "tenants:quota", "acme", "--apps", "2")
	assert.EqualError(t, err, "tenant acme uses more than that quota: it has 4 apps, more than max_apps 2: destroy some first")
	assert.Equal(t, "Changing the quota of tenant acme... failed\n", errOut)
}

// TestMembersAddSaysWhoWasInvited against the fake: the real platformd
// answers the same (TestMembersAndInvitations), with random IDs.
func TestMembersAddSaysWhoWasInvited(t *testing.T) {
	h := newFakeHarness(t)
	h.fake.reply(http.MethodPost, "/tenants/acme/members", http.StatusCreated, api.AddedMember{
		Invitation: &api.Invitation{ID: 7, Tenant: "acme", Email: "alice@example.com", Role: "member", CreatedAt: at(0), ExpiresAt: at(-7 * 24 * time.Hour)},
	})
	out, errOut, err := h.run(t, "members:add", "alice@example.com", "--tenant", "acme")
	require.NoError(t, err, errOut)
	assert.Equal(t, "Adding alice@example.com to tenant acme as member... done\n", errOut)
	assert.Equal(t, "invited alice@example.com: they accept with `platform invitations:accept acme` after signing in\n", out)
	assert.Equal(t, []string{`POST /api/v1/tenants/acme/members {"email":"alice@example.com","role":"member"}`}, h.requests())

	// A user the platform knows is a member at once.
	h.fake.reply(http.MethodPost, "/tenants/acme/members", http.StatusCreated, api.AddedMember{
		Member: &api.Member{Email: "bob@example.com", Role: "viewer", CreatedAt: at(0)},
	})
	out, _, err = h.run(t, "users:add", "bob@example.com", "--tenant", "acme", "--role", "viewer")
	require.NoError(t, err)
	assert.Empty(t, out)
}

// TestLoginWithEmailRefused: a wrong password, and the rate limit.
func TestLoginWithEmailRefused(t *testing.T) {
	h := newFakeHarness(t)
	delete(h.env, "PLATFORM_TOKEN")
	h.fake.fail(http.MethodPost, "/login", http.StatusUnauthorized, api.CodeUnauthorized, "wrong e-mail address or password", "")
	h.stdin = "nope\n"
	_, errOut, err := h.run(t, "login", "--api-url", h.url, "--email", "alice@example.com")
	assert.EqualError(t, err, "the API at "+h.url+" refused that e-mail address and password: check them and run platform login again, or log in with a token (platform login --token)")
	assert.Equal(t, "Password: ", errOut, "the password is asked on stderr")
	assert.Equal(t, []string{`POST /api/v1/login {"email":"alice@example.com","password":"nope"}`}, h.requests())

	h.fake.fail(http.MethodPost, "/login", http.StatusTooManyRequests, "too_many_requests", "too many failed sign-ins: try again in 5 minutes", "")
	_, _, err = h.run(t, "login", "--api-url", h.url, "--email", "alice@example.com")
	assert.EqualError(t, err, "too many failed sign-ins: try again in 5 minutes")

	h.stdin = "\n"
	_, _, err = h.run(t, "login", "--api-url", h.url, "--email", "alice@example.com")
	assert.EqualError(t, err, "no password given: type it when asked")
	_, _, err = h.run(t, "login", "--api-url", h.url, "--email", "alice@example.com", "--token", "plt_x")
	assert.EqualError(t, err, "give --email or --token, not both")
}
