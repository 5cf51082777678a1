package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/platform-paas/platform/server"
	"github.com/platform-paas/platform/server/store"
)

// appDeleter is the part of the deployer that removes what an app, or a
// whole tenant, runs.
type appDeleter interface {
	DeleteApp(ctx context.Context, tenant, app string) error
	DeleteTenant(ctx context.Context, tenant string) error
}

// cacheDeleter is the part of the builder that drops an app's build cache.
type cacheDeleter interface {
	DeleteCache(ctx context.Context, tenant, app string) error
}

// repoDeleter is the part of the embedded registry that removes an app's
// images.
type repoDeleter interface {
	DeleteRepository(name string) error
}

// appRemover removes everything a destroyed app, or a deleted tenant, has
// outside the store.
type appRemover struct {
	dep      appDeleter
	bld      cacheDeleter
	reg      repoDeleter // nil without the embedded registry: an external one keeps the images
	reposDir string      // where the git receiver keeps <app>.git
}

var _ server.AppRemover = appRemover{}

// RemoveApp removes, in order, what the app runs in Kubernetes, its build
// cache, its repository in the embedded registry and its bare git
// repository. Every step is tried even if an earlier one failed; the error
// joins those that failed.
func (r appRemover) RemoveApp(ctx context.Context, tenant, app string) error {
	if err := store.ValidateAppName(app); err != nil {
		return fmt.Errorf("removing app %q: %w", app, err)
	}
	var errs []error
	if err := r.dep.DeleteApp(ctx, tenant, app); err != nil {
		errs = append(errs, fmt.Errorf("deleting what it runs in Kubernetes: %w", err))
	}
	if err := r.bld.DeleteCache(ctx, tenant, app); err != nil {
		errs = append(errs, fmt.Errorf("deleting its build cache: %w", err))
	}
	if r.reg != nil {
		if err := r.reg.DeleteRepository(tenant + "/" + app); err != nil {
			errs = append(errs, fmt.Errorf("deleting its images: %w", err))
		}
	}
	if err := os.RemoveAll(filepath.Join(r.reposDir, app+".git")); err != nil {
		errs = append(errs, fmt.Errorf("deleting its git repository: %w", err))
	}
	return errors.Join(errs...)
}

// RemoveTenant deletes the tenant's namespace, once its apps are removed.
// It does not wait for the namespace to be gone.
func (r appRemover) RemoveTenant(ctx context.Context, tenant string) error {
	if err := r.dep.DeleteTenant(ctx, tenant); err != nil {
		return fmt.Errorf("deleting the namespace of tenant %s: %w", tenant, err)
	}
	return nil
}
