package gitreceive

import (
	"fmt"
	"regexp"
	"strings"
)

// refusal is an error whose text is meant for the SSH client.
type refusal string

func (r refusal) Error() string { return string(r) }

// Messages for refused sessions. They are shown on the client's terminal.
const (
	msgShell      = "shell access is not available: use git push or git clone"
	msgPty        = "interactive terminals are not available: use git push or git clone"
	msgCommand    = "command not allowed: only git push, fetch and clone are available"
	msgExtraArgs  = "unexpected arguments: expected a single repository like 'myapp.git'"
	msgBadPath    = "invalid repository path: expected 'myapp.git'"
	msgNoAccess   = "no such app, or no access"
	msgInternal   = "internal error, try again later"
	msgShutdown   = "server is shutting down, try again later"
	msgRestarted  = "the platform restarted before this push was released (an upgrade, or its pod moved); nothing changed and the running release still serves: push again"
	msgAuthFailed = "authentication failed"
)

// gitCommand is an allowed command, parsed.
type gitCommand struct {
	op  Op     // Write for git-receive-pack, Read for git-upload-pack
	app string // a valid app name
}

var services = map[string]Op{
	"git-receive-pack": Write,
	"git-upload-pack":  Read,
}

// appName is a lower-case DNS label of 1 to 30 characters that starts with
// a letter, so "<app>-<process type>" stays a valid Kubernetes name.
var appName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,28}[a-z0-9])?$`)

// validAppName reports whether name is acceptable as an app name.
func validAppName(name string) bool { return appName.MatchString(name) }

// parseCommand parses an SSH exec command as git sends it:
//
//	git-receive-pack 'myapp.git'
//	git-upload-pack '/myapp.git'
//
// The path may be unquoted, may have one leading slash, and may omit
// ".git". Anything else is refused with a message for the user.
func parseCommand(raw string) (gitCommand, error) {
	if strings.TrimSpace(raw) == "" {
		return gitCommand{}, refusal(msgShell)
	}
	verb, arg, _ := strings.Cut(raw, " ")
	op, ok := services[verb]
	if !ok {
		return gitCommand{}, refusal(msgCommand)
	}
	path, err := parseArg(arg)
	if err != nil {
		return gitCommand{}, err
	}
	path = strings.TrimPrefix(path, "/")
	name := strings.TrimSuffix(path, ".git")
	if name == "" || strings.ContainsAny(name, "/\\") || strings.Contains(name, "..") {
		return gitCommand{}, refusal(msgBadPath)
	}
	if !validAppName(name) {
		return gitCommand{}, refusal(fmt.Sprintf("invalid app name %q: use 1 to 30 lower-case letters, digits and dashes, starting with a letter", name))
	}
	return gitCommand{op: op, app: name}, nil
}

// parseArg returns the single argument of a git command: a single-quoted
// string without quotes inside (git quotes paths so) or a bare word.
func parseArg(arg string) (string, error) {
	if arg == "" {
		return "", refusal(msgBadPath)
	}
	if strings.HasPrefix(arg, "'") {
		inner, rest, closed := strings.Cut(arg[1:], "'")
		if !closed {
			return "", refusal(msgBadPath)
		}
		if rest != "" {
			return "", refusal(msgExtraArgs)
		}
		if strings.ContainsAny(inner, "\\\"") {
			return "", refusal(msgBadPath)
		}
		return inner, nil
	}
	if strings.ContainsAny(arg, " \t\n") {
		return "", refusal(msgExtraArgs)
	}
	if strings.ContainsAny(arg, "'\"\\$`;&|<>*?") {
		return "", refusal(msgBadPath)
	}
	return arg, nil
}
