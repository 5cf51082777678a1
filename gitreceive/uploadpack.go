package gitreceive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"github.com/gliderlabs/ssh"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/revlist"
)

// maxNegotiationBytes caps what a fetching client may send: wants, haves.
const maxNegotiationBytes = 16 << 20

// uploadPack speaks git-upload-pack (protocol v0, single-ack negotiation,
// no shallow clones) to the client: advertise the refs, read the wanted
// tips and the commits the client has, and send a pack of the difference.
// go-git has no server-side negotiation, so this follows git's
// upload-pack.c for clients that do not ask for multi_ack.
func (s *Server) uploadPack(sess ssh.Session, log *slog.Logger, app string) int {
	adv := packp.NewAdvRefs()
	for _, c := range []capability.Capability{capability.Sideband64k, capability.OFSDelta, capability.NoProgress} {
		_ = adv.Capabilities.Set(c)
	}
	_ = adv.Capabilities.Set(capability.Agent, agent)

	repo, err := git.PlainOpen(s.repoDir(app))
	switch {
	case errors.Is(err, git.ErrRepositoryNotExists):
		// Never pushed: an empty repository, without creating one.
	case err != nil:
		log.Error("opening repository", "err", err)
		return refuse(sess, msgInternal)
	default:
		tips, err := refTips(repo)
		if err != nil {
			log.Error("reading refs", "err", err)
			return refuse(sess, msgInternal)
		}
		for name, h := range tips {
			adv.References[name.String()] = h
		}
		if target := headTarget(repo); target != "" {
			if h, ok := tips[target]; ok {
				adv.Head = &h
				_ = adv.Capabilities.Add(capability.SymRef, "HEAD:"+target.String())
			}
		}
	}
	if err := adv.Encode(sess); err != nil {
		log.Info("client went away", "err", err)
		return 1
	}

	sc := pktline.NewScanner(newLimitedReader(sess, maxNegotiationBytes))
	wants, caps, err := readWants(sc, adv)
	if err != nil {
		log.Info("fetch refused", "err", err)
		return fatal(sess, err)
	}
	if len(wants) == 0 {
		return 0 // ls-remote, an empty repository, or nothing to fetch
	}
	common, done, err := negotiate(sc, sess, repo)
	if err != nil {
		log.Info("fetch refused", "err", err)
		return fatal(sess, err)
	}
	if !done {
		return 0 // the client hung up
	}

	objs, err := revlist.Objects(repo.Storer, wants, common)
	if err != nil {
		log.Error("listing objects to send", "err", err)
		return fatal(sess, errors.New(msgInternal))
	}
	rep := newReporter(sess, sess.Stderr(), caps)
	w := bufio.NewWriterSize(dataWriter{rep}, pktline.MaxPayloadSize-1)
	enc := packfile.NewEncoder(w, repo.Storer, !caps.Supports(capability.OFSDelta))
	if _, err := enc.Encode(objs, 10); err != nil {
		log.Error("sending pack", "err", err)
		return 1
	}
	if err := w.Flush(); err != nil {
		log.Info("client went away", "err", err)
		return 1
	}
	if err := rep.end(); err != nil {
		log.Info("client went away", "err", err)
		return 1
	}
	log.Info("fetch served", "objects", len(objs))
	return 0
}

// fatal sends err to the client as git's ERR packet, which it shows as
// "fatal: remote error: ...".
func fatal(sess ssh.Session, err error) int {
	_ = pktline.NewEncoder(sess).Encodef("ERR %s\n", err.Error())
	return 1
}

// readWants reads "want <id>[ <caps>]" lines up to a flush. Every wanted
// object must be an advertised tip, and every capability advertised.
func readWants(sc *pktline.Scanner, adv *packp.AdvRefs) ([]plumbing.Hash, *capability.List, error) {
	tips := map[plumbing.Hash]bool{}
	for _, h := range adv.References {
		tips[h] = true
	}
	caps := capability.NewList()
	var wants []plumbing.Hash
	for first := true; ; first = false {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, nil, fmt.Errorf("reading wants: %w", err)
			}
			return nil, caps, nil // EOF: the client hung up
		}
		line := sc.Bytes()
		if len(line) == 0 {
			return wants, caps, nil
		}
		rest, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte("want "))
		if !ok {
			return nil, nil, fmt.Errorf("unexpected %q: shallow clones are not supported", firstWord(line))
		}
		id, capsText, _ := bytes.Cut(rest, []byte(" "))
		if first {
			if err := caps.Decode(capsText); err != nil {
				return nil, nil, fmt.Errorf("invalid capabilities: %w", err)
			}
			for _, c := range caps.All() {
				if !adv.Capabilities.Supports(c) {
					return nil, nil, fmt.Errorf("unsupported capability %q", c)
				}
			}
		}
		if !plumbing.IsHash(string(id)) {
			return nil, nil, fmt.Errorf("invalid want %q", id)
		}
		h := plumbing.NewHash(string(id))
		if !tips[h] {
			return nil, nil, fmt.Errorf("upload-pack: not our ref %s", h)
		}
		wants = append(wants, h)
	}
}

// negotiate reads the client's "have" lines until "done", answering as
// git's upload-pack does without multi_ack: ACK the first have we also
// have, NAK at a flush while there is none, NAK at "done" if there never
// was one. It returns the common objects, and done=false if the client
// hung up before "done".
func negotiate(sc *pktline.Scanner, w io.Writer, repo *git.Repository) (common []plumbing.Hash, done bool, err error) {
	enc := pktline.NewEncoder(w)
	seen := map[plumbing.Hash]bool{}
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\n"))
		switch {
		case len(line) == 0: // flush: end of a batch of haves
			if len(common) == 0 {
				if err := enc.EncodeString("NAK\n"); err != nil {
					return nil, false, err
				}
			}
		case bytes.Equal(line, []byte("done")):
			if len(common) == 0 {
				if err := enc.EncodeString("NAK\n"); err != nil {
					return nil, false, err
				}
			}
			sort.Slice(common, func(i, j int) bool { return bytes.Compare(common[i][:], common[j][:]) < 0 })
			return common, true, nil
		case bytes.HasPrefix(line, []byte("have ")):
			id := string(line[len("have "):])
			if !plumbing.IsHash(id) {
				return nil, false, fmt.Errorf("invalid have %q", id)
			}
			h := plumbing.NewHash(id)
			if seen[h] || repo.Storer.HasEncodedObject(h) != nil {
				continue
			}
			seen[h] = true
			common = append(common, h)
			if len(common) == 1 {
				if err := enc.Encodef("ACK %s\n", h); err != nil {
					return nil, false, err
				}
			}
		default:
			return nil, false, fmt.Errorf("unexpected %q during negotiation", firstWord(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, false, fmt.Errorf("reading haves: %w", err)
	}
	return nil, false, nil
}

func firstWord(line []byte) string {
	w, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
	if len(w) > 40 {
		w = w[:40]
	}
	return string(w)
}
