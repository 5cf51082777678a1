package gitreceive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// errInputTooLarge is returned by limitedReader past its limit.
var errInputTooLarge = errors.New("input exceeds the limit")

// limitedReader reads at most limit bytes from r, then fails with
// errInputTooLarge. Each part of a request gets its own limit.
type limitedReader struct {
	r        io.Reader
	limit    int64
	n        int64 // left
	exceeded bool
}

func newLimitedReader(r io.Reader, limit int64) *limitedReader {
	l := &limitedReader{r: r}
	l.reset(limit)
	return l
}

// reset gives the next part of the request limit bytes.
func (l *limitedReader) reset(limit int64) {
	l.limit, l.n, l.exceeded = limit, limit, false
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.exceeded = true
		return 0, errInputTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// packError is a failure to receive a pack, with the reason to show the
// user.
type packError struct {
	reason string
	err    error
}

func (e *packError) Error() string {
	if e.err == nil {
		return e.reason
	}
	return e.reason + ": " + e.err.Error()
}

func (e *packError) Unwrap() error { return e.err }

// storePack reads exactly one pack from r, stopping at its checksum, and
// checks it: valid pack, checksum, no object larger than maxObject once
// inflated (a few KiB of zlib or of delta instructions can describe
// gigabytes). If keep is set, the pack is then indexed and added to the
// object store of the repository at dir; otherwise it is discarded, which
// still consumes it from the client.
//
// Objects are stored before the push is accepted. It returns the path of
// the pack (without its .pack or .idx extension), or "" when it stored
// none, held in holds until the push ends (packHolds.release), so that a
// refused push's pack can be removed.
func storePack(dir string, r *limitedReader, maxObject int64, keep bool, holds *packHolds) (string, error) {
	packDir := filepath.Join(dir, "objects", "pack")
	sink := io.Discard
	var tmp *os.File
	if keep {
		if err := os.MkdirAll(packDir, 0o755); err != nil {
			return "", &packError{reason: msgInternal, err: err}
		}
		var err error
		if tmp, err = os.CreateTemp(packDir, "tmp_pack_"); err != nil {
			return "", &packError{reason: msgInternal, err: err}
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name()) // fails harmlessly once renamed
		}()
		sink = tmp
	}

	objects, sum, err := scanPack(io.TeeReader(r, sink), maxObject)
	switch {
	case r.exceeded:
		return "", &packError{reason: "push exceeds the " + formatBytes(r.limit) + " limit", err: errInputTooLarge}
	case err != nil:
		return "", err
	case !keep || objects == 0:
		return "", nil
	}

	// The scanner reads ahead. Whatever the client sent after its pack (it
	// should send nothing) would now sit in the file after the checksum.
	size, err := tmp.Seek(0, io.SeekEnd)
	if err != nil {
		return "", &packError{reason: msgInternal, err: err}
	}
	var tail [20]byte
	if _, err := tmp.ReadAt(tail[:], size-int64(len(tail))); err != nil || !bytes.Equal(tail[:], sum[:]) {
		return "", &packError{reason: "corrupt pack", err: errors.New("data after the pack checksum")}
	}

	// Index the pack, now that it is seekable, the way git index-pack does.
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", &packError{reason: msgInternal, err: err}
	}
	idxw := new(idxfile.Writer)
	parser, err := packfile.NewParser(packfile.NewScanner(tmp), idxw)
	if err != nil {
		return "", &packError{reason: "corrupt pack", err: err}
	}
	if _, err := parser.Parse(); err != nil {
		// Includes deltas against objects outside the pack: the
		// advertisement says no-thin.
		return "", &packError{reason: "corrupt pack", err: err}
	}
	idx, err := idxw.Index()
	if err != nil {
		return "", &packError{reason: "corrupt pack", err: err}
	}
	holds.mu.Lock()
	defer holds.mu.Unlock()
	base, created, err := publishPack(packDir, tmp, idx, sum)
	if err != nil {
		return "", &packError{reason: msgInternal, err: err}
	}
	holds.holdLocked(base, created)
	return base, nil
}

// packHolds tracks the packs that pushes in flight stored. The pack of a
// refused push is removed once no push in flight holds it (the same
// objects pushed twice make the same pack), and never when an accepted
// push holds it or it was there before the pushes in flight.
type packHolds struct {
	mu sync.Mutex
	m  map[string]*packHold // by pack path less its extension
}

type packHold struct {
	pushes int  // in flight that hold it
	keep   bool // one of them was accepted
}

func (h *packHolds) holdLocked(base string, created bool) {
	e := h.m[base]
	if e == nil {
		if !created {
			return // an earlier push's, accepted: it stays
		}
		if h.m == nil {
			h.m = map[string]*packHold{}
		}
		e = &packHold{}
		h.m[base] = e
	}
	e.pushes++
}

// release ends a push's hold of the pack base, removing the pack when it
// was the last push holding it and none of them was accepted.
func (h *packHolds) release(base string, accepted bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.m[base]
	if e == nil {
		return nil
	}
	e.keep = e.keep || accepted
	if e.pushes--; e.pushes > 0 {
		return nil
	}
	delete(h.m, base)
	if e.keep {
		return nil
	}
	return removePack(base)
}

// removePack removes a pack storePack added, index first, so that a push
// that was refused leaves nothing on disk.
func removePack(base string) error {
	if err := os.Remove(base + ".idx"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Remove(base + ".pack"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// publishPack writes the index, then moves the pack into place under its
// checksum. go-git and git see a pack only once pack-<sum>.pack exists, and
// by then its index does. It returns the pack's path less its extension,
// and whether it made it (false: the same pack was there already).
func publishPack(packDir string, pack *os.File, idx *idxfile.MemoryIndex, sum plumbing.Hash) (string, bool, error) {
	base := filepath.Join(packDir, "pack-"+sum.String())
	if _, err := os.Stat(base + ".pack"); err == nil {
		return base, false, nil // the same pack was pushed before
	}
	idxTmp, err := os.CreateTemp(packDir, "tmp_idx_")
	if err != nil {
		return "", false, err
	}
	defer os.Remove(idxTmp.Name())
	if _, err := idxfile.NewEncoder(idxTmp).Encode(idx); err != nil {
		idxTmp.Close()
		return "", false, fmt.Errorf("writing pack index: %w", err)
	}
	if err := idxTmp.Sync(); err != nil {
		idxTmp.Close()
		return "", false, err
	}
	if err := idxTmp.Close(); err != nil {
		return "", false, err
	}
	if err := pack.Sync(); err != nil {
		return "", false, err
	}
	for _, f := range []string{idxTmp.Name(), pack.Name()} {
		if err := os.Chmod(f, 0o444); err != nil {
			return "", false, err
		}
	}
	if err := os.Rename(idxTmp.Name(), base+".idx"); err != nil {
		return "", false, err
	}
	if err := os.Rename(pack.Name(), base+".pack"); err != nil {
		return "", false, err
	}
	return base, true, nil
}

// scanPack reads one pack from r without storing it and returns its number
// of objects and its checksum, which it verifies.
func scanPack(r io.Reader, maxObject int64) (uint32, plumbing.Hash, error) {
	corrupt := func(err error) (uint32, plumbing.Hash, error) {
		return 0, plumbing.ZeroHash, &packError{reason: "corrupt pack", err: err}
	}
	tooLarge := func(size int64) (uint32, plumbing.Hash, error) {
		return 0, plumbing.ZeroHash, &packError{
			reason: "an object in the push exceeds the " + formatBytes(maxObject) + " limit",
			err:    fmt.Errorf("object of %d bytes", size),
		}
	}
	sc := packfile.NewScanner(r)
	_, count, err := sc.Header()
	if err != nil {
		return corrupt(err)
	}
	for range count {
		h, err := sc.NextObjectHeader()
		if err != nil {
			return corrupt(err)
		}
		if h.Length > maxObject {
			return tooLarge(h.Length)
		}
		var sniff *deltaSniffer
		var sink io.Writer = io.Discard
		if h.Type == plumbing.OFSDeltaObject || h.Type == plumbing.REFDeltaObject {
			sniff = &deltaSniffer{}
			sink = sniff
		}
		if _, _, err := sc.NextObject(sink); err != nil {
			return corrupt(err)
		}
		if sniff != nil {
			target, ok := sniff.targetSize()
			if !ok {
				return corrupt(errors.New("malformed delta header"))
			}
			if target > uint64(maxObject) {
				return tooLarge(int64(min(target, 1<<62)))
			}
		}
	}
	sum, err := sc.Checksum()
	if err != nil {
		return corrupt(err)
	}
	return count, sum, nil
}

// deltaSniffer keeps the start of a delta, where its base and target sizes
// are, and discards the rest.
type deltaSniffer struct {
	head []byte
}

func (d *deltaSniffer) Write(p []byte) (int, error) {
	if room := 20 - len(d.head); room > 0 {
		d.head = append(d.head, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// targetSize decodes the delta's header: two little-endian base-128
// varints, the base's size then the target's.
func (d *deltaSniffer) targetSize() (uint64, bool) {
	_, rest, ok := uvarint(d.head)
	if !ok {
		return 0, false
	}
	target, _, ok := uvarint(rest)
	return target, ok
}

func uvarint(b []byte) (uint64, []byte, bool) {
	var v uint64
	for i, c := range b {
		if i > 9 {
			return 0, nil, false
		}
		v |= uint64(c&0x7f) << (7 * uint(i))
		if c&0x80 == 0 {
			return v, b[i+1:], true
		}
	}
	return 0, nil, false
}
