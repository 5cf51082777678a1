package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeParts records what appRemover asked of each part, and fails those
// named in fail.
type fakeParts struct {
	calls []string
	fail  map[string]bool
}

func (f *fakeParts) step(name string) error {
	f.calls = append(f.calls, name)
	if f.fail[name] {
		return errors.New(name + " broke")
	}
	return nil
}

func (f *fakeParts) DeleteApp(_ context.Context, tenant, app string) error {
	return f.step("kube " + tenant + "/" + app)
}

func (f *fakeParts) DeleteTenant(_ context.Context, tenant string) error {
	return f.step("kube " + tenant)
}

func (f *fakeParts) DeleteCache(_ context.Context, tenant, app string) error {
	return f.step("cache " + tenant + "/" + app)
}

func (f *fakeParts) DeleteRepository(name string) error { return f.step("registry " + name) }

func TestAppRemover(t *testing.T) {
	repos := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(repos, "shop.git", "objects"), 0o700))
	require.NoError(t, os.MkdirAll(filepath.Join(repos, "shopping.git"), 0o700))

	f := &fakeParts{fail: map[string]bool{"cache acme/shop": true}}
	r := appRemover{dep: f, bld: f, reg: f, reposDir: repos}
	err := r.RemoveApp(context.Background(), "acme", "shop")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deleting its build cache: cache acme/shop broke")
	assert.Equal(t, []string{"kube acme/shop", "cache acme/shop", "registry acme/shop"}, f.calls, "every step is tried")
	assert.NoDirExists(t, filepath.Join(repos, "shop.git"))
	assert.DirExists(t, filepath.Join(repos, "shopping.git"))

	f.fail = nil
	assert.NoError(t, r.RemoveApp(context.Background(), "acme", "shop"), "again, with nothing left")

	r.reg = nil
	f.calls = nil
	assert.NoError(t, r.RemoveApp(context.Background(), "acme", "shop"))
	assert.Equal(t, []string{"kube acme/shop", "cache acme/shop"}, f.calls, "no embedded registry")

	assert.Error(t, r.RemoveApp(context.Background(), "acme", "../repos"), "an invalid app name")
}

func TestAppRemoverRemovesTenant(t *testing.T) {
	f := &fakeParts{}
	r := appRemover{dep: f, bld: f, reg: f, reposDir: t.TempDir()}
	require.NoError(t, r.RemoveTenant(context.Background(), "acme"))
	assert.Equal(t, []string{"kube acme"}, f.calls)

	f.fail = map[string]bool{"kube acme": true}
	err := r.RemoveTenant(context.Background(), "acme")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deleting the namespace of tenant acme: kube acme broke")
}
