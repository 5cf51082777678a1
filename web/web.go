// Package web holds the dashboard: hand-written HTML, CSS and JavaScript
// modules under static/, embedded into platformd. There is no build step,
// no npm and no CDN: the files here are what the browser gets, and they
// load nothing from any other host.
//
// static/index.html is the one page; its scripts route every dashboard
// URL (/apps/NAME, /admin/tenants, ...) in the browser and fetch the
// platform's JSON API under /api/v1, with the same endpoints, roles and
// error messages as the CLI. It names its assets /assets/PATH, for
// static/PATH.
//
// It does not serve anything: package server owns the routes, the
// headers (content types, caching, the Content-Security-Policy that
// forbids inline scripts and styles) and the sessions the pages sign in
// with.
package web

import "embed"

// FS holds the dashboard's files, under static/.
//
//go:embed static
var FS embed.FS
