// Command static-server serves a static site: the platform compiles it into
// the image of every app the builder detects as a static site, where it
// runs as `static-server /app/public` and listens on $PORT.
//
// It serves files and, for a directory, its index.html; "/about" also finds
// about.html. Anything else, and every path with a segment starting with a
// dot, is a 404 (the site's 404.html when it has one). It does not list
// directories, compress, or run code.
//
// The builder embeds this file and compiles it with the standard library
// alone, so it must stay a single file without other imports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "static-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	dir := "."
	switch len(args) {
	case 0:
	case 1:
		dir = args[0]
	default:
		return errors.New("usage: static-server [directory]")
	}
	port := getenv("PORT")
	if port == "" {
		port = "5000"
	}
	h, err := newHandler(dir)
	if err != nil {
		return err
	}
	logger := log.New(stderr, "", 0)
	srv := &http.Server{
		Addr:              net.JoinHostPort("", port),
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          logger,
	}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		return err
	}
	logger.Printf("serving %s on port %s", dir, port)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// Types Go's mime package does not know without /etc/mime.types, which
// slim images lack.
var extraTypes = map[string]string{
	".ico":         "image/x-icon",
	".map":         "application/json",
	".md":          "text/markdown; charset=utf-8",
	".otf":         "font/otf",
	".ttf":         "font/ttf",
	".txt":         "text/plain; charset=utf-8",
	".webmanifest": "application/manifest+json",
	".woff":        "font/woff",
	".woff2":       "font/woff2",
}

type handler struct {
	root *os.Root
}

// newHandler serves dir. Files are opened through an os.Root, so a
// symbolic link cannot lead outside dir.
func newHandler(dir string) (*handler, error) {
	for ext, typ := range extraTypes {
		if mime.TypeByExtension(ext) == "" {
			if err := mime.AddExtensionType(ext, typ); err != nil {
				return nil, err
			}
		}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &handler{root: root}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	upath := r.URL.Path
	if !strings.HasPrefix(upath, "/") {
		upath = "/" + upath
	}
	name := strings.TrimPrefix(path.Clean(upath), "/")
	if name == "" {
		name = "."
	}
	if hidden(name) {
		h.notFound(w, r)
		return
	}
	f, fi, err := h.open(name)
	if err != nil {
		// Clean URLs: /about serves about.html.
		if f, fi, err = h.open(name + ".html"); err != nil || fi.IsDir() {
			if f != nil {
				f.Close()
			}
			h.notFound(w, r)
			return
		}
	}
	if fi.IsDir() {
		f.Close()
		if !strings.HasSuffix(upath, "/") {
			target := upath + "/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		if f, fi, err = h.open(path.Join(name, "index.html")); err != nil || fi.IsDir() {
			if f != nil {
				f.Close()
			}
			h.notFound(w, r)
			return
		}
	}
	defer f.Close()
	http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
}

func (h *handler) open(name string) (*os.File, fs.FileInfo, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	f, fi, err := h.open("404.html")
	if err != nil || fi.IsDir() {
		if f != nil {
			f.Close()
		}
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, f)
	}
}

// hidden reports whether a path has a segment starting with a dot
// (.git, .env, ...), which is never served.
func hidden(name string) bool {
	for _, seg := range strings.Split(name, "/") {
		if strings.HasPrefix(seg, ".") && seg != "." {
			return true
		}
	}
	return false
}
