package gitreceive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gliderlabs/ssh"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
)

const (
	agent = "platform-gitreceive"
	// maxCommandBytes caps the ref update commands that precede the pack.
	maxCommandBytes = 1 << 20
	// noThin asks the client for self-contained packs, which are what
	// storePack can index. Not in go-git's list of capabilities.
	noThin capability.Capability = "no-thin"
)

// errStale means the branch moved between the advertisement and the update.
var errStale = errors.New("branch changed during the push")

// receivePack speaks git-receive-pack (protocol v0) to the client: advertise
// the refs, read the update commands and the pack, refuse what may not be
// pushed, deploy the one deployable branch update with Push, move the branch
// only if Push succeeded, and report the status of every ref.
func (s *Server) receivePack(ctx context.Context, sess ssh.Session, log *slog.Logger, id identity, app string) int {
	dir := s.repoDir(app)
	if err := s.ensureRepo(dir); err != nil {
		log.Error("creating repository", "err", err)
		return refuse(sess, msgInternal)
	}
	repo, err := git.PlainOpen(dir)
	if err != nil {
		log.Error("opening repository", "err", err)
		return refuse(sess, msgInternal)
	}
	tips, err := refTips(repo)
	if err != nil {
		log.Error("reading refs", "err", err)
		return refuse(sess, msgInternal)
	}

	adv := packp.NewAdvRefs()
	for _, c := range []capability.Capability{capability.ReportStatus, capability.Sideband64k, capability.OFSDelta, noThin, capability.PushOptions} {
		_ = adv.Capabilities.Set(c)
	}
	_ = adv.Capabilities.Set(capability.Agent, agent)
	for name, h := range tips {
		adv.References[name.String()] = h
	}
	if err := adv.Encode(sess); err != nil {
		log.Info("client went away", "err", err)
		return 1
	}

	in := newLimitedReader(sess, maxCommandBytes)
	var head [4]byte
	if _, err := io.ReadFull(in, head[:]); err != nil {
		return 0 // the client only wanted the refs
	}
	if string(head[:]) == "0000" {
		return 0 // nothing to update
	}
	req := packp.NewReferenceUpdateRequest()
	if err := req.Decode(io.MultiReader(bytes.NewReader(head[:]), in)); err != nil {
		log.Info("malformed push request", "err", err)
		return refuse(sess, "malformed push request")
	}
	for _, c := range req.Capabilities.All() {
		if !adv.Capabilities.Supports(c) {
			log.Info("malformed push request", "err", fmt.Errorf("unadvertised capability %q", c))
			return refuse(sess, fmt.Sprintf("unsupported capability %q", c))
		}
	}

	// Push options (git push -o NAME) follow the commands, before the pack.
	var options []string
	if req.Capabilities.Supports(capability.PushOptions) {
		if options, err = readPushOptions(in); err != nil {
			log.Info("malformed push request", "err", err)
			return refuse(sess, "malformed push options")
		}
	}

	rep := newReporter(sess, sess.Stderr(), req.Capabilities)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// From here until the report the client only listens: keep it (and
	// whatever sits between us) from giving up while we index, wait or
	// deploy. Nothing may follow the report, so stop before it.
	stopKeepalive := s.keepClientAlive(ctx, cancel, rep)
	defer stopKeepalive()

	status := make([]string, len(req.Commands)) // "" is ok
	deploy := checkCommands(req.Commands, tips, status, rep)
	for i, c := range req.Commands {
		if status[i] != "" {
			log.Info("ref update refused", "ref", c.Name.String(), "reason", status[i])
		}
	}

	unpack := "ok"
	var pack string // the pack this push added
	if slices.ContainsFunc(req.Commands, func(c *packp.Command) bool { return c.Action() != packp.Delete }) {
		in.reset(s.cfg.MaxPackBytes)
		var err error
		if pack, err = storePack(dir, in, s.cfg.MaxPackBytes, deploy >= 0, &s.packs); err != nil {
			reason := msgInternal
			var pe *packError
			if errors.As(err, &pe) {
				reason = pe.reason
			}
			if reason == msgInternal {
				log.Error("storing pack", "err", err)
			} else {
				log.Info("pack refused", "err", err)
			}
			rep.messagef("! rejected: %s", reason)
			unpack = reason
			for i := range status {
				if status[i] == "" {
					status[i] = "unpacker error"
				}
			}
		}
	}
	if deploy >= 0 && status[deploy] == "" {
		status[deploy] = s.deploy(ctx, log, rep, id, app, dir, req.Commands[deploy], options)
	}
	// The objects of a refused push are referenced by nothing: its pack
	// goes, so that failed pushes do not pile up on disk.
	if pack != "" {
		if err := s.packs.release(pack, deploy >= 0 && status[deploy] == ""); err != nil {
			log.Warn("removing the pack of a refused push", "err", err)
		}
	}

	stopKeepalive()
	if req.Capabilities.Supports(capability.ReportStatus) {
		rs := packp.NewReportStatus()
		rs.UnpackStatus = unpack
		for i, c := range req.Commands {
			st := status[i]
			if st == "" {
				st = "ok"
			}
			rs.CommandStatuses = append(rs.CommandStatuses, &packp.CommandStatus{ReferenceName: c.Name, Status: st})
		}
		var buf bytes.Buffer
		_ = rs.Encode(&buf)
		if _, err := rep.data(buf.Bytes()); err != nil {
			log.Info("client went away", "err", err)
			return 1
		}
	}
	if err := rep.end(); err != nil {
		log.Info("client went away", "err", err)
		return 1
	}
	return 0
}

// checkCommands refuses (by setting status[i]) every update that may not be
// pushed, telling the client why, and returns the index of the one update to
// deploy, or -1.
func checkCommands(cmds []*packp.Command, tips map[plumbing.ReferenceName]plumbing.Hash, status []string, rep *reporter) int {
	suggest := "main"
	if _, hasMaster := tips[plumbing.Master]; hasMaster {
		if _, hasMain := tips[plumbing.Main]; !hasMain {
			suggest = "master"
		}
	}
	deploy, both := -1, false
	for i, c := range cmds {
		switch {
		case c.Name.Validate() != nil:
			status[i] = "invalid ref name"
			rep.messagef("! rejected: invalid ref name %q", c.Name.String())
		case c.Action() == packp.Delete:
			status[i] = "deleting is not allowed"
			rep.messagef("! rejected: %s: deleting is not allowed", c.Name.Short())
		case c.Name != plumbing.Main && c.Name != plumbing.Master:
			status[i] = "only main or master is deployed"
			src := "HEAD"
			if c.Name.IsBranch() {
				src = c.Name.Short()
			}
			rep.messagef("! rejected: %s is not deployed; push to %s: git push platform %s:%s", describeRef(c.Name), suggest, src, suggest)
		case deploy >= 0:
			both = true
			status[i] = "push main or master, not both"
		default:
			deploy = i
		}
	}
	if both {
		status[deploy] = "push main or master, not both"
		rep.messagef("! rejected: push main or master, not both")
		return -1
	}
	return deploy
}

func describeRef(name plumbing.ReferenceName) string {
	switch {
	case name.IsBranch():
		return "branch " + name.Short()
	case name.IsTag():
		return "tag " + name.Short()
	default:
		return "ref " + name.String()
	}
}

// deploy checks the pushed commit, runs Push and moves the branch if Push
// succeeded. It returns "" on success and the reason for the client
// otherwise.
func (s *Server) deploy(ctx context.Context, log *slog.Logger, rep *reporter, id identity, app, dir string, cmd *packp.Command, options []string) string {
	log = log.With("ref", cmd.Name.String(), "commit", cmd.New.String())
	reject := func(reason string) string {
		rep.messagef("! rejected: %s", reason)
		return reason
	}
	stale := func() string {
		return reject(cmd.Name.Short() + " changed during the push; fetch and push again")
	}

	// A fresh repository sees the pack just stored.
	repo, err := git.PlainOpen(dir)
	if err != nil {
		log.Error("opening repository", "err", err)
		return reject(msgInternal)
	}
	if _, err := repo.CommitObject(cmd.New); err != nil {
		log.Info("push refused", "reason", "not a commit", "err", err)
		return reject(fmt.Sprintf("%.7s is not a commit", cmd.New))
	}
	tips, err := refTips(repo)
	if err != nil {
		log.Error("reading refs", "err", err)
		return reject(msgInternal)
	}
	// Everything the new commit references must be here, as git's
	// connectivity check demands. Objects reachable from the branches are.
	have := make([]plumbing.Hash, 0, len(tips))
	for _, h := range tips {
		have = append(have, h)
	}
	if _, err := revlist.Objects(repo.Storer, []plumbing.Hash{cmd.New}, have); err != nil {
		log.Info("push refused", "reason", "missing objects", "err", err)
		return reject("missing objects (pushing from a shallow clone?)")
	}

	// One push per app at a time, from the check of the branch to its
	// update: a second push made from the same revision waits, then finds
	// the branch moved and is refused without being deployed.
	unlock, err := s.lockApp(ctx, app, rep)
	if err != nil {
		log.Info("push abandoned while waiting", "err", err)
		return reject("canceled")
	}
	defer unlock()
	if cur, err := branchTip(dir, cmd.Name); err != nil {
		log.Error("reading refs", "err", err)
		return reject(msgInternal)
	} else if cur != cmd.Old {
		log.Info("push refused", "reason", "stale old rev")
		return stale()
	}

	req := PushRequest{
		User:    id.user,
		App:     app,
		RepoDir: dir,
		Ref:     cmd.Name.String(),
		NewRev:  cmd.New.String(),
		Options: options,
	}
	if !cmd.Old.IsZero() {
		req.OldRev = cmd.Old.String()
	}
	start := time.Now()
	out := &pushOutput{r: rep}
	err = s.pushes.Push(ctx, req, out)
	out.close()
	if err != nil {
		reason := userReason(err.Error())
		switch {
		case errors.Is(context.Cause(ctx), ErrRestarting):
			reason = msgRestarted
		case ctx.Err() != nil:
			reason = "canceled"
		}
		log.Info("push rejected", "err", err, "duration", time.Since(start))
		return reject(reason)
	}
	// Whether or not the client is still there: the revision is deployed.
	if err := s.updateBranch(dir, cmd); err != nil {
		if errors.Is(err, errStale) {
			log.Error("branch moved during deploy", "err", err)
			return stale()
		}
		log.Error("updating branch", "err", err)
		return reject(msgInternal)
	}
	log.Info("push deployed", "duration", time.Since(start))
	return ""
}

// keepClientAlive sends keepalives to the client whenever nothing was sent
// for half of KeepAlive, until the returned function is called; it returns
// once no keepalive can be sent any more. If the client cannot be written
// to, it calls cancel.
func (s *Server) keepClientAlive(ctx context.Context, cancel context.CancelFunc, rep *reporter) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		interval := s.cfg.KeepAlive / 2
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := rep.keepalive(interval); err != nil {
					cancel()
					return
				}
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// lockApp waits until no other push to app is deploying, telling the client
// if it has to wait, and returns the function that releases the app.
func (s *Server) lockApp(ctx context.Context, app string, rep *reporter) (unlock func(), err error) {
	for told := false; ; told = true {
		s.pushMu.Lock()
		busy, ok := s.pushing[app]
		if !ok {
			mine := make(chan struct{})
			s.pushing[app] = mine
			s.pushMu.Unlock()
			return func() {
				s.pushMu.Lock()
				delete(s.pushing, app)
				s.pushMu.Unlock()
				close(mine)
			}, nil
		}
		s.pushMu.Unlock()
		if !told {
			rep.messagef("waiting for another push to %s to finish", app)
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// branchTip returns the commit branch points at, or the zero hash.
func branchTip(dir string, branch plumbing.ReferenceName) (plumbing.Hash, error) {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	ref, err := repo.Storer.Reference(branch)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		return plumbing.ZeroHash, nil
	case err != nil:
		return plumbing.ZeroHash, err
	}
	return ref.Hash(), nil
}

// updateBranch moves cmd.Name from cmd.Old to cmd.New, failing with
// errStale if it no longer points at cmd.Old, and points HEAD at it if HEAD
// points at no existing branch.
func (s *Server) updateBranch(dir string, cmd *packp.Command) error {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	cur, err := repo.Storer.Reference(cmd.Name)
	switch {
	case errors.Is(err, plumbing.ErrReferenceNotFound):
		if !cmd.Old.IsZero() {
			return fmt.Errorf("%w: %s was deleted", errStale, cmd.Name)
		}
	case err != nil:
		return err
	case cur.Hash() != cmd.Old:
		return fmt.Errorf("%w: %s is at %s", errStale, cmd.Name, cur.Hash())
	}
	if err := writeRefFile(dir, cmd.Name.String(), cmd.New.String()+"\n"); err != nil {
		return fmt.Errorf("writing %s: %w", cmd.Name, err)
	}
	target := headTarget(repo)
	if target == cmd.Name {
		return nil
	}
	if target != "" {
		if _, err := repo.Storer.Reference(target); err == nil {
			return nil
		}
	}
	if err := writeRefFile(dir, "HEAD", "ref: "+cmd.Name.String()+"\n"); err != nil {
		return fmt.Errorf("writing HEAD: %w", err)
	}
	return nil
}

// maxPushOptions bounds how many push options a push may send.
const maxPushOptions = 32

// readPushOptions reads the push options a client sends after its commands
// when it asked for the push-options capability: one pkt-line each, up to a
// flush-pkt.
func readPushOptions(r io.Reader) ([]string, error) {
	sc := pktline.NewScanner(r)
	var options []string
	for sc.Scan() {
		b := sc.Bytes()
		if len(b) == 0 {
			return options, nil // flush-pkt
		}
		if len(options) == maxPushOptions {
			return nil, fmt.Errorf("more than %d push options", maxPushOptions)
		}
		options = append(options, strings.TrimSuffix(string(b), "\n"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading push options: %w", err)
	}
	return nil, errors.New("reading push options: no flush-pkt after them")
}
