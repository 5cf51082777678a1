package server

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/platform-paas/platform/server/api"
)

// failureLimiter counts failures per key (an e-mail address, a remote
// address) and blocks a key that had max failures within window, until
// the oldest of them is window old. It lives in memory: a restart forgets
// it, and several platformd processes each count their own. It keeps at
// most maxKeys keys; past that it forgets the key whose last failure is
// oldest, so an attacker spraying keys costs memory only up to the bound.
// It is safe for concurrent use.
type failureLimiter struct {
	max     int
	window  time.Duration
	maxKeys int
	now     func() time.Time // test seam

	mu   sync.Mutex
	keys map[string]*list.Element // of *failures
	lru  *list.List               // most recent failure first
}

type failures struct {
	key   string
	times []time.Time // the last max failures, oldest first
}

func newFailureLimiter(max int, window time.Duration, maxKeys int) *failureLimiter {
	return &failureLimiter{
		max: max, window: window, maxKeys: maxKeys, now: time.Now,
		keys: map[string]*list.Element{}, lru: list.New(),
	}
}

// wait is how long key stays blocked: 0 if it is not.
func (l *failureLimiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.prune(now)
	e, ok := l.keys[key]
	if !ok {
		return 0
	}
	f := e.Value.(*failures)
	if len(f.times) < l.max {
		return 0
	}
	// f.times holds the last max failures: the key is blocked until the
	// oldest of them leaves the window.
	if until := f.times[0].Add(l.window); until.After(now) {
		return until.Sub(now)
	}
	return 0
}

// fail counts a failure of key.
func (l *failureLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(key, l.now())
}

// take counts a failure of key unless key is blocked, in one step: of
// many callers at once, no more than max get through in a window. It
// returns how long key stays blocked (0 if it took the failure), the
// number of failures of key in the window before this one, and the time
// it recorded, for refund.
func (l *failureLimiter) take(key string) (wait time.Duration, before int, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	l.prune(now)
	if e, ok := l.keys[key]; ok {
		f := e.Value.(*failures)
		before = f.inWindow(now, l.window)
		if before >= l.max {
			if until := f.times[0].Add(l.window); until.After(now) {
				return until.Sub(now), before, time.Time{}
			}
		}
	}
	l.record(key, now)
	return 0, before, now
}

// refund takes back the failure of key that take recorded at at, if it is
// still counted.
func (l *failureLimiter) refund(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if !ok {
		return
	}
	f := e.Value.(*failures)
	for i := len(f.times) - 1; i >= 0; i-- {
		if f.times[i].Equal(at) {
			f.times = append(f.times[:i], f.times[i+1:]...)
			break
		}
	}
	if len(f.times) == 0 {
		l.remove(e)
	}
}

// count returns how many failures of key are in the window (at most max).
func (l *failureLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if !ok {
		return 0
	}
	return e.Value.(*failures).inWindow(l.now(), l.window)
}

// record counts a failure of key at now. l.mu is held.
func (l *failureLimiter) record(key string, now time.Time) {
	l.prune(now)
	e, ok := l.keys[key]
	if !ok {
		e = l.lru.PushFront(&failures{key: key})
		l.keys[key] = e
	}
	l.lru.MoveToFront(e)
	f := e.Value.(*failures)
	f.times = append(f.times, now)
	if len(f.times) > l.max {
		f.times = f.times[len(f.times)-l.max:]
	}
	for l.lru.Len() > l.maxKeys {
		l.remove(l.lru.Back())
	}
}

// inWindow is how many of f's failures are less than window old.
func (f *failures) inWindow(now time.Time, window time.Duration) int {
	n := 0
	for _, t := range f.times {
		if now.Sub(t) < window {
			n++
		}
	}
	return n
}

// reset forgets key's failures.
func (l *failureLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.keys[key]; ok {
		l.remove(e)
	}
}

// prune forgets the keys whose last failure is out of the window: they
// are at the back of the list.
func (l *failureLimiter) prune(now time.Time) {
	for e := l.lru.Back(); e != nil; e = l.lru.Back() {
		f := e.Value.(*failures)
		if now.Sub(f.times[len(f.times)-1]) < l.window {
			return
		}
		l.remove(e)
	}
}

func (l *failureLimiter) remove(e *list.Element) {
	delete(l.keys, e.Value.(*failures).key)
	l.lru.Remove(e)
}

// Sign-in limits. An address gets more failures than an account has
// before it slows down, because many people may sign in from behind one
// address (an office's NAT).
const (
	signInWindow = 15 * time.Minute
	// signInFailsPerRemote failed sign-ins from one address in the window
	// block it until the oldest of them is out of the window.
	signInFailsPerRemote = 20
	// signInFailsPerEmail failed sign-ins to one account in the window,
	// from anywhere, make each further sign-in to it wait (see
	// SignInConfig): it is never refused, so that a guesser cannot lock its
	// owner out.
	signInFailsPerEmail = 5
	// signInEmailMemory is how many failures of an account are counted for
	// its delay; the delay stops growing long before.
	signInEmailMemory = 64
	signInMaxKeys     = 10000
)

// SignInConfig tunes the limits on password sign-ins (POST /login, the
// dashboard's sign-in, the current password of a password change). The
// zero value is the defaults.
type SignInConfig struct {
	// ConcurrentChecks bounds how many password hashes are computed at
	// once, each about 19 MiB and tens of milliseconds of CPU. Zero means
	// 4.
	ConcurrentChecks int
	// QueueWait bounds how long a sign-in waits for its turn to be
	// hashed; past it, it is refused with 503. Zero means 10s.
	QueueWait time.Duration
	// AccountDelay is how long a sign-in to an account waits once the
	// account has had signInFailsPerEmail failures in the window; it
	// doubles with each further failure, up to MaxAccountDelay. Zero means
	// 1s and 10s.
	AccountDelay, MaxAccountDelay time.Duration
}

func (c *SignInConfig) validate() error {
	if c.ConcurrentChecks < 0 || c.QueueWait < 0 || c.AccountDelay < 0 || c.MaxAccountDelay < 0 {
		return errors.New("sign-in limits must not be negative")
	}
	if c.ConcurrentChecks == 0 {
		c.ConcurrentChecks = 4
	}
	if c.QueueWait == 0 {
		c.QueueWait = 10 * time.Second
	}
	if c.AccountDelay == 0 {
		c.AccountDelay = time.Second
	}
	if c.MaxAccountDelay == 0 {
		c.MaxAccountDelay = 10 * time.Second
	}
	if c.MaxAccountDelay < c.AccountDelay {
		return errors.New("the largest sign-in delay must not be below the first")
	}
	return nil
}

// signInLimiter limits sign-ins, for every form of sign-in, which share
// the Server's one limiter:
//
//   - every attempt is counted before its credential is checked (begin),
//     so that many at once count as many, and taken back (attempt.ok) if
//     it succeeds;
//   - an address with signInFailsPerRemote failures in the window is
//     refused until the oldest leaves it;
//   - an account with signInFailsPerEmail failures in the window, from
//     any address, makes each sign-in to it wait, longer with each
//     failure: it slows a guesser down without locking the owner out;
//   - at most cfg.ConcurrentChecks password hashes run at once (hash).
//
// It lives in memory: a restart forgets it, and several platformd
// processes each count their own. It is safe for concurrent use.
type signInLimiter struct {
	cfg     SignInConfig
	emails  *failureLimiter // counts only: it never refuses
	remotes *failureLimiter
	hashes  chan struct{} // a slot per password hash in progress
	// sleep waits d or until ctx is done; a test seam.
	sleep func(ctx context.Context, d time.Duration) error
}

func newSignInLimiter(cfg SignInConfig) *signInLimiter {
	return &signInLimiter{
		cfg:     cfg,
		emails:  newFailureLimiter(signInEmailMemory, signInWindow, signInMaxKeys),
		remotes: newFailureLimiter(signInFailsPerRemote, signInWindow, signInMaxKeys),
		hashes:  make(chan struct{}, cfg.ConcurrentChecks),
		sleep:   sleepContext,
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// signInAttempt is one sign-in, counted as a failure until it is known to
// be otherwise.
type signInAttempt struct {
	l                 *signInLimiter
	email, remote     string // keys; email is "" for a sign-in with no account (a token)
	emailAt, remoteAt time.Time
	// Delay is how long the account's failures make this attempt wait
	// before it is checked.
	Delay time.Duration
}

// begin counts a sign-in to email (empty for none) from remote, as
// remoteHost or clientAddr give it, before anything is checked. It
// returns how long remote is blocked instead, when it is.
func (l *signInLimiter) begin(email, remote string) (*signInAttempt, time.Duration) {
	a := &signInAttempt{l: l, remote: remoteKey(remote)}
	wait, _, at := l.remotes.take(a.remote)
	if wait > 0 {
		return nil, wait
	}
	a.remoteAt = at
	if email != "" {
		a.email = emailKey(email)
		_, before, at := l.emails.take(a.email)
		a.emailAt = at
		if n := before - signInFailsPerEmail; n >= 0 {
			a.Delay = l.cfg.MaxAccountDelay
			if n < 16 && l.cfg.AccountDelay<<n < l.cfg.MaxAccountDelay {
				a.Delay = l.cfg.AccountDelay << n
			}
		}
	}
	return a, 0
}

// ok records that the attempt succeeded: it no longer counts against the
// address, and the account's failures are forgotten. The address's other
// failures stay: else one who holds an account could reset their
// address's count between guesses at others'.
func (a *signInAttempt) ok() {
	a.l.remotes.refund(a.remote, a.remoteAt)
	if a.email != "" {
		a.l.emails.reset(a.email)
	}
}

// cancel takes the attempt back: it was neither right nor wrong (the
// database failed, the client went away).
func (a *signInAttempt) cancel() {
	a.l.remotes.refund(a.remote, a.remoteAt)
	if a.email != "" {
		a.l.emails.refund(a.email, a.emailAt)
	}
}

// errBusy refuses a sign-in that waited too long for its turn.
var errBusy = &apiError{Status: http.StatusServiceUnavailable, Code: api.CodeBusy,
	Message: "too many sign-ins at once: try again in a few seconds"}

// hash waits for a slot to compute a password hash in, for at most
// QueueWait, and returns the function that frees it.
func (l *signInLimiter) hash(ctx context.Context) (release func(), err error) {
	t := time.NewTimer(l.cfg.QueueWait)
	defer t.Stop()
	select {
	case l.hashes <- struct{}{}:
		return func() { <-l.hashes }, nil
	case <-t.C:
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// emailKey makes addresses that sign in to the same account one key.
func emailKey(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// remoteKey makes the addresses one client is likely to hold one key: an
// IPv6 address stands for its /64, which one machine may hand out at will.
// remote is a host without a port, as remoteHost returns it.
func remoteKey(remote string) string {
	a, err := netip.ParseAddr(remote)
	if err != nil || a.Is4() || a.Is4In6() {
		return remote
	}
	p, err := a.Prefix(64)
	if err != nil {
		return remote
	}
	return p.String()
}

// signInRetryMessage tells someone refused for wait when to try again.
func signInRetryMessage(wait time.Duration) string {
	return fmt.Sprintf("too many failed sign-ins: try again in %s", humanWait(wait))
}

// retryAfterSeconds is wait as a Retry-After header value: whole seconds,
// rounded up.
func retryAfterSeconds(wait time.Duration) string {
	return fmt.Sprint(int64((wait + time.Second - 1) / time.Second))
}

func humanWait(d time.Duration) string {
	if d <= time.Minute {
		s := int64((d + time.Second - 1) / time.Second)
		if s == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	m := int64((d + time.Minute - 1) / time.Minute)
	return fmt.Sprintf("%d minutes", m)
}
