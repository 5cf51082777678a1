package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/platform-paas/platform/gitreceive"
	"github.com/platform-paas/platform/release"
	"github.com/platform-paas/platform/server/store"
)

// gitAuth adapts the pipeline's key lookup to the git receiver: the key
// of no one, and that of a deactivated user, is refused as unknown.
type gitAuth struct{ p *release.Pipeline }

func (a gitAuth) UserForKey(ctx context.Context, authorizedKey, fingerprint string) (string, error) {
	u, err := a.p.UserForKey(ctx, authorizedKey, fingerprint)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", gitreceive.ErrUnknownKey
	case errors.Is(err, store.ErrDeactivated):
		return "", fmt.Errorf("%w: %w", gitreceive.ErrUnknownKey, err)
	}
	return u, err
}

// gitPusher adapts the pipeline to the git receiver: it checks the pushed
// commit out into a scratch directory, which the pipeline builds from.
type gitPusher struct {
	p      *release.Pipeline
	limits gitreceive.CheckoutLimits
	log    *slog.Logger
}

func (g gitPusher) Authorize(ctx context.Context, user, app string, op gitreceive.Op) error {
	err := g.p.Authorize(ctx, user, app, op == gitreceive.Write)
	if r, ok := errors.AsType[*release.RoleError](err); ok {
		return &gitreceive.Refusal{Message: r.Message}
	}
	return err
}

func (g gitPusher) Push(ctx context.Context, req gitreceive.PushRequest, out io.Writer) error {
	verbose, err := pushOptions(req.Options)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "push-"+req.App+"-")
	if err != nil {
		return fmt.Errorf("preparing the checkout: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			g.log.Warn("removing checkout", "app", req.App, "err", err)
		}
	}()
	if err := gitreceive.Checkout(req.RepoDir, req.NewRev, dir, g.limits); err != nil {
		var le *gitreceive.CheckoutLimitError
		if errors.As(err, &le) {
			g.log.Info("push past a checkout limit", "app", req.App, "commit", req.NewRev, "err", err)
			return fmt.Errorf("%w; make the commit smaller (ignore build output and data with .gitignore), or ask the platform's operator to raise the limit", le)
		}
		g.log.Error("checking out push", "app", req.App, "commit", req.NewRev, "err", err)
		return errors.New("could not check out the pushed commit")
	}
	return g.p.Deploy(ctx, release.DeployInput{
		UserID: req.User, App: req.App, SourceDir: dir, Commit: req.NewRev, Verbose: verbose,
	}, out)
}

// pushOptions reads the options of `git push -o`: "verbose" shows the
// build's whole output. Any other is refused, before anything is built.
func pushOptions(options []string) (verbose bool, err error) {
	for _, o := range options {
		switch o {
		case "verbose":
			verbose = true
		default:
			return false, fmt.Errorf("unknown push option %q: the platform takes -o verbose (the build's whole output); push again without it", o)
		}
	}
	return verbose, nil
}

// appURL is where an app answers: its default host, on the router's port
// when the router runs in-process on a non-standard one.
func appURL(cfg config, app string) string {
	host := app + "." + cfg.Deploy.AppsDomain
	if cfg.Router.Addr != "" {
		if _, port, err := net.SplitHostPort(cfg.Router.Addr); err == nil && port != "80" {
			return fmt.Sprintf("http://%s:%s (router at %s)", host, port, cfg.Router.Addr)
		}
	}
	return "http://" + host
}
