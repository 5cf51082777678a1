package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultAddr         = ":2222"
	DefaultMaxPackBytes = 1 << 30
	DefaultKeepAlive    = 10 * time.Second
)

// Op is the kind of access a git command needs.
type Op int

// The operations a Pusher authorizes.
const (
	// Read is clone and fetch (git-upload-pack).
	Read Op = iota + 1
	// Write is push (git-receive-pack).
	Write
)

// String returns "read" or "write".
func (o Op) String() string {
	switch o {
	case Read:
		return "read"
	case Write:
		return "write"
	default:
		return fmt.Sprintf("Op(%d)", int(o))
	}
}

// ErrUnknownKey is what an Authenticator returns for a key that belongs to
// nobody. Any error refuses the key; this one is logged as routine.
var ErrUnknownKey = errors.New("unknown ssh key")

// Authenticator maps a public key to the platform user who registered it.
type Authenticator interface {
	// UserForKey returns the user owning the key, given in authorized_keys
	// form ("ssh-ed25519 AAAA...", no comment) and as its SHA256
	// fingerprint ("SHA256:..."). It returns ErrUnknownKey (or any error)
	// to refuse the key. It may be called several times per connection,
	// also for keys the client only offers without proving it holds them:
	// the result of the call for the key the client signed with is the one
	// that counts.
	UserForKey(ctx context.Context, authorizedKey, fingerprint string) (user string, err error)
}

// Refusal is an Authorize error whose message the client sees.
type Refusal struct{ Message string }

func (r *Refusal) Error() string { return r.Message }

// Pusher decides who may use an app's repository and deploys pushed
// revisions. The push pipeline (package release) implements it, through
// an adapter in cmd/platformd.
type Pusher interface {
	// Authorize returns nil if user may perform op on app. Any error
	// refuses the command. The client sees the message of a *Refusal
	// (for a user who may see the app, told why not); of any other
	// error, only "no such app, or no access", and the error goes to the
	// log.
	Authorize(ctx context.Context, user, app string, op Op) error

	// Push builds and deploys req.NewRev. Everything written to out reaches
	// the pushing terminal as it is written, as "remote:" lines. If Push
	// returns an error the branch is not updated and the client sees
	// "[remote rejected]" with the error's text as the reason, so the text
	// must be short and meant for the user (log the detail yourself). ctx is
	// cancelled when the client disconnects or the server shuts down. out
	// must not be used after Push returns.
	Push(ctx context.Context, req PushRequest, out io.Writer) error
}

// PushRequest describes one branch update that Push is asked to deploy.
type PushRequest struct {
	User string // the user whose key authenticated the connection
	App  string
	// RepoDir is the app's bare repository. It holds NewRev and everything
	// it references; the branch still points at OldRev. Checkout writes a
	// revision's tree to a directory.
	RepoDir string
	Ref     string // "refs/heads/main" or "refs/heads/master"
	OldRev  string // the branch's current commit; empty on the first push
	NewRev  string // the pushed commit, 40 hex digits
	// Options are the push options the client sent (git push -o verbose),
	// as given, in order.
	Options []string
}

// Config holds the settings of a Server. Zero values get the documented
// defaults.
type Config struct {
	// Addr is the TCP address ListenAndServe listens on; ":2222" if empty.
	Addr string
	// HostKeyPath is the server's private host key in OpenSSH format. If the
	// file does not exist an ed25519 key is generated and written there with
	// mode 0600, so the key stays the same across restarts. Required.
	HostKeyPath string
	// ReposDir holds one bare repository per app, "<app>.git". It is created
	// if missing. Required.
	ReposDir string
	// MaxPackBytes caps the size of a pushed pack, and of any single object
	// in it once inflated; 1 GiB if zero.
	MaxPackBytes int64
	// KeepAlive is how often the server checks that the client is still
	// there, and how long a deploy may be silent before the server sends a
	// keepalive packet to the client; 10s if zero.
	KeepAlive time.Duration
	// Drain is how long the pushes in flight get to finish once Serve's
	// context is done, while no new connection is taken. A push still
	// running then is stopped: nothing of it is released, and its pusher
	// is told the server restarted and to push again. Zero stops them at
	// once.
	Drain time.Duration
	// Logger receives the server's logs. Required.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.HostKeyPath == "" {
		return errors.New("host key path is required")
	}
	if c.ReposDir == "" {
		return errors.New("repos dir is required")
	}
	switch {
	case c.MaxPackBytes == 0:
		c.MaxPackBytes = DefaultMaxPackBytes
	case c.MaxPackBytes < 0:
		return fmt.Errorf("max pack bytes must not be negative, got %d", c.MaxPackBytes)
	}
	switch {
	case c.KeepAlive == 0:
		c.KeepAlive = DefaultKeepAlive
	case c.KeepAlive < 0:
		return fmt.Errorf("keepalive must not be negative, got %s", c.KeepAlive)
	}
	if c.Drain < 0 {
		return fmt.Errorf("drain must not be negative, got %s", c.Drain)
	}
	if c.Logger == nil {
		return errors.New("logger is required")
	}
	return nil
}

// Server is the SSH git server. Create it with New; it serves once.
type Server struct {
	cfg     Config
	auth    Authenticator
	pushes  Pusher
	log     *slog.Logger
	hostKey gossh.Signer
	ssh     *ssh.Server

	// repoMu serializes creating repositories and updating refs, so that
	// the compare-and-swap of a branch is atomic within this process.
	repoMu sync.Mutex
	// pushing holds, per app with a push deploying, a channel closed when
	// it is done.
	pushMu  sync.Mutex
	pushing map[string]chan struct{}
	// packs are the packs of pushes in flight.
	packs packHolds

	mu      sync.Mutex
	served  bool
	closing bool
	addr    net.Addr
	conns   map[*trackedConn]struct{}
	// running counts open connections and running session handlers.
	running sync.WaitGroup
	// sessions counts running session handlers, and stops holds the
	// cancel of each, by a number of its own.
	sessions sync.WaitGroup
	stops    map[uint64]context.CancelCauseFunc
	nextStop uint64
}

// ErrRestarting is the cause with which a push still running when the
// server's drain ends is stopped.
var ErrRestarting = errors.New("the platform restarted during the push")

// New validates cfg, loads or creates the host key and the repository
// directory, and returns a Server that is not yet listening.
func New(cfg Config, auth Authenticator, pushes Pusher) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, fmt.Errorf("gitreceive config: %w", err)
	}
	if auth == nil {
		return nil, errors.New("gitreceive: authenticator is required")
	}
	if pushes == nil {
		return nil, errors.New("gitreceive: pusher is required")
	}
	log := cfg.Logger.With("component", "gitreceive")
	hostKey, err := loadOrCreateHostKey(cfg.HostKeyPath, log)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.ReposDir, 0o750); err != nil {
		return nil, fmt.Errorf("creating repos dir: %w", err)
	}
	s := &Server{
		cfg:     cfg,
		auth:    auth,
		pushes:  pushes,
		log:     log,
		hostKey: hostKey,
		conns:   map[*trackedConn]struct{}{},
		pushing: map[string]chan struct{}{},
	}
	s.ssh = &ssh.Server{
		HostSigners:          []ssh.Signer{hostKey},
		Version:              "platform-gitreceive",
		Handler:              s.handleSession,
		PublicKeyHandler:     s.acceptOfferedKey,
		ServerConfigCallback: s.serverConfig,
		ConnCallback:         s.trackConn,
		// Refuse nothing at the request level: a pty is refused by the
		// session handler, with a message the user can read.
		PtyCallback: func(ssh.Context, ssh.Pty) bool { return true },
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			log.Debug("ssh handshake failed", "remote_addr", conn.RemoteAddr().String(), "err", err)
		},
		// Cuts connections that stall before or after authentication.
		// Live sessions stay busy: the keepalive loop reads a reply every
		// KeepAlive.
		IdleTimeout: max(time.Minute, 6*cfg.KeepAlive),
	}
	return s, nil
}

// HostPublicKey returns the server's host key in authorized_keys form, for
// known_hosts files.
func (s *Server) HostPublicKey() string {
	return authorizedKey(s.hostKey.PublicKey())
}

// Addr returns the address the server listens on, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe listens on Config.Addr and serves until ctx is cancelled.
// See Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening for ssh: %w", err)
	}
	return s.Serve(ctx, l)
}

// Serve accepts SSH connections on l until ctx is cancelled, then closes l
// and every connection (which cancels the context of running pushes) and
// returns nil once every session handler has returned. It returns an error
// if accepting fails. Serve takes ownership of l and may be called once.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.served {
		s.mu.Unlock()
		l.Close()
		return errors.New("gitreceive: server already served")
	}
	s.served = true
	s.addr = l.Addr()
	s.mu.Unlock()

	s.log.Info("ssh server listening", "addr", l.Addr().String(), "host_key", gossh.FingerprintSHA256(s.hostKey.PublicKey()))
	errc := make(chan error, 1)
	go func() { errc <- s.ssh.Serve(l) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		errc <- err
		if !errors.Is(err, ssh.ErrServerClosed) {
			serveErr = fmt.Errorf("serving ssh: %w", err)
		}
	}
	s.drain(l)
	s.shutdown()
	<-errc
	s.running.Wait()
	s.log.Info("ssh server stopped")
	return serveErr
}

// shutdown closes the listener and every connection, including those still
// in the handshake, which gliderlabs/ssh does not track.
func (s *Server) shutdown() {
	s.mu.Lock()
	s.closing = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	_ = s.ssh.Close()
	for _, c := range conns {
		_ = c.Close()
	}
}

// trackConn is the ConnCallback: it registers every accepted connection so
// shutdown can close it, and refuses new ones while closing.
func (s *Server) trackConn(_ ssh.Context, c net.Conn) net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil // gliderlabs/ssh closes it
	}
	tc := &trackedConn{Conn: c, s: s}
	s.conns[tc] = struct{}{}
	s.running.Add(1)
	return tc
}

// startSession registers a session handler so Serve waits for it. It is
// called while the session's connection is registered, so the WaitGroup's
// counter is positive.
// startSession registers a session handler whose context stop cancels,
// unless the server is closing. done unregisters it.
func (s *Server) startSession(stop context.CancelCauseFunc) (done func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil, false
	}
	s.running.Add(1)
	s.sessions.Add(1)
	if s.stops == nil {
		s.stops = map[uint64]context.CancelCauseFunc{}
	}
	id := s.nextStop
	s.nextStop++
	s.stops[id] = stop
	return func() {
		s.mu.Lock()
		delete(s.stops, id)
		s.mu.Unlock()
		s.sessions.Done()
		s.running.Done()
	}, true
}

// drain stops taking connections (l) and sessions, and lets the sessions
// running finish for up to Config.Drain; those still running then are
// stopped with ErrRestarting, and get a little longer to tell their
// clients so.
func (s *Server) drain(l net.Listener) {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	_ = l.Close()
	idle := make(chan struct{})
	go func() { s.sessions.Wait(); close(idle) }()
	t := time.NewTimer(s.cfg.Drain)
	defer t.Stop()
	select {
	case <-idle:
		s.awaitClients()
		return
	case <-t.C:
	}
	s.mu.Lock()
	n := len(s.stops)
	for _, stop := range s.stops {
		stop(ErrRestarting)
	}
	s.mu.Unlock()
	s.log.Info("stopping pushes still running at shutdown", "sessions", n)
	select {
	case <-idle:
		s.awaitClients()
	case <-time.After(drainTell):
	}
}

// awaitClients gives the clients whose sessions ended a moment to close
// their connections themselves: one closed under it while it reads the
// session's exit status sees a reset, and git reports a push that
// succeeded as failed.
func (s *Server) awaitClients() {
	closed := make(chan struct{})
	go func() { s.running.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(drainTell):
	}
}

// drainTell is how long sessions stopped at the end of a drain get to
// tell their clients why.
const drainTell = 3 * time.Second

type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
		c.s.running.Done()
	})
	return err
}
