// Package gitreceive is the platform's git remote: an SSH server that accepts
// `git push` and `git clone`/`git fetch` for apps, keeps one bare repository
// per app on disk, and hands each pushed revision of a deployable branch to a
// Pusher while streaming its output back to the pushing terminal.
//
// It owns the SSH listener and host key, public-key authentication (resolving
// the user from the key the client proved it holds), the allow-list of git
// commands, the git wire protocol (receive-pack and upload-pack, protocol v0
// with side-band-64k and report-status) and the repositories under
// Config.ReposDir.
//
// It does not own users, keys, apps or access rules, nor building and
// deploying: it declares the small interfaces it needs (Authenticator,
// Pusher) and cmd/platformd hands it implementations. It imports nothing
// else of the platform's.
package gitreceive
