// Package migrations owns the platform's PostgreSQL schema: the numbered
// golang-migrate SQL files (NNNN_name.up.sql and NNNN_name.down.sql),
// embedded into the binary.
//
// It does not run them and holds no SQL used at run time: the data package
// (server/store) applies these files with golang-migrate and owns every
// query against the tables they create. A schema change is a new pair of
// files with the next number; a released file is never edited.
package migrations

import "embed"

// FS holds every migration file of the schema, at its root.
//
//go:embed *.sql
var FS embed.FS
