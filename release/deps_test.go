package release

import (
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	module = "github.com/platform-paas/platform"
	self   = module + "/release"
	pgx    = "github.com/jackc/pgx"
)

// goList runs go list with args on the release package, test files
// excluded, and returns its output's fields.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	args = append(append([]string{"list"}, args...), self)
	out, err := exec.Command("go", args...).CombinedOutput()
	require.NoError(t, err, "go %s: %s", strings.Join(args, " "), out)
	return strings.Fields(string(out))
}

func hasPrefix(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// TestSpeaksNoHTTP keeps the core apart from the HTTP edge (see the
// package doc): release imports neither net/http nor pgx itself, and
// nothing it links is chi, package server or the API's wire types. (The
// builder's and the deployer's clients link net/http; that is theirs.)
func TestSpeaksNoHTTP(t *testing.T) {
	for _, p := range goList(t, "-f", `{{join .Imports "\n"}}`) {
		assert.False(t, hasPrefix(p, "net/http"), "release imports %s", p)
		assert.False(t, hasPrefix(p, pgx), "release imports %s: SQL belongs in the store", p)
	}
	for _, p := range goList(t, "-deps") {
		for _, banned := range []string{"github.com/go-chi/chi", module + "/server/api"} {
			assert.False(t, hasPrefix(p, banned), "release depends on %s", p)
		}
		assert.NotEqual(t, module+"/server", p, "release depends on package server")
	}
}

// TestNoPgxTypesInAPI walks every type that release's exported
// declarations mention (parameters, results, fields, methods, and the
// package's own types behind them) and finds no pgx type among them.
func TestNoPgxTypesInAPI(t *testing.T) {
	exports := map[string]string{}
	for _, line := range goList(t, "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}") {
		if path, file, ok := strings.Cut(line, "="); ok && file != "" {
			exports[path] = file
		}
	}
	imp := importer.ForCompiler(token.NewFileSet(), "gc", func(path string) (io.ReadCloser, error) {
		return os.Open(exports[path])
	})
	pkg, err := imp.Import(self)
	require.NoError(t, err)

	w := apiWalker{seen: map[types.Type]bool{}, named: map[string]bool{}}
	for _, name := range pkg.Scope().Names() {
		if obj := pkg.Scope().Lookup(name); obj.Exported() {
			w.walk(obj.Type(), name)
		}
	}
	assert.Empty(t, w.pgx, "pgx types in release's API")
	// Keep the walk honest: it must reach the store's types.
	assert.True(t, w.named[module+"/server/store.App"], "the walk did not reach store.App: %v", w.named)
}

// apiWalker collects the named types reachable from release's API.
type apiWalker struct {
	seen  map[types.Type]bool
	named map[string]bool // "path.Name"
	pgx   []string        // "path.Name in where"
}

func (w *apiWalker) walk(t types.Type, where string) {
	if t == nil || w.seen[t] {
		return
	}
	w.seen[t] = true
	switch t := t.(type) {
	case *types.Alias:
		w.walk(types.Unalias(t), where)
	case *types.Named:
		obj := t.Obj()
		if obj.Pkg() == nil { // error, comparable
			return
		}
		path := obj.Pkg().Path()
		w.named[path+"."+obj.Name()] = true
		if hasPrefix(path, pgx) {
			w.pgx = append(w.pgx, path+"."+obj.Name()+" in "+where)
		}
		for i := range t.TypeArgs().Len() {
			w.walk(t.TypeArgs().At(i), where)
		}
		// Another package's types are that package's API; release's own,
		// exported or not, are what its API hands over.
		if path != self {
			return
		}
		w.walk(t.Underlying(), obj.Name())
		for _, typ := range []types.Type{t, types.NewPointer(t)} {
			ms := types.NewMethodSet(typ)
			for i := range ms.Len() {
				if m := ms.At(i).Obj(); m.Exported() {
					w.walk(m.Type(), obj.Name()+"."+m.Name())
				}
			}
		}
	case *types.Pointer:
		w.walk(t.Elem(), where)
	case *types.Slice:
		w.walk(t.Elem(), where)
	case *types.Array:
		w.walk(t.Elem(), where)
	case *types.Chan:
		w.walk(t.Elem(), where)
	case *types.Map:
		w.walk(t.Key(), where)
		w.walk(t.Elem(), where)
	case *types.Signature:
		for _, tuple := range []*types.Tuple{t.Params(), t.Results()} {
			for i := range tuple.Len() {
				w.walk(tuple.At(i).Type(), where)
			}
		}
	case *types.Struct:
		for i := range t.NumFields() {
			if f := t.Field(i); f.Exported() {
				w.walk(f.Type(), where+"."+f.Name())
			}
		}
	case *types.Interface:
		for i := range t.NumMethods() {
			w.walk(t.Method(i).Type(), where+"."+t.Method(i).Name())
		}
	}
}
