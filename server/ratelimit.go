package server

import (
	"container/list"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
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
	now := l.now()
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

// Sign-in limits. An address gets more failures than an account because
// many people may sign in from behind one address (an office's NAT).
const (
	signInWindow         = 15 * time.Minute
	signInFailsPerEmail  = 5
	signInFailsPerRemote = 20
	signInMaxKeys        = 10000
)

// signInLimiter limits failed password sign-ins per e-mail address and per
// remote address, for every form of sign-in (POST /login, the dashboard's
// sign-in form, the current password of a password change), which share
// the Server's one limiter. remote is the client's host as remoteHost
// returns it. The calling pattern:
//
//	if wait := s.signIns.check(email, remoteHost(r)); wait > 0 {
//		// refuse: signInRetryMessage(wait), Retry-After: retryAfterSeconds(wait)
//	}
//	u, err := s.st.CheckPassword(ctx, email, password)
//	if errors.Is(err, store.ErrWrongPassword) {
//		s.signIns.failed(email, remoteHost(r))
//	} else if err == nil {
//		s.signIns.succeeded(email)
//	}
//
// It is safe for concurrent use.
type signInLimiter struct {
	emails  *failureLimiter
	remotes *failureLimiter
}

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{
		emails:  newFailureLimiter(signInFailsPerEmail, signInWindow, signInMaxKeys),
		remotes: newFailureLimiter(signInFailsPerRemote, signInWindow, signInMaxKeys),
	}
}

// check returns how long sign-ins to email or from remote are refused: 0
// if they are not. A refused attempt is not a failure: it does not extend
// the wait.
func (l *signInLimiter) check(email, remote string) time.Duration {
	return max(l.emails.wait(emailKey(email)), l.remotes.wait(remoteKey(remote)))
}

// failed counts a wrong password for email from remote.
func (l *signInLimiter) failed(email, remote string) {
	l.emails.fail(emailKey(email))
	l.remotes.fail(remoteKey(remote))
}

// checkRemote is check for a sign-in with no account to it (a token typed
// into the dashboard): only the remote address's failures count.
func (l *signInLimiter) checkRemote(remote string) time.Duration {
	return l.remotes.wait(remoteKey(remote))
}

// failedRemote counts a failure from remote that names no account.
func (l *signInLimiter) failedRemote(remote string) {
	l.remotes.fail(remoteKey(remote))
}

// succeeded forgets email's failures. The remote address's stay: else one
// who holds an account could reset their address's count between guesses
// at others'.
func (l *signInLimiter) succeeded(email string) {
	l.emails.reset(emailKey(email))
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
