package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// fakeTenantRemover records what it removes and fails the apps named in
// failApps and the tenant if failTenant.
type fakeTenantRemover struct {
	mu         sync.Mutex
	apps       []string
	tenants    []string
	failApps   map[string]bool
	failTenant bool
	during     func(app string) // called inside RemoveApp
}

func (f *fakeTenantRemover) RemoveApp(_ context.Context, tenant, app string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps = append(f.apps, tenant+"/"+app)
	if f.during != nil {
		f.during(app)
	}
	if f.failApps[app] {
		return errors.New("deleting its images: registry is down")
	}
	return nil
}

func (f *fakeTenantRemover) RemoveTenant(_ context.Context, tenant string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tenants = append(f.tenants, tenant)
	if f.failTenant {
		return errors.New("namespace is stuck")
	}
	return nil
}

// fakeTenantOps records the quotas it is asked to apply.
type fakeTenantOps struct {
	mu    sync.Mutex
	calls []string // "acme 20 standard"
	err   error
}

func (f *fakeTenantOps) EnsureTenant(_ context.Context, tenant string, q deployer.TenantQuota) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %d %s", tenant, q.MaxProcesses, q.MaxSize))
	return f.err
}

var (
	_ AppRemover = (*fakeTenantRemover)(nil)
	_ TenantOps  = (*fakeTenantOps)(nil)
)

// login sends POST /login from remote.
func (f *apiFixture) login(t *testing.T, remote string, body any) *httptest.ResponseRecorder {
	t.Helper()
	return f.loginVia(t, remote, "", body)
}

// loginVia sends POST /login from peer, with X-Forwarded-For xff unless
// it is empty.
func (f *apiFixture) loginVia(t *testing.T, peer, xff string, body any) *httptest.ResponseRecorder {
	t.Helper()
	j, err := json.Marshal(body)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/login", bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	if xff != "" {
		req.Header.Set("X-Forwarded-For", xff)
	}
	req.RemoteAddr = peer + ":4242"
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// setPassword gives a fixture user a password.
func (f *apiFixture) setPassword(t *testing.T, who, password string) {
	t.Helper()
	require.NoError(t, f.st.SetPassword(context.Background(), f.users[who].ID, password))
}

// bearer calls the API with a token that is not one of the fixture's.
func (f *apiFixture) bearer(t *testing.T, token, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, req)
	return rec
}

// fakeClock is a settable now for the sign-in limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (f *apiFixture) fakeClock() *fakeClock {
	c := &fakeClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	f.srv.signIns.emails.now = c.now
	f.srv.signIns.remotes.now = c.now
	return c
}

const memberPassword = "member password 1"

func TestLogin(t *testing.T) {
	f := newAPIFixture(t)
	f.setPassword(t, "member", memberPassword)

	t.Run("an address and its password make a token", func(t *testing.T) {
		rec := f.login(t, "198.51.100.1", api.LoginRequest{Email: " MEMBER@example.com", Password: memberPassword})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		tok := decode[api.CreatedToken](t, rec)
		assert.True(t, strings.HasPrefix(tok.Token, store.TokenPrefix))
		assert.Equal(t, "cli", tok.Info.Name)
		assert.Nil(t, tok.Info.ExpiresAt, "never expires unless asked")
		acct := decode[api.Account](t, f.bearer(t, tok.Token, http.MethodGet, "/api/v1/account"))
		assert.Equal(t, "member@example.com", acct.Email)

		events := f.audits(t, "account.login")
		require.Len(t, events, 1)
		assert.Equal(t, "member@example.com", events[0].ActorEmail)
		assert.Equal(t, f.users["member"].ID, *events[0].ActorID)
		assert.Equal(t, "198.51.100.1", events[0].RemoteAddr)
		assert.Equal(t, "cli", events[0].Details["token_name"])
		assert.NotContains(t, fmt.Sprint(events), tok.Token, "never the token")
	})

	t.Run("a token name and lifetime", func(t *testing.T) {
		rec := f.login(t, "198.51.100.1", api.LoginRequest{Email: "member@example.com", Password: memberPassword, TokenName: "laptop", ExpiresIn: "720h"})
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		tok := decode[api.CreatedToken](t, rec)
		assert.Equal(t, "laptop", tok.Info.Name)
		require.NotNil(t, tok.Info.ExpiresAt)
		assert.WithinDuration(t, time.Now().Add(720*time.Hour), *tok.Info.ExpiresAt, time.Minute)
	})

	t.Run("refusals", func(t *testing.T) {
		wrong := f.login(t, "198.51.100.2", api.LoginRequest{Email: "member@example.com", Password: "not the password"})
		unknown := f.login(t, "198.51.100.3", api.LoginRequest{Email: "nobody@example.com", Password: "not the password"})
		noPassword := f.login(t, "198.51.100.4", api.LoginRequest{Email: "viewer@example.com", Password: "not the password"})
		for _, rec := range []*httptest.ResponseRecorder{wrong, unknown, noPassword} {
			assert.Equal(t, "wrong e-mail address or password", wantError(t, rec, 401, api.CodeUnauthorized, ""))
		}
		assert.Equal(t, wrong.Body.String(), unknown.Body.String(), "an unknown address reads as a wrong password")
		assert.Equal(t, wrong.Body.String(), noPassword.Body.String())

		tests := []struct {
			name  string
			body  any
			field string
			msg   string
		}{
			{"no email", api.LoginRequest{Password: "x"}, "email", "email is required"},
			{"no password", api.LoginRequest{Email: "member@example.com"}, "password", "password is required"},
			{"a short lifetime", api.LoginRequest{Email: "member@example.com", Password: memberPassword, ExpiresIn: "30m"}, "expires_in", "from 1h to 8760h"},
			{"a long lifetime", api.LoginRequest{Email: "member@example.com", Password: memberPassword, ExpiresIn: "8761h"}, "expires_in", "from 1h to 8760h"},
			{"not a duration", api.LoginRequest{Email: "member@example.com", Password: memberPassword, ExpiresIn: "a week"}, "expires_in", "such as 720h"},
			{"an unknown field", map[string]string{"email": "member@example.com", "password": memberPassword, "otp": "123456"}, "otp", `unknown field "otp"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.login(t, "198.51.100.5", tt.body)
				assert.Contains(t, wantError(t, rec, 400, api.CodeInvalid, tt.field), tt.msg)
			})
		}
		req := httptest.NewRequest(http.MethodPost, "/api/v1/login", strings.NewReader(`{"email":`))
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, req)
		wantError(t, rec, 400, api.CodeInvalidJSON, "")

		assert.Len(t, f.audits(t, "account.login"), 2, "refusals are not audited")
		assert.NotContains(t, f.logs.String(), memberPassword, "passwords are never logged")
		assert.NotContains(t, f.logs.String(), "not the password")
	})
}

// sleeps returns the sign-in delays asked for so far, and forgets them.
func (f *apiFixture) sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.slept
	f.slept = nil
	return d
}

func TestLoginRateLimit(t *testing.T) {
	wrong := api.LoginRequest{Email: "member@example.com", Password: "guess guess"}
	right := api.LoginRequest{Email: "Member@Example.com", Password: memberPassword}

	t.Run("an address is blocked after 20 failures for 15 minutes", func(t *testing.T) {
		f := newAPIFixture(t)
		f.setPassword(t, "member", memberPassword)
		clock := f.fakeClock()
		for range signInFailsPerRemote {
			wantError(t, f.login(t, "203.0.113.1", wrong), 401, api.CodeUnauthorized, "")
			clock.advance(time.Second)
		}
		rec := f.login(t, "203.0.113.1", right)
		msg := wantError(t, rec, http.StatusTooManyRequests, api.CodeTooManyRequests, "")
		assert.Equal(t, "too many failed sign-ins: try again in 15 minutes", msg, "even the right password, from there")
		assert.Equal(t, "880", rec.Header().Get("Retry-After"), "until the first failure, 20s ago, is 15 minutes old")
		f.setPassword(t, "owner", "owner password 1")
		wantError(t, f.login(t, "203.0.113.1", api.LoginRequest{Email: "owner@example.com", Password: "owner password 1"}), 429, api.CodeTooManyRequests, "")

		clock.advance(14*time.Minute + 35*time.Second)
		rec = f.login(t, "203.0.113.1", right)
		assert.Equal(t, "too many failed sign-ins: try again in 5 seconds", wantError(t, rec, 429, api.CodeTooManyRequests, ""))
		assert.Equal(t, "5", rec.Header().Get("Retry-After"))
		clock.advance(5 * time.Second)
		rec = f.login(t, "203.0.113.1", right)
		assert.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	})

	t.Run("an account's failures slow it down and never lock its owner out", func(t *testing.T) {
		f := newAPIFixture(t)
		f.setPassword(t, "member", memberPassword)
		f.fakeClock()
		for i := range signInFailsPerEmail + 3 {
			wantError(t, f.login(t, fmt.Sprintf("203.0.113.%d", i), wrong), 401, api.CodeUnauthorized, "")
		}
		assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, f.sleeps(),
			"from the sixth attempt on, each waits, twice as long as the one before")
		for range 5 {
			wantError(t, f.login(t, "203.0.113.99", wrong), 401, api.CodeUnauthorized, "")
		}
		assert.Equal(t, []time.Duration{8 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second, 10 * time.Second}, f.sleeps(), "up to 10s")

		rec := f.login(t, "198.51.100.7", right)
		require.Equal(t, http.StatusCreated, rec.Code, "the owner signs in, after the wait: %s", rec.Body.String())
		assert.Equal(t, []time.Duration{10 * time.Second}, f.sleeps())
		rec = f.login(t, "198.51.100.7", right)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		assert.Empty(t, f.sleeps(), "a success forgets the account's failures")
	})

	t.Run("a success does not count against the address", func(t *testing.T) {
		f := newAPIFixture(t)
		f.setPassword(t, "member", memberPassword)
		f.fakeClock()
		for range 2 * signInFailsPerRemote {
			require.Equal(t, http.StatusCreated, f.login(t, "203.0.113.5", right).Code)
		}
		assert.Zero(t, f.srv.signIns.remotes.count(remoteKey("203.0.113.5")))
	})

	t.Run("an address spraying accounts is blocked", func(t *testing.T) {
		f := newAPIFixture(t)
		f.setPassword(t, "member", memberPassword)
		f.fakeClock()
		for i := range signInFailsPerRemote {
			wantError(t, f.login(t, "203.0.113.9", api.LoginRequest{Email: fmt.Sprintf("user%d@example.com", i), Password: "guess guess"}), 401, api.CodeUnauthorized, "")
		}
		wantError(t, f.login(t, "203.0.113.9", right), 429, api.CodeTooManyRequests, "")
		rec := f.login(t, "203.0.113.10", right)
		assert.Equal(t, http.StatusCreated, rec.Code, "the account itself is not blocked: %s", rec.Body.String())
		assert.Empty(t, f.sleeps())
	})
}

// TestLoginRateLimitConcurrent: sign-ins at once count one by one, before
// their passwords are hashed, so that a burst gets no more tries than
// one after the other; and the owner still signs in from elsewhere.
func TestLoginRateLimitConcurrent(t *testing.T) {
	f := newAPIFixture(t)
	f.setPassword(t, "member", memberPassword)
	f.fakeClock()
	// The burst's hashes take their turns: on a loaded machine, under the
	// race detector, twenty of them take longer than the default wait for
	// a turn, which is not what this test is about.
	f.srv.signIns.cfg.QueueWait = time.Hour
	codes := make([]int, signInFailsPerRemote)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() {
			codes[i] = f.login(t, "203.0.113.20", api.LoginRequest{Email: "member@example.com", Password: fmt.Sprintf("guess %d guess", i)}).Code
		})
	}
	wg.Wait()
	for i, code := range codes {
		assert.Equal(t, http.StatusUnauthorized, code, "attempt %d", i)
	}
	assert.Equal(t, signInFailsPerRemote, f.srv.signIns.remotes.count(remoteKey("203.0.113.20")), "20 attempts, 20 counted")
	assert.Equal(t, signInFailsPerRemote, f.srv.signIns.emails.count(emailKey("member@example.com")))
	wantError(t, f.login(t, "203.0.113.20", api.LoginRequest{Email: "member@example.com", Password: memberPassword}), 429, api.CodeTooManyRequests, "")

	rec := f.login(t, "198.51.100.20", api.LoginRequest{Email: "member@example.com", Password: memberPassword})
	assert.Equal(t, http.StatusCreated, rec.Code, "the owner, elsewhere: %s", rec.Body.String())
}

// TestLoginCountedBeforeTheHash holds a sign-in waiting for its turn to
// hash and sees it counted already; with no turn free in QueueWait, it is
// refused 503, and it no longer counts.
func TestLoginCountedBeforeTheHash(t *testing.T) {
	f := newAPIFixture(t)
	f.setPassword(t, "member", memberPassword)
	l := f.srv.signIns
	l.cfg.QueueWait = time.Hour
	var held []func()
	for range l.cfg.ConcurrentChecks {
		release, err := l.hash(context.Background())
		require.NoError(t, err)
		held = append(held, release)
	}

	done := make(chan int)
	go func() {
		done <- f.login(t, "203.0.113.30", api.LoginRequest{Email: "member@example.com", Password: "guess guess"}).Code
	}()
	require.Eventually(t, func() bool { return l.remotes.count(remoteKey("203.0.113.30")) == 1 }, 10*time.Second, 5*time.Millisecond,
		"counted while it waits for a hash")
	select {
	case code := <-done:
		t.Fatalf("the sign-in was answered (%d) with every hash slot taken", code)
	default:
	}
	held[0]()
	assert.Equal(t, http.StatusUnauthorized, <-done)

	// No slot within QueueWait: 503, and the attempt is taken back.
	l.cfg.QueueWait = 50 * time.Millisecond
	release, err := l.hash(context.Background())
	require.NoError(t, err)
	defer release()
	rec := f.login(t, "203.0.113.31", api.LoginRequest{Email: "member@example.com", Password: memberPassword})
	assert.Equal(t, "too many sign-ins at once: try again in a few seconds", wantError(t, rec, http.StatusServiceUnavailable, api.CodeBusy, ""))
	assert.Equal(t, "5", rec.Header().Get("Retry-After"))
	assert.Zero(t, l.remotes.count(remoteKey("203.0.113.31")))
	for _, release := range held[1:] {
		release()
	}
}

func TestLoginLimiterBounds(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newFailureLimiter(2, time.Minute, 3)
	l.now = clock.now

	l.fail("a")
	assert.Zero(t, l.wait("a"), "below the limit")
	clock.advance(10 * time.Second)
	l.fail("a")
	assert.Equal(t, 50*time.Second, l.wait("a"), "until the first failure leaves the window")
	l.reset("a")
	assert.Zero(t, l.wait("a"))

	// A sliding window: old failures stop counting one by one.
	l.fail("b")
	clock.advance(50 * time.Second)
	l.fail("b")
	clock.advance(11 * time.Second)
	assert.Zero(t, l.wait("b"), "the first failure is out of the window")
	l.fail("b")
	assert.Equal(t, 49*time.Second, l.wait("b"))

	// At most maxKeys keys: the one whose last failure is oldest goes.
	l.fail("c")
	l.fail("c")
	clock.advance(time.Second)
	l.fail("d")
	l.fail("e")
	l.fail("f")
	assert.Len(t, l.keys, 3)
	assert.Equal(t, 3, l.lru.Len())
	assert.Zero(t, l.wait("c"), "forgotten to make room")

	// Keys out of the window are pruned.
	clock.advance(2 * time.Minute)
	l.fail("g")
	assert.Len(t, l.keys, 1)
}

func TestLoginLimiterConcurrent(t *testing.T) {
	var cfg SignInConfig
	require.NoError(t, cfg.validate())
	l := newSignInLimiter(cfg)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				email := fmt.Sprintf("u%d@example.com", j%7)
				a, wait := l.begin(email, strconv.Itoa(i))
				if wait > 0 {
					continue
				}
				if j%10 == 0 {
					a.ok()
				}
			}
		})
	}
	wg.Wait()
	for i := range 8 {
		assert.Equal(t, signInFailsPerRemote, l.remotes.count(strconv.Itoa(i)), "address %d took its 20 and no more", i)
	}
}

func TestAPISetPassword(t *testing.T) {
	f := newAPIFixture(t)
	put := func(who string, body any) *httptest.ResponseRecorder {
		return f.call(t, who, http.MethodPut, "/api/v1/account/password", body)
	}

	rec := put("viewer", api.SetPasswordRequest{Password: "first password!"})
	require.Equal(t, http.StatusNoContent, rec.Code, "the first needs no current password: %s", rec.Body.String())
	assert.Equal(t, http.StatusCreated, f.login(t, "192.0.2.7", api.LoginRequest{Email: "viewer@example.com", Password: "first password!"}).Code)

	tests := []struct {
		name  string
		body  any
		field string
		msg   string
	}{
		{"no current password", api.SetPasswordRequest{Password: "second password"}, "current", "current is required"},
		{"a wrong current password", api.SetPasswordRequest{Current: "first password?", Password: "second password"}, "current", "current is not your current password"},
		{"too short", api.SetPasswordRequest{Current: "first password!", Password: "short"}, "password", "at least 12 characters"},
		{"too long", api.SetPasswordRequest{Current: "first password!", Password: strings.Repeat("p", 257)}, "password", "at most 256 characters"},
		{"none", api.SetPasswordRequest{Current: "first password!"}, "password", "password is required"},
		{"an unknown field", `{"password":"second password","old":"x"}`, "old", `unknown field "old"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, wantError(t, put("viewer", tt.body), 400, api.CodeInvalid, tt.field), tt.msg)
		})
	}
	wantError(t, put("viewer", `{"password":`), 400, api.CodeInvalidJSON, "")
	wantError(t, f.call(t, "", http.MethodPut, "/api/v1/account/password", api.SetPasswordRequest{Password: "second password"}), 401, api.CodeUnauthorized, "")

	rec = put("viewer", api.SetPasswordRequest{Current: "first password!", Password: "second password"})
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	wantError(t, f.login(t, "192.0.2.7", api.LoginRequest{Email: "viewer@example.com", Password: "first password!"}), 401, api.CodeUnauthorized, "")
	assert.Equal(t, http.StatusCreated, f.login(t, "192.0.2.7", api.LoginRequest{Email: "viewer@example.com", Password: "second password"}).Code)

	events := f.audits(t, "account.password")
	require.Len(t, events, 2)
	assert.Equal(t, map[string]any{"first": true}, events[0].Details)
	assert.Equal(t, map[string]any{"first": false}, events[1].Details)
	assert.NotContains(t, fmt.Sprint(events), "password!")

	// Guessing the current password counts as failed sign-ins: with the
	// wrong one above, the address's twentieth.
	for range signInFailsPerRemote - 1 {
		wantError(t, put("viewer", api.SetPasswordRequest{Current: "a guess here", Password: "third password"}), 400, api.CodeInvalid, "current")
	}
	assert.Len(t, f.sleeps(), signInFailsPerRemote-1-signInFailsPerEmail, "slowed down after 5")
	rec = put("viewer", api.SetPasswordRequest{Current: "second password", Password: "third password"})
	assert.Contains(t, wantError(t, rec, 429, api.CodeTooManyRequests, ""), "too many failed sign-ins")
	assert.NotEmpty(t, rec.Header().Get("Retry-After"))
}

func TestAPITokens(t *testing.T) {
	f := newAPIFixture(t)
	rec := f.call(t, "member", http.MethodPost, "/api/v1/account/tokens", api.CreateTokenRequest{Name: " ci ", ExpiresIn: "24h"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	ci := decode[api.CreatedToken](t, rec)
	assert.Equal(t, "ci", ci.Info.Name)
	require.NotNil(t, ci.Info.ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), *ci.Info.ExpiresAt, time.Minute)
	assert.Equal(t, http.StatusOK, f.bearer(t, ci.Token, http.MethodGet, "/api/v1/account").Code, "the token works")

	rec = f.call(t, "member", http.MethodPost, "/api/v1/account/tokens", api.CreateTokenRequest{Name: "forever"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	forever := decode[api.CreatedToken](t, rec)
	assert.Nil(t, forever.Info.ExpiresAt)

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		tests := []struct {
			name  string
			body  any
			field string
			msg   string
		}{
			{"no name", api.CreateTokenRequest{ExpiresIn: "24h"}, "name", "name is required"},
			{"a blank name", api.CreateTokenRequest{Name: "  "}, "name", "name is required"},
			{"a long name", api.CreateTokenRequest{Name: strings.Repeat("n", 101)}, "name", "1 to 100 characters"},
			{"too short", api.CreateTokenRequest{Name: "x", ExpiresIn: "59m"}, "expires_in", "from 1h to 8760h"},
			{"too long", api.CreateTokenRequest{Name: "x", ExpiresIn: "8761h"}, "expires_in", "from 1h to 8760h"},
			{"negative", api.CreateTokenRequest{Name: "x", ExpiresIn: "-24h"}, "expires_in", "from 1h to 8760h"},
			{"not a duration", api.CreateTokenRequest{Name: "x", ExpiresIn: "7d"}, "expires_in", "from 1h to 8760h"},
			{"an unknown field", `{"name":"x","scope":"all"}`, "scope", `unknown field "scope"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, "member", http.MethodPost, "/api/v1/account/tokens", tt.body)
				assert.Contains(t, wantError(t, rec, 400, api.CodeInvalid, tt.field), tt.msg)
			})
		}
		wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/account/tokens", `{"name":`), 400, api.CodeInvalidJSON, "")
		assert.Equal(t, before, f.auditCount(t))
	})

	t.Run("list own, newest first", func(t *testing.T) {
		p := decode[api.Page[api.Token]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/tokens", nil))
		var names []string
		for _, tok := range p.Items {
			names = append(names, tok.Name)
		}
		assert.Equal(t, []string{"forever", "ci", "test"}, names)
		assert.NotContains(t, fmt.Sprint(p), ci.Token)

		p = decode[api.Page[api.Token]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/tokens?limit=2", nil))
		require.Len(t, p.Items, 2)
		assert.Equal(t, strconv.FormatInt(ci.Info.ID, 10), p.NextAfter)
		p = decode[api.Page[api.Token]](t, f.call(t, "member", http.MethodGet, "/api/v1/account/tokens?limit=2&after="+p.NextAfter, nil))
		require.Len(t, p.Items, 1)
		assert.Equal(t, "test", p.Items[0].Name)
		assert.NotNil(t, p.Items[0].LastUsedAt, "the fixture's token has been used")
		assert.Empty(t, p.NextAfter)

		p = decode[api.Page[api.Token]](t, f.call(t, "owner", http.MethodGet, "/api/v1/account/tokens", nil))
		require.Len(t, p.Items, 1, "only one's own")
		wantError(t, f.call(t, "member", http.MethodGet, "/api/v1/account/tokens?after=x", nil), 400, api.CodeInvalid, "after")
	})

	t.Run("revoke", func(t *testing.T) {
		path := "/api/v1/account/tokens/" + strconv.FormatInt(ci.Info.ID, 10)
		msg := wantError(t, f.call(t, "owner", http.MethodDelete, path, nil), 404, api.CodeNotFound, "")
		assert.Equal(t, fmt.Sprintf("you have no API token %d: platform tokens lists yours", ci.Info.ID), msg, "someone else's reads as none")
		assert.Equal(t, http.StatusOK, f.bearer(t, ci.Token, http.MethodGet, "/api/v1/account").Code, "and it still works")
		wantError(t, f.call(t, "member", http.MethodDelete, "/api/v1/account/tokens/abc", nil), 404, api.CodeNotFound, "")

		rec := f.call(t, "member", http.MethodDelete, path, nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		wantError(t, f.bearer(t, ci.Token, http.MethodGet, "/api/v1/account"), 401, api.CodeUnauthorized, "")
		wantError(t, f.call(t, "member", http.MethodDelete, path, nil), 404, api.CodeNotFound, "")
	})

	created, revoked := f.audits(t, "token.create"), f.audits(t, "token.revoke")
	require.Len(t, created, 2)
	require.Len(t, revoked, 1)
	assert.Equal(t, "ci", created[0].Target)
	assert.Equal(t, "ci", revoked[0].Target)
	assert.Equal(t, float64(ci.Info.ID), revoked[0].Details["token_id"])
	assert.NotContains(t, fmt.Sprint(created, revoked), ci.Token, "never the token")
	assert.NotContains(t, f.logs.String(), ci.Token)
}

func TestAPIUsers(t *testing.T) {
	f := newAPIFixture(t)
	p := decode[api.Page[api.User]](t, f.call(t, "admin", http.MethodGet, "/api/v1/users", nil))
	require.Len(t, p.Items, 5)
	byEmail := map[string]api.User{}
	for _, u := range p.Items {
		byEmail[u.Email] = u
	}
	assert.True(t, byEmail["admin@example.com"].Admin)
	assert.Equal(t, []api.Membership{}, byEmail["admin@example.com"].Memberships)
	assert.Equal(t, []api.Membership{{Tenant: "acme", Role: "owner"}}, byEmail["owner@example.com"].Memberships)
	assert.Equal(t, []api.Membership{{Tenant: "rival", Role: "member"}}, byEmail["outsider@example.com"].Memberships)
	assert.False(t, byEmail["viewer@example.com"].CreatedAt.IsZero())
	assert.Equal(t, "admin@example.com", p.Items[0].Email, "by creation")

	p = decode[api.Page[api.User]](t, f.call(t, "admin", http.MethodGet, "/api/v1/users?limit=3", nil))
	require.Len(t, p.Items, 3)
	require.NotEmpty(t, p.NextAfter)
	p = decode[api.Page[api.User]](t, f.call(t, "admin", http.MethodGet, "/api/v1/users?limit=3&after="+p.NextAfter, nil))
	assert.Len(t, p.Items, 2)
	assert.Empty(t, p.NextAfter)

	for _, who := range []string{"owner", "member", "viewer", "outsider"} {
		msg := wantError(t, f.call(t, who, http.MethodGet, "/api/v1/users", nil), 403, api.CodeForbidden, "")
		assert.Equal(t, "only platform admins can list users", msg)
	}
	wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/users?limit=9999", nil), 400, api.CodeInvalid, "limit")
}

func TestAPICreateUser(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()

	for _, who := range []string{"owner", "member", "viewer", "outsider"} {
		msg := wantError(t, f.call(t, who, http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "new@example.com"}), 403, api.CodeForbidden, "")
		assert.Equal(t, "only platform admins can create users", msg)
	}
	_, err := f.st.GetUserByEmail(ctx, "new@example.com")
	require.ErrorIs(t, err, store.ErrNotFound, "a refused request creates nobody")

	rec := f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "New@example.com"})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
	created := decode[api.CreatedUser](t, rec)
	assert.Equal(t, "New@example.com", created.User.Email)
	assert.False(t, created.User.Admin)
	require.True(t, strings.HasPrefix(created.InitialToken, store.TokenPrefix), created.InitialToken)
	acct := decode[api.Account](t, f.bearer(t, created.InitialToken, http.MethodGet, "/api/v1/account"))
	assert.Equal(t, "New@example.com", acct.Email)
	assert.Empty(t, acct.Memberships)

	u, err := f.st.GetUserByEmail(ctx, "new@example.com")
	require.NoError(t, err)
	toks, err := f.st.ListTokens(ctx, u.ID)
	require.NoError(t, err)
	require.Len(t, toks, 1)
	assert.Equal(t, "initial", toks[0].Name)
	require.NotNil(t, toks[0].ExpiresAt)
	assert.WithinDuration(t, time.Now().Add(7*24*time.Hour), *toks[0].ExpiresAt, time.Minute)

	events := f.audits(t, "user.create")
	require.Len(t, events, 1)
	assert.Equal(t, "admin@example.com", events[0].ActorEmail)
	assert.Empty(t, events[0].TenantName)
	assert.Equal(t, "initial", events[0].Details["token_name"])
	assert.NotContains(t, fmt.Sprint(events), created.InitialToken, "never the token")
	assert.NotContains(t, f.logs.String(), created.InitialToken)

	before := f.auditCount(t)
	msg := wantError(t, f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "NEW@example.com"}), 409, api.CodeConflict, "")
	assert.Equal(t, `email "NEW@example.com" is already registered`, msg)
	wantError(t, f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "not an address"}), 400, api.CodeInvalid, "email")
	wantError(t, f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{}), 400, api.CodeInvalid, "email")
	assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")

	rec = f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "ops@example.com", Admin: true})
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.True(t, decode[api.CreatedUser](t, rec).User.Admin)
}

// TestAdminMembers covers changing roles and removing members.
func TestAdminMembers(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	role := func(email string) string {
		t.Helper()
		ms, err := f.st.ListMembers(ctx, f.acme.ID)
		require.NoError(t, err)
		for _, m := range ms {
			if strings.EqualFold(m.UserEmail, email) {
				return string(m.Role)
			}
		}
		return ""
	}
	patch := func(who, email, r string) *httptest.ResponseRecorder {
		return f.call(t, who, http.MethodPatch, "/api/v1/tenants/acme/members/"+email, api.SetRoleRequest{Role: r})
	}

	t.Run("an owner changes a role", func(t *testing.T) {
		rec := patch("owner", "VIEWER@example.com", "Member")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		m := decode[api.Member](t, rec)
		assert.Equal(t, api.Member{Email: "viewer@example.com", Role: "member", CreatedAt: m.CreatedAt}, m)
		assert.Equal(t, "member", role("viewer@example.com"))
		events := f.audits(t, "member.role")
		require.Len(t, events, 1)
		assert.Equal(t, "viewer@example.com", events[0].Target)
		assert.Equal(t, "acme", events[0].TenantName)
		assert.Equal(t, map[string]any{"role": "member", "previous": "viewer"}, events[0].Details)

		rec = patch("admin", "viewer@example.com", "member")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Len(t, f.audits(t, "member.role"), 1, "no change, no event")
		require.Equal(t, http.StatusOK, patch("admin", "viewer@example.com", "viewer").Code)
	})

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		tests := []struct {
			name   string
			who    string
			email  string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"a member", "member", "viewer@example.com", api.SetRoleRequest{Role: "owner"}, 403, api.CodeForbidden, "", "you are a member of tenant acme: changing roles needs the owner role"},
			{"a viewer", "viewer", "viewer@example.com", api.SetRoleRequest{Role: "owner"}, 403, api.CodeForbidden, "", "changing roles needs the owner role"},
			{"another tenant's member", "outsider", "viewer@example.com", api.SetRoleRequest{Role: "owner"}, 404, api.CodeNotFound, "", `no such tenant "acme", or no access`},
			{"not a member", "owner", "outsider@example.com", api.SetRoleRequest{Role: "viewer"}, 404, api.CodeNotFound, "", "outsider@example.com is not a member of tenant acme"},
			{"nobody", "owner", "nobody@example.com", api.SetRoleRequest{Role: "viewer"}, 404, api.CodeNotFound, "", "nobody@example.com is not a member of tenant acme"},
			{"the admin role", "owner", "viewer@example.com", api.SetRoleRequest{Role: "admin"}, 400, api.CodeInvalid, "role", "cannot be held in a tenant"},
			{"an unknown role", "owner", "viewer@example.com", api.SetRoleRequest{Role: "boss"}, 400, api.CodeInvalid, "role", "role must be one of owner, member, viewer"},
			{"no role", "owner", "viewer@example.com", `{}`, 400, api.CodeInvalid, "role", "role is required"},
			{"an unknown field", "owner", "viewer@example.com", `{"role":"viewer","tenant":"x"}`, 400, api.CodeInvalid, "tenant", `unknown field "tenant"`},
			{"bad JSON", "owner", "viewer@example.com", `{"role":`, 400, api.CodeInvalidJSON, "", "not valid JSON"},
			{"the last owner", "owner", "owner@example.com", api.SetRoleRequest{Role: "member"}, 409, api.CodeConflict, "", "tenant acme would have no owner: make someone else owner first"},
			{"the last owner, by an admin", "admin", "owner@example.com", api.SetRoleRequest{Role: "viewer"}, 409, api.CodeConflict, "", "tenant acme would have no owner"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := f.call(t, tt.who, http.MethodPatch, "/api/v1/tenants/acme/members/"+tt.email, tt.body)
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
		for _, tt := range []struct{ who, email, status, msg string }{
			{"member", "viewer@example.com", "403", "removing members needs the owner role"},
			{"viewer", "viewer@example.com", "403", "removing members needs the owner role"},
			{"outsider", "viewer@example.com", "404", `no such tenant "acme", or no access`},
			{"owner", "nobody@example.com", "404", "nobody@example.com is not a member of tenant acme"},
			{"owner", "owner@example.com", "409", "tenant acme would have no owner: make someone else owner first"},
			{"admin", "owner@example.com", "409", "tenant acme would have no owner"},
		} {
			rec := f.call(t, tt.who, http.MethodDelete, "/api/v1/tenants/acme/members/"+tt.email, nil)
			assert.Equal(t, tt.status, strconv.Itoa(rec.Code), "%s removing %s: %s", tt.who, tt.email, rec.Body.String())
			assert.Contains(t, errorMessage(t, rec), tt.msg)
		}
		assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
		assert.Equal(t, "owner", role("owner@example.com"))
		assert.Equal(t, "viewer", role("viewer@example.com"))
		assert.Equal(t, "member", role("member@example.com"))
	})

	t.Run("with another owner, the first may step down", func(t *testing.T) {
		require.Equal(t, http.StatusOK, patch("owner", "member@example.com", "owner").Code)
		rec := patch("owner", "owner@example.com", "member")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.Equal(t, "member", role("owner@example.com"))
		wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/tenants/acme/members", nil), 403, api.CodeForbidden, "")
	})

	t.Run("remove", func(t *testing.T) {
		rec := f.call(t, "member", http.MethodDelete, "/api/v1/tenants/acme/members/Viewer@Example.com", nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Empty(t, rec.Body.String())
		assert.Empty(t, role("viewer@example.com"))
		events := f.audits(t, "member.remove")
		require.Len(t, events, 1)
		assert.Equal(t, "viewer@example.com", events[0].Target)
		assert.Equal(t, map[string]any{"role": "viewer"}, events[0].Details)
		assert.Equal(t, "member@example.com", events[0].ActorEmail)
		wantError(t, f.call(t, "viewer", http.MethodGet, "/api/v1/apps/shop", nil), 404, api.CodeNotFound, "")
		_, err := f.st.GetUserByEmail(ctx, "viewer@example.com")
		assert.NoError(t, err, "the user stays; only the membership goes")

		rec = f.call(t, "admin", http.MethodDelete, "/api/v1/tenants/acme/members/owner@example.com", nil)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		wantError(t, f.call(t, "member", http.MethodDelete, "/api/v1/tenants/acme/members/member@example.com", nil), 409, api.CodeConflict, "")
	})
}

// TestAdminLastOwnerConcurrent has two owners demote each other at once:
// the tenant keeps one.
func TestAdminLastOwnerConcurrent(t *testing.T) {
	f := newAPIFixture(t)
	require.NoError(t, f.st.SetMemberRole(context.Background(), f.acme.ID, f.users["member"].ID, store.Owner))
	for range 3 {
		codes := make(chan int, 2)
		var wg sync.WaitGroup
		for _, pair := range [][2]string{{"owner", "member@example.com"}, {"member", "owner@example.com"}} {
			wg.Go(func() {
				codes <- f.call(t, pair[0], http.MethodPatch, "/api/v1/tenants/acme/members/"+pair[1], api.SetRoleRequest{Role: "viewer"}).Code
			})
		}
		wg.Wait()
		close(codes)
		var got []int
		for c := range codes {
			got = append(got, c)
		}
		// The second is refused: 409 if it saw two owners and waited for
		// the first, 403 if it came after it and is no owner any more.
		require.Len(t, got, 2)
		assert.Contains(t, got, http.StatusOK)
		assert.Subset(t, []int{http.StatusOK, http.StatusConflict, http.StatusForbidden}, got)
		assert.NotEqual(t, got[0], got[1], "exactly one succeeds")
		ms, err := f.st.ListMembers(context.Background(), f.acme.ID)
		require.NoError(t, err)
		owners := 0
		for _, m := range ms {
			if m.Role == store.Owner {
				owners++
			}
		}
		require.Equal(t, 1, owners)
		// Both owners again, for the next round.
		for _, who := range []string{"owner", "member"} {
			require.NoError(t, f.st.SetMemberRole(context.Background(), f.acme.ID, f.users[who].ID, store.Owner))
		}
	}
}

// TestAdminCrossTenant: the owner of acme acting on rival is told rival
// does not exist, and nothing changes.
func TestAdminCrossTenant(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	f.srv.remover = &fakeTenantRemover{}
	f.srv.tenants = &fakeTenantOps{}
	before := f.auditCount(t)
	rivalMembers, err := f.st.ListMembers(ctx, f.rival.ID)
	require.NoError(t, err)

	for _, req := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/api/v1/tenants/rival/members", nil},
		{http.MethodPost, "/api/v1/tenants/rival/members", api.AddMemberRequest{Email: "spy@example.com", Role: "owner"}},
		{http.MethodPatch, "/api/v1/tenants/rival/members/outsider@example.com", api.SetRoleRequest{Role: "viewer"}},
		{http.MethodDelete, "/api/v1/tenants/rival/members/outsider@example.com", nil},
		{http.MethodGet, "/api/v1/audit?tenant=rival", nil},
		{http.MethodGet, "/api/v1/apps/rivalapp", nil},
		{http.MethodDelete, "/api/v1/apps/rivalapp", api.DestroyAppRequest{Confirm: "rivalapp"}},
		{http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "spyapp", Tenant: "rival"}},
	} {
		rec := f.call(t, "owner", req.method, req.path, req.body)
		assert.Equal(t, http.StatusNotFound, rec.Code, "%s %s: %s", req.method, req.path, rec.Body.String())
		assert.Contains(t, errorMessage(t, rec), "or no access", "%s %s", req.method, req.path)
	}
	// Admin-only routes refuse a tenant owner whatever the tenant.
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPatch, "/api/v1/tenants/rival", api.UpdateTenantRequest{Suspended: new(true)}},
		{http.MethodDelete, "/api/v1/tenants/rival", api.DeleteTenantRequest{Confirm: "rival"}},
		{http.MethodPatch, "/api/v1/tenants/acme", api.UpdateTenantRequest{Suspended: new(true)}},
	} {
		wantError(t, f.call(t, "owner", req.method, req.path, req.body), 403, api.CodeForbidden, "")
	}

	assert.Equal(t, before, f.auditCount(t))
	after, err := f.st.ListMembers(ctx, f.rival.ID)
	require.NoError(t, err)
	assert.Equal(t, rivalMembers, after)
	rival, err := f.st.GetTenant(ctx, "rival")
	require.NoError(t, err)
	assert.Equal(t, f.rival, rival)
	_, err = f.st.GetApp(ctx, "rivalapp")
	assert.NoError(t, err)
	_, err = f.st.GetUserByEmail(ctx, "spy@example.com")
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestAdminTenantQuota(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	ops := &fakeTenantOps{}
	f.srv.tenants = ops
	patch := func(who string, body any) *httptest.ResponseRecorder {
		return f.call(t, who, http.MethodPatch, "/api/v1/tenants/acme", body)
	}

	rec := patch("admin", `{"quota":{"max_apps":5}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, api.Quota{MaxApps: 5, MaxProcesses: 20, MaxSize: "standard"}, decode[api.Tenant](t, rec).Quota)
	rec = patch("admin", `{"quota":{"max_processes":30,"max_size":"large"}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, api.Quota{MaxApps: 5, MaxProcesses: 30, MaxSize: "large"}, decode[api.Tenant](t, rec).Quota, "fields left out stay as they are")
	assert.Equal(t, []string{"acme 20 standard", "acme 30 large"}, ops.calls, "Kubernetes follows")
	got, err := f.st.GetTenant(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, store.Quota{MaxApps: 5, MaxProcesses: 30, MaxSize: store.SizeLarge}, got.Quota)

	events := f.audits(t, "tenant.quota")
	require.Len(t, events, 2)
	assert.Equal(t, "acme", events[1].TenantName)
	assert.Equal(t, map[string]any{"max_apps": float64(5), "max_processes": float64(30), "max_size": "large",
		"previous": map[string]any{"max_apps": float64(5), "max_processes": float64(20), "max_size": "standard"}}, events[1].Details)

	// The same quota again changes nothing in the store, and applies it
	// again, for a retry after Kubernetes failed.
	rec = patch("admin", `{"quota":{"max_apps":5}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Len(t, f.audits(t, "tenant.quota"), 2)
	assert.Len(t, ops.calls, 3)

	t.Run("not below what the tenant uses", func(t *testing.T) {
		blog, err := f.st.CreateApp(ctx, f.acme.ID, "blog")
		require.NoError(t, err)
		_, err = f.st.UpsertFormation(ctx, f.shop.ID, []store.Process{{Type: "web", Quantity: 3, Size: store.SizeLarge}, {Type: "worker", Quantity: 0, Size: store.SizeLarge}})
		require.NoError(t, err)
		_, err = f.st.UpsertFormation(ctx, blog.ID, []store.Process{{Type: "web", Quantity: 2, Size: store.SizeSmall}})
		require.NoError(t, err)
		calls := len(ops.calls)
		before := f.auditCount(t)
		tests := []struct {
			name  string
			body  string
			field string
			msg   string
		}{
			{"apps", `{"quota":{"max_apps":1}}`, "quota.max_apps", "tenant acme uses more than that quota: it has 2 apps, more than max_apps 1: destroy some first"},
			{"processes", `{"quota":{"max_processes":4}}`, "quota.max_processes", "its apps are scaled to 5 processes, more than max_processes 4: scale them down first"},
			{"size", `{"quota":{"max_size":"standard"}}`, "quota.max_size", "it runs large processes, larger than max_size standard: resize them first"},
			{"all three", `{"quota":{"max_apps":0,"max_processes":0,"max_size":"small"}}`, "quota.max_apps", "destroy some first; its apps are scaled to 5 processes"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				assert.Contains(t, wantError(t, patch("admin", tt.body), 409, api.CodeConflict, tt.field), tt.msg)
			})
		}
		assert.Len(t, ops.calls, calls, "Kubernetes is not touched")
		assert.Equal(t, before, f.auditCount(t))
		rec := patch("admin", `{"quota":{"max_apps":2,"max_processes":5}}`)
		assert.Equal(t, http.StatusOK, rec.Code, "exactly what it uses: %s", rec.Body.String())
	})

	t.Run("refusals", func(t *testing.T) {
		before := f.auditCount(t)
		tests := []struct {
			name   string
			who    string
			body   any
			status int
			code   string
			field  string
			msg    string
		}{
			{"an owner", "owner", `{"quota":{"max_apps":50}}`, 403, api.CodeForbidden, "", "only platform admins can change tenants"},
			{"a member", "member", `{"suspended":true}`, 403, api.CodeForbidden, "", "only platform admins"},
			{"a viewer", "viewer", `{"suspended":true}`, 403, api.CodeForbidden, "", "only platform admins"},
			{"an outsider", "outsider", `{"suspended":true}`, 403, api.CodeForbidden, "", "only platform admins"},
			{"nothing", "admin", `{}`, 400, api.CodeInvalid, "", "nothing to change: give a quota, suspended, or both"},
			{"an empty quota", "admin", `{"quota":{}}`, 200, "", "", ""},
			{"a negative quota", "admin", `{"quota":{"max_processes":-1}}`, 400, api.CodeInvalid, "quota.max_processes", "must not be negative"},
			{"an unknown size", "admin", `{"quota":{"max_size":"huge"}}`, 400, api.CodeInvalid, "quota.max_size", `unknown size "huge"`},
			{"a wrong type", "admin", `{"suspended":"yes"}`, 400, api.CodeInvalid, "suspended", "must be true or false, not a string"},
			{"an unknown field", "admin", `{"name":"acme2"}`, 400, api.CodeInvalid, "name", `unknown field "name"`},
			{"bad JSON", "admin", `{"quota":`, 400, api.CodeInvalidJSON, "", "not valid JSON"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec := patch(tt.who, tt.body)
				if tt.status == 200 {
					assert.Equal(t, 200, rec.Code, rec.Body.String())
					return
				}
				assert.Contains(t, wantError(t, rec, tt.status, tt.code, tt.field), tt.msg)
			})
		}
		msg := wantError(t, f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/nope", `{"suspended":true}`), 404, api.CodeNotFound, "")
		assert.Equal(t, `there is no tenant "nope"`, msg)
		assert.Equal(t, before, f.auditCount(t), "nothing refused is audited")
	})

	t.Run("Kubernetes fails", func(t *testing.T) {
		ops.err = errors.New("the API server is down")
		defer func() { ops.err = nil }()
		msg := wantError(t, patch("admin", `{"quota":{"max_processes":40}}`), 500, api.CodeInternal, "")
		assert.Equal(t, "the new quota of tenant acme is recorded, but applying it in Kubernetes failed (the API server is down): run the same command again", msg)
		got, err := f.st.GetTenant(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, 40, got.Quota.MaxProcesses)
	})

	t.Run("without Kubernetes", func(t *testing.T) {
		f.srv.tenants = nil
		defer func() { f.srv.tenants = ops }()
		wantError(t, patch("admin", `{"quota":{"max_processes":50}}`), 501, api.CodeNotImplemented, "")
		got, err := f.st.GetTenant(ctx, "acme")
		require.NoError(t, err)
		assert.Equal(t, 40, got.Quota.MaxProcesses, "nothing changed")
		f.srv.releases = nil
		wantError(t, patch("admin", `{"suspended":true}`), 501, api.CodeNotImplemented, "")
		assert.False(t, got.Suspended())
	})
}

func TestAdminSuspendTenant(t *testing.T) {
	f, dep := newReleaseFixture(t)
	ctx := context.Background()
	f.srv.tenants = &fakeTenantOps{}
	_, err := f.st.CreateApp(ctx, f.acme.ID, "blog") // never released: nothing to scale
	require.NoError(t, err)
	quantities := func(rel deployer.Release) map[string]int {
		out := map[string]int{}
		for _, p := range rel.Processes {
			out[p.Type] = p.Quantity
		}
		return out
	}
	require.Equal(t, map[string]int{"web": 1, "worker": 0}, quantities(dep.Last()))
	applied := len(dep.Applied)

	// Each app is applied under its deploy lock.
	var lockHeld []string
	dep.Fail = func(rel deployer.Release) error {
		l, err := f.st.DeployLock(ctx, f.shop.ID)
		if err == nil {
			lockHeld = append(lockHeld, l.Description)
		}
		return nil
	}

	rec := f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/acme", api.UpdateTenantRequest{Suspended: new(true)})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	tn := decode[api.Tenant](t, rec)
	require.NotNil(t, tn.SuspendedAt)
	require.Len(t, dep.Applied, applied+1, "shop is applied again; blog has nothing")
	assert.Equal(t, "shop", dep.Last().App)
	assert.Equal(t, map[string]int{"web": 0, "worker": 0}, quantities(dep.Last()), "scaled to zero")
	assert.Equal(t, []string{"suspension of tenant acme by admin@example.com"}, lockHeld)
	procs, err := f.st.ListFormation(ctx, f.shop.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, procs[0].Quantity, "the formation in the store stays, for later")
	events := f.audits(t, "tenant.suspend")
	require.Len(t, events, 1)
	assert.Equal(t, "acme", events[0].Target)

	// Again: the same, with no second event; the time of the first stays.
	rec = f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/acme", `{"suspended":true}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, tn.SuspendedAt, decode[api.Tenant](t, rec).SuspendedAt)
	assert.Len(t, f.audits(t, "tenant.suspend"), 1)
	assert.Equal(t, map[string]int{"web": 0, "worker": 0}, quantities(dep.Last()))

	// A suspended tenant takes no new app.
	wantError(t, f.call(t, "member", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "more", Tenant: "acme"}), 403, api.CodeForbidden, "")

	t.Run("stopping an app fails", func(t *testing.T) {
		dep.Fail = func(deployer.Release) error { return errors.New("the API server is down") }
		defer func() { dep.Fail = nil }()
		msg := wantError(t, f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/acme", `{"suspended":true}`), 500, api.CodeInternal, "")
		assert.Contains(t, msg, "tenant acme is suspended, but stopping some of its apps failed (shop: ")
		assert.Contains(t, msg, "the API server is down")
		assert.True(t, strings.HasSuffix(msg, "): run the same command again"), msg)
	})

	rec = f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/acme", api.UpdateTenantRequest{Suspended: new(false)})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Nil(t, decode[api.Tenant](t, rec).SuspendedAt)
	assert.Equal(t, map[string]int{"web": 1, "worker": 0}, quantities(dep.Last()), "the formation runs again")
	assert.Len(t, f.audits(t, "tenant.unsuspend"), 1)
	_, err = f.st.DeployLock(ctx, f.shop.ID)
	assert.ErrorIs(t, err, store.ErrNotFound, "the lock is released")

	// Both at once: the quota first, then the suspension.
	rec = f.call(t, "admin", http.MethodPatch, "/api/v1/tenants/acme", `{"quota":{"max_processes":3},"suspended":true}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	tn = decode[api.Tenant](t, rec)
	assert.Equal(t, 3, tn.Quota.MaxProcesses)
	assert.NotNil(t, tn.SuspendedAt)
}

func TestAdminDeleteTenant(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	rm := &fakeTenantRemover{}
	f.srv.remover = rm
	_, err := f.st.CreateApp(ctx, f.acme.ID, "blog")
	require.NoError(t, err)
	del := func(who string, body any) *httptest.ResponseRecorder {
		return f.call(t, who, http.MethodDelete, "/api/v1/tenants/acme", body)
	}

	msg := wantError(t, del("admin", nil), 400, api.CodeInvalid, "confirm")
	assert.Equal(t, "type the tenant's name to confirm: platform tenants:destroy acme --confirm acme", msg)
	wantError(t, del("admin", api.DeleteTenantRequest{Confirm: "acm"}), 400, api.CodeInvalid, "confirm")
	wantError(t, del("admin", `{"confirm":"acme","force":true}`), 400, api.CodeInvalid, "force")
	for _, who := range []string{"owner", "member", "viewer", "outsider"} {
		assert.Equal(t, "only platform admins can delete tenants",
			wantError(t, del(who, api.DeleteTenantRequest{Confirm: "acme"}), 403, api.CodeForbidden, ""))
	}
	wantError(t, f.call(t, "admin", http.MethodDelete, "/api/v1/tenants/nope", api.DeleteTenantRequest{Confirm: "nope"}), 404, api.CodeNotFound, "")
	assert.Empty(t, rm.apps)
	got, err := f.st.GetTenant(ctx, "acme")
	require.NoError(t, err)
	assert.False(t, got.Suspended(), "a refused delete changes nothing")

	t.Run("without a remover", func(t *testing.T) {
		f.srv.remover = nil
		defer func() { f.srv.remover = rm }()
		wantError(t, del("admin", api.DeleteTenantRequest{Confirm: "acme"}), 501, api.CodeNotImplemented, "")
	})

	t.Run("a failure keeps the tenant, suspended", func(t *testing.T) {
		rm.failApps = map[string]bool{"blog": true}
		msg := wantError(t, del("admin", api.DeleteTenantRequest{Confirm: "acme"}), 500, api.CodeInternal, "")
		assert.Equal(t, "deleting tenant acme failed, and it is kept, suspended, so that the delete can be run again: blog: deleting its images: registry is down", msg)
		got, err := f.st.GetTenant(ctx, "acme")
		require.NoError(t, err)
		assert.True(t, got.Suspended())
		_, err = f.st.GetApp(ctx, "blog")
		assert.NoError(t, err, "the app that failed is kept")
		_, err = f.st.GetApp(ctx, "shop")
		assert.ErrorIs(t, err, store.ErrNotFound, "the one that was removed is gone")
		assert.Empty(t, rm.tenants, "the namespace goes last")

		rm.failApps = nil
		rm.failTenant = true
		msg = wantError(t, del("admin", api.DeleteTenantRequest{Confirm: "acme"}), 500, api.CodeInternal, "")
		assert.Contains(t, msg, "removing its namespace: namespace is stuck")
		rm.failTenant = false
	})

	rm.apps, rm.tenants = nil, nil
	for _, name := range []string{"shop", "blog"} { // again, after the failures took them
		_, err = f.st.CreateApp(ctx, f.acme.ID, name)
		require.NoError(t, err)
	}
	rm.during = func(app string) {
		l, err := f.st.DeployLock(ctx, mustApp(t, f.st, app).ID)
		if assert.NoError(t, err, "the deploy lock is held") {
			assert.Equal(t, "delete of tenant acme by admin@example.com", l.Description)
		}
	}
	rec := del("admin", api.DeleteTenantRequest{Confirm: "acme"})
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	assert.ElementsMatch(t, []string{"acme/blog", "acme/shop"}, rm.apps)
	assert.Equal(t, []string{"acme"}, rm.tenants)
	_, err = f.st.GetTenant(ctx, "acme")
	assert.ErrorIs(t, err, store.ErrNotFound)
	ms, err := f.st.ListMemberships(ctx, f.users["owner"].ID)
	require.NoError(t, err)
	assert.Empty(t, ms, "memberships go with the tenant")
	_, err = f.st.GetUserByEmail(ctx, "owner@example.com")
	assert.NoError(t, err, "users stay")

	events := f.audits(t, "tenant.delete")
	require.Len(t, events, 1)
	assert.Equal(t, "acme", events[0].TenantName)
	assert.Nil(t, events[0].TenantID)
	assert.Equal(t, map[string]any{"apps": []any{"blog", "shop"}}, events[0].Details)
	assert.Len(t, f.audits(t, "app.destroy"), 4, "each app twice: the failed deletes took one each")
	assert.Len(t, f.audits(t, "tenant.suspend"), 1)

	p := decode[api.Page[api.AuditEvent]](t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?tenant=acme&action=tenant.", nil))
	require.Len(t, p.Items, 2, "an admin finds a deleted tenant's events by its name")
	assert.Equal(t, "tenant.delete", p.Items[0].Action)

	wantError(t, del("admin", api.DeleteTenantRequest{Confirm: "acme"}), 404, api.CodeNotFound, "")
	wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/apps/shop", nil), 404, api.CodeNotFound, "")
}

// errorMessage is the message of an API error response.
func errorMessage(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body api.ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return body.Error.Message
}

func mustApp(t *testing.T, st *store.Store, name string) store.App {
	t.Helper()
	a, err := st.GetApp(context.Background(), name)
	require.NoError(t, err)
	return a
}

func TestAdminAudit(t *testing.T) {
	f := newAPIFixture(t)
	ctx := context.Background()
	// Some history: in acme, in rival, and on no tenant.
	require.Equal(t, http.StatusCreated, f.call(t, "admin", http.MethodPost, "/api/v1/users", api.CreateUserRequest{Email: "new@example.com"}).Code)
	require.Equal(t, http.StatusCreated, f.call(t, "owner", http.MethodPost, "/api/v1/tenants/acme/members", api.AddMemberRequest{Email: "new@example.com", Role: "viewer"}).Code)
	require.Equal(t, http.StatusCreated, f.call(t, "member", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "blog", Tenant: "acme"}).Code)
	require.Equal(t, http.StatusCreated, f.call(t, "outsider", http.MethodPost, "/api/v1/apps", api.CreateAppRequest{Name: "rivalblog"}).Code)
	require.Equal(t, http.StatusCreated, f.call(t, "admin", http.MethodPost, "/api/v1/tenants", api.CreateTenantRequest{Name: "globex"}).Code)
	require.Equal(t, http.StatusCreated, f.call(t, "member", http.MethodPost, "/api/v1/account/tokens", api.CreateTokenRequest{Name: "ci"}).Code)

	list := func(who, query string) []string {
		t.Helper()
		rec := f.call(t, who, http.MethodGet, "/api/v1/audit"+query, nil)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var out []string
		for _, e := range decode[api.Page[api.AuditEvent]](t, rec).Items {
			out = append(out, e.Action+" "+e.Tenant+" "+e.Target+" by "+e.Actor)
		}
		return out
	}

	t.Run("an admin sees everything, newest first", func(t *testing.T) {
		assert.Equal(t, []string{
			"token.create  ci by member@example.com",
			"tenant.create globex globex by admin@example.com",
			"app.create rival rivalblog by outsider@example.com",
			"app.create acme blog by member@example.com",
			"member.add acme new@example.com by owner@example.com",
			"user.create  new@example.com by admin@example.com",
		}, list("admin", ""))
		assert.Equal(t, []string{"app.create rival rivalblog by outsider@example.com"}, list("admin", "?tenant=rival"))
		assert.Equal(t, []string{"app.create acme blog by member@example.com"}, list("admin", "?app=blog"))
		assert.Equal(t, []string{"app.create rival rivalblog by outsider@example.com"}, list("admin", "?actor=OUTSIDER@example.com"))
		assert.Equal(t, []string{"member.add acme new@example.com by owner@example.com"}, list("admin", "?action=member.add"))
		assert.Len(t, list("admin", "?action=app."), 2)
		assert.Equal(t, []string{"app.create acme blog by member@example.com"}, list("admin", "?action=app.&tenant=acme"))
		assert.Empty(t, list("admin", "?tenant=nope"))

		p := decode[api.Page[api.AuditEvent]](t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?limit=4", nil))
		require.Len(t, p.Items, 4)
		require.Equal(t, strconv.FormatInt(p.Items[3].ID, 10), p.NextAfter)
		p = decode[api.Page[api.AuditEvent]](t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?limit=4&after="+p.NextAfter, nil))
		require.Len(t, p.Items, 2)
		assert.Equal(t, "user.create", p.Items[1].Action)
		assert.Equal(t, "192.0.2.1", p.Items[1].RemoteAddr)
		assert.Equal(t, "initial", p.Items[1].Details["token_name"])
		assert.Empty(t, p.NextAfter)
	})

	t.Run("an owner sees their tenant's", func(t *testing.T) {
		want := []string{
			"app.create acme blog by member@example.com",
			"member.add acme new@example.com by owner@example.com",
		}
		assert.Equal(t, want, list("owner", ""), "their only tenant by default; an admin's user.create is no tenant's")
		assert.Equal(t, want, list("owner", "?tenant=acme"))
		assert.Equal(t, want[1:], list("owner", "?actor=owner@example.com"))
		assert.Empty(t, list("owner", "?app=rivalblog"), "filters narrow; they never widen")
		wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/audit?tenant=rival", nil), 404, api.CodeNotFound, "")

		// An owner of two tenants names one.
		require.NoError(t, f.st.AddMember(ctx, f.rival.ID, f.users["owner"].ID, store.Owner))
		msg := wantError(t, f.call(t, "owner", http.MethodGet, "/api/v1/audit", nil), 400, api.CodeInvalid, "tenant")
		assert.Equal(t, "tenant is required: you own acme, rival", msg)
		assert.Equal(t, []string{"app.create rival rivalblog by outsider@example.com"}, list("owner", "?tenant=rival"))
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tt := range []struct {
			who, query string
			status     int
			msg        string
		}{
			{"member", "", 403, "only platform admins and tenant owners can read the audit log"},
			{"viewer", "", 403, "only platform admins and tenant owners can read the audit log"},
			{"member", "?tenant=acme", 403, "you are a member of tenant acme: reading its audit log needs the owner role"},
			{"viewer", "?tenant=acme", 403, "you are a viewer of tenant acme"},
			{"outsider", "", 403, "only platform admins and tenant owners"},
			{"outsider", "?tenant=acme", 404, `no such tenant "acme", or no access`},
			{"", "", 401, "missing API token"},
		} {
			rec := f.call(t, tt.who, http.MethodGet, "/api/v1/audit"+tt.query, nil)
			assert.Equal(t, tt.status, rec.Code, "%s %s: %s", tt.who, tt.query, rec.Body.String())
			assert.Contains(t, errorMessage(t, rec), tt.msg)
		}
		msg := wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?action=app", nil), 400, api.CodeInvalid, "action")
		assert.Contains(t, msg, "a prefix ending in a dot such as config.")
		wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?limit=0", nil), 400, api.CodeInvalid, "limit")
		wantError(t, f.call(t, "admin", http.MethodGet, "/api/v1/audit?after=x", nil), 400, api.CodeInvalid, "after")
	})
}

func TestLoginLimiterRemoteKeys(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
		{"not an address", "not an address"},
	} {
		assert.Equal(t, tt.want, remoteKey(tt.in), tt.in)
	}
	var cfg SignInConfig
	require.NoError(t, cfg.validate())
	l := newSignInLimiter(cfg)
	for i := range signInFailsPerRemote {
		_, wait := l.begin("", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		require.Zero(t, wait)
	}
	_, wait := l.begin("someone@example.com", "2001:db8:1:2::ffff")
	assert.Positive(t, wait, "one /64 is one client")
	_, wait = l.begin("", "2001:db8:1:3::1")
	assert.Zero(t, wait)
}
