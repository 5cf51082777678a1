package gitreceive

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func (s *Server) repoDir(app string) string {
	return filepath.Join(s.cfg.ReposDir, app+".git")
}

// ensureRepo creates the bare repository dir if it does not exist yet. The
// repository is initialised aside and renamed into place, so a crash never
// leaves half a repository behind.
func (s *Server) ensureRepo(dir string) error {
	s.repoMu.Lock()
	defer s.repoMu.Unlock()
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("checking repository: %w", err)
	}
	tmp, err := os.MkdirTemp(s.cfg.ReposDir, ".init-*")
	if err != nil {
		return fmt.Errorf("creating repository: %w", err)
	}
	defer os.RemoveAll(tmp)
	_, err = git.PlainInitWithOptions(tmp, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
	})
	if err != nil {
		return fmt.Errorf("creating repository: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("creating repository: %w", err)
	}
	return nil
}

// refTips returns the hash of every ref under refs/.
func refTips(repo *git.Repository) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	iter, err := repo.Storer.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("listing refs: %w", err)
	}
	refs := map[plumbing.ReferenceName]plumbing.Hash{}
	err = iter.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference && strings.HasPrefix(r.Name().String(), "refs/") {
			refs[r.Name()] = r.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing refs: %w", err)
	}
	return refs, nil
}

// headTarget returns the branch HEAD points at, or "" if HEAD is missing or
// not symbolic.
func headTarget(repo *git.Repository) plumbing.ReferenceName {
	head, err := repo.Storer.Reference(plumbing.HEAD)
	if err != nil || head.Type() != plumbing.SymbolicReference {
		return ""
	}
	return head.Target()
}

// writeRefFile replaces the loose ref file name in repoDir atomically.
func writeRefFile(repoDir, name, content string) error {
	p := filepath.Join(repoDir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".ref-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// Checkout writes the files of commit rev (40 hex digits) of the repository
// at repoDir into dstDir, which must exist and should be empty. Executable
// bits and symlinks are kept; submodules are skipped. Writes never leave
// dstDir, whatever the tree contains.
func Checkout(repoDir, rev, dstDir string, lim CheckoutLimits) error {
	if !plumbing.IsHash(rev) {
		return fmt.Errorf("checking out %q: not a full commit hash", rev)
	}
	lim = lim.withDefaults()
	h := plumbing.NewHash(rev)
	repo, err := git.PlainOpen(repoDir)
	if err != nil {
		return fmt.Errorf("opening repository %s: %w", repoDir, err)
	}
	commit, err := repo.CommitObject(h)
	if err != nil {
		return fmt.Errorf("checking out %.7s: %w", rev, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return fmt.Errorf("checking out %.7s: %w", rev, err)
	}
	// The tree's size is known before anything is written: a small pack
	// of repeated blobs may name gigabytes of files.
	var files, size int64
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		_, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("checking out %.7s: %w", rev, err)
		}
		if !entry.Mode.IsFile() {
			continue
		}
		if files++; files > lim.MaxFiles {
			return &CheckoutLimitError{Limit: "files", Value: strconv.FormatInt(lim.MaxFiles, 10)}
		}
		blobSize, err := repo.Storer.EncodedObjectSize(entry.Hash)
		if err != nil {
			return fmt.Errorf("checking out %.7s: %w", rev, err)
		}
		if size += blobSize; size > lim.MaxBytes {
			return &CheckoutLimitError{Limit: "size", Value: formatBytes(lim.MaxBytes)}
		}
	}

	root, err := os.OpenRoot(dstDir)
	if err != nil {
		return fmt.Errorf("checking out %.7s: %w", rev, err)
	}
	defer root.Close()
	err = tree.Files().ForEach(func(f *object.File) error {
		if err := checkoutFile(root, f); err != nil {
			return fmt.Errorf("writing %q: %w", f.Name, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("checking out %.7s: %w", rev, err)
	}
	return nil
}

// CheckoutLimits bound the tree a push may check out.
type CheckoutLimits struct {
	// MaxBytes bounds the total size of the tree's files. Default 1 GiB.
	MaxBytes int64
	// MaxFiles bounds its number of files. Default 100000.
	MaxFiles int64
}

// DefaultCheckoutLimits are the limits of a zero CheckoutLimits.
var DefaultCheckoutLimits = CheckoutLimits{MaxBytes: 1 << 30, MaxFiles: 100000}

func (l CheckoutLimits) withDefaults() CheckoutLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultCheckoutLimits.MaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultCheckoutLimits.MaxFiles
	}
	return l
}

// CheckoutLimitError is a pushed tree past a CheckoutLimits limit. Its
// message is for the pushing user.
type CheckoutLimitError struct {
	Limit string // "size" or "files"
	Value string
}

func (e *CheckoutLimitError) Error() string {
	if e.Limit == "files" {
		return "the pushed commit has more files than the limit of " + e.Value + " files a push may check out"
	}
	return "the pushed commit's files add up to more than the limit of " + e.Value + " a push may check out"
}

func checkoutFile(root *os.Root, f *object.File) error {
	if !safeTreePath(f.Name) {
		return errors.New("unsafe path in tree")
	}
	if dir := path.Dir(f.Name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	var perm fs.FileMode
	switch f.Mode {
	case filemode.Symlink:
		target, err := f.Contents()
		if err != nil {
			return err
		}
		return root.Symlink(target, f.Name)
	case filemode.Executable:
		perm = 0o755
	case filemode.Regular, filemode.Deprecated:
		perm = 0o644
	default:
		return nil
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	w, err := root.OpenFile(f.Name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// safeTreePath rejects what git's fsck rejects in tree entries and what
// would not stay inside the checkout.
func safeTreePath(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." || strings.EqualFold(part, ".git") {
			return false
		}
	}
	return true
}
