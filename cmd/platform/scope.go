package main

import (
	"context"

	"github.com/platform-paas/platform/server/api"
)

// appClient returns the app a command acts on (see appName) and a client
// for the API.
func (c *cli) appClient(ctx context.Context, appFlag string) (string, *api.Client, error) {
	app, err := c.appName(ctx, appFlag)
	if err != nil {
		return "", nil, err
	}
	cl, err := c.client()
	if err != nil {
		return "", nil, err
	}
	return app, cl, nil
}

// firstN calls list for pages of up to n items, in order, until it has n
// or the list ends, and returns them; n < 1 means all.
func firstN[T any](ctx context.Context, n int, list func(context.Context, api.ListOptions) (api.Page[T], error)) ([]T, error) {
	if n < 1 {
		return api.All(ctx, list)
	}
	var items []T
	opts := api.ListOptions{Limit: min(n, api.MaxLimit)}
	for {
		p, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		items = append(items, p.Items...)
		if len(items) >= n {
			return items[:n], nil
		}
		if p.NextAfter == "" || len(p.Items) == 0 {
			return items, nil
		}
		opts.After = p.NextAfter
		opts.Limit = min(n-len(items), api.MaxLimit)
	}
}
