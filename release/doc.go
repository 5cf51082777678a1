// Package release is the core of the platform: it takes a pushed commit
// through build and release, and makes and rolls out every numbered
// release of an app.
//
// It owns the push pipeline (Pipeline: who may push, the build through the
// builder, its log kept as it is written), the release operations
// (Releases: a release of a build, of a config change, a rollback, applying
// the running release again, and reconciling apps after a restart, each
// recorded in the store and rolled out by the deployer, the old release
// left serving when a rollout fails), and the app's deploy lock that
// serialises all of them (LockApp, a lease in Postgres).
//
// It does not own how work reaches it: the git receiver's adapter in
// cmd/platformd calls the pipeline, and the HTTP API and the dashboard
// (package server) call the release operations, under the deploy lock they
// take with LockApp. It speaks no HTTP, never imports package server, and
// takes and returns the store's own types, never pgx types.
package release
