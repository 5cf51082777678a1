// Command mkimage makes the local stack's base images with BuildKit, so that
// no public registry is needed: an image from a root file system on disk (the
// Debian base from debootstrap, the pod sandbox image), or an image from a
// Dockerfile (the language stack images). It talks to buildkitd through its Go
// client and either pushes the result to a registry or writes a Docker
// archive for `ctr images import`.
//
// The registry wants a credential: mkimage presents the one in the
// environment variable MKIMAGE_REGISTRY_CREDENTIAL (`platformd
// registry-credential` prints one) to the registries its images are named
// in, for its pushes and for the pulls of their base images (which the
// stack's BuildKit makes from the same registry). It is not a flag, so
// that no process list shows it.
//
// It belongs to the local stack's tooling, not to the product.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/util/progress/progressui"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

type options struct {
	addr       string
	rootfs     string
	contextDir string
	dockerfile string
	names      string
	push       bool
	dockerTar  string
	cmd        string
	env        string
	buildArgs  string
	ping       bool
}

func run(ctx context.Context, args []string) error {
	var o options
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "", "buildkitd address, e.g. unix:///run/buildkit/buildkitd.sock")
	fs.StringVar(&o.rootfs, "rootfs", "", "make the image from this root file system directory")
	fs.StringVar(&o.contextDir, "context", "", "make the image from this Dockerfile build context")
	fs.StringVar(&o.dockerfile, "dockerfile", "", "Dockerfile (default CONTEXT/Dockerfile)")
	fs.StringVar(&o.names, "name", "", "comma-separated image names")
	fs.BoolVar(&o.push, "push", false, "push the image to its registry (plain HTTP allowed)")
	fs.StringVar(&o.dockerTar, "docker-tar", "", "write a Docker archive here instead of pushing")
	fs.StringVar(&o.cmd, "cmd", "", "image command for --rootfs images, space separated")
	fs.StringVar(&o.env, "env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "image environment for --rootfs images, comma separated")
	fs.StringVar(&o.buildArgs, "build-arg", "", "comma-separated KEY=VALUE build arguments for --context images")
	fs.BoolVar(&o.ping, "ping", false, "only check that buildkitd answers and has a worker")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.ping {
		return ping(ctx, o.addr)
	}
	switch {
	case o.addr == "" || o.names == "":
		return errors.New("--addr and --name are required")
	case (o.rootfs == "") == (o.contextDir == ""):
		return errors.New("give exactly one of --rootfs and --context")
	case o.push == (o.dockerTar != ""):
		return errors.New("give exactly one of --push and --docker-tar")
	}

	c, err := client.New(ctx, o.addr)
	if err != nil {
		return fmt.Errorf("connecting to buildkitd: %w", err)
	}
	defer c.Close()

	export := client.ExportEntry{Attrs: map[string]string{"name": o.names}}
	if o.push {
		export.Type = client.ExporterImage
		export.Attrs["push"] = "true"
		export.Attrs["registry.insecure"] = "true"
	} else {
		export.Type = client.ExporterDocker
		export.Output = func(map[string]string) (io.WriteCloser, error) {
			return os.Create(o.dockerTar)
		}
	}
	opt := client.SolveOpt{Exports: []client.ExportEntry{export}}
	if cred := os.Getenv(credentialEnv); cred != "" {
		a, err := newRegistryAuth(o.names, cred)
		if err != nil {
			return err
		}
		opt.Session = append(opt.Session, a)
	}

	var def *llb.Definition
	if o.rootfs != "" {
		def, err = rootfsDefinition(ctx, o, &opt)
	} else {
		err = dockerfileOptions(o, &opt)
	}
	if err != nil {
		return err
	}

	ch := make(chan *client.SolveStatus)
	display, err := progressui.NewDisplay(os.Stderr, progressui.PlainMode)
	if err != nil {
		return err
	}
	eg, ctx := errgroup.WithContext(ctx)
	eg.Go(func() error {
		_, err := c.Solve(ctx, def, opt, ch)
		return err
	})
	eg.Go(func() error {
		_, err := display.UpdateFrom(ctx, ch)
		return err
	})
	if err := eg.Wait(); err != nil {
		return fmt.Errorf("building %s: %w", o.names, err)
	}
	return nil
}

// ping succeeds when buildkitd answers and has at least one worker.
func ping(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.New(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	workers, err := c.ListWorkers(ctx)
	if err != nil {
		return err
	}
	if len(workers) == 0 {
		return errors.New("buildkitd has no workers")
	}
	return nil
}

// rootfsDefinition copies a directory into an empty image.
func rootfsDefinition(ctx context.Context, o options, opt *client.SolveOpt) (*llb.Definition, error) {
	src, err := fsutil.NewFS(o.rootfs)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", o.rootfs, err)
	}
	opt.LocalMounts = map[string]fsutil.FS{"rootfs": src}
	st := llb.Scratch().File(llb.Copy(llb.Local("rootfs"), "/", "/", &llb.CopyInfo{
		CopyDirContentsOnly: true,
	}))
	var env []string
	for _, kv := range strings.Split(o.env, ",") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	cfg := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"Env": env,
			"Cmd": strings.Fields(o.cmd),
		},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	opt.Exports[0].Attrs["containerimage.config"] = string(b)
	return st.Marshal(ctx, llb.LinuxAmd64)
}

// dockerfileOptions sets up a Dockerfile frontend build.
func dockerfileOptions(o options, opt *client.SolveOpt) error {
	dockerfile := o.dockerfile
	if dockerfile == "" {
		dockerfile = filepath.Join(o.contextDir, "Dockerfile")
	}
	ctxFS, err := fsutil.NewFS(o.contextDir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", o.contextDir, err)
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(dockerfile))
	if err != nil {
		return fmt.Errorf("reading %s: %w", dockerfile, err)
	}
	opt.Frontend = "dockerfile.v0"
	opt.FrontendAttrs = map[string]string{"filename": filepath.Base(dockerfile)}
	for _, kv := range strings.Split(o.buildArgs, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			opt.FrontendAttrs["build-arg:"+k] = v
		}
	}
	opt.LocalMounts = map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS}
	return nil
}
