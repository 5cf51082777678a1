package gitreceive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// handleSession is gliderlabs' Handler: it runs once per session channel
// that asked for a shell or a command.
func (s *Server) handleSession(sess ssh.Session) {
	// The session's context is the connection's: gliderlabs cancels it when
	// the connection closes, which is what a killed client looks like. The
	// server cancels it when it stops at the end of a drain.
	ctx, cancel := context.WithCancelCause(sess.Context())
	defer cancel(nil)
	done, ok := s.startSession(cancel)
	if !ok {
		_ = sess.Exit(refuse(sess, msgShutdown))
		return
	}
	defer done()
	code := s.serveSession(ctx, sess)
	_ = sess.Exit(code)
}

// serveSession runs one session and returns its exit status.
func (s *Server) serveSession(ctx context.Context, sess ssh.Session) int {
	log := s.log.With("remote_addr", sess.RemoteAddr().String())
	id, err := identityOf(sess)
	if err != nil {
		log.Error("resolving the authenticated key", "err", err)
		return refuse(sess, msgAuthFailed)
	}
	log = log.With("user", id.user)

	if _, _, isPty := sess.Pty(); isPty {
		log.Info("session refused", "reason", "pty requested")
		return refuse(sess, msgPty)
	}
	cmd, err := parseCommand(sess.RawCommand())
	if err != nil {
		log.Info("session refused", "command", sess.RawCommand(), "reason", err.Error())
		return refuse(sess, err.Error())
	}
	log = log.With("app", cmd.app)
	if err := s.pushes.Authorize(ctx, id.user, cmd.app, cmd.op); err != nil {
		log.Info("access denied", "op", cmd.op.String(), "err", err)
		if r, ok := errors.AsType[*Refusal](err); ok {
			return refuse(sess, r.Message)
		}
		return refuse(sess, msgNoAccess)
	}

	if conn, ok := sess.Context().Value(ssh.ContextKeyConn).(gossh.Conn); ok {
		go s.watchConn(ctx, conn, log)
	}
	switch cmd.op {
	case Write:
		return s.receivePack(ctx, sess, log, id, cmd.app)
	default:
		return s.uploadPack(sess, log, cmd.app)
	}
}

// refuse writes msg to the client's stderr and returns the exit status for
// a refused session.
func refuse(sess ssh.Session, msg string) int {
	fmt.Fprintf(sess.Stderr(), "%s\n", msg)
	return 1
}

// watchConn sends an SSH keepalive request every KeepAlive until ctx is
// done, and closes the connection if three go unanswered: a client that
// vanished without closing its TCP connection would otherwise keep a deploy
// running for nobody. Closing the connection cancels ctx.
func (s *Server) watchConn(ctx context.Context, conn gossh.Conn, log *slog.Logger) {
	t := time.NewTicker(s.cfg.KeepAlive)
	defer t.Stop()
	replies := make(chan error, 1)
	pending, missed := false, 0
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-replies:
			pending, missed = false, 0
			if err != nil {
				return // the connection is closed already
			}
		case <-t.C:
			if !pending {
				pending = true
				go func() {
					_, _, err := conn.SendRequest("keepalive@openssh.com", true, nil)
					replies <- err
				}()
				continue
			}
			if missed++; missed >= 3 {
				log.Info("closing unresponsive ssh connection", "err", errors.New("keepalive unanswered"))
				_ = conn.Close()
				return
			}
		}
	}
}
