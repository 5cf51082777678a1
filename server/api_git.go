package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/platform-paas/platform/server/api"
)

// gitHostKeys describes the git receiver's host keys (authorized_keys
// form) for the users who will connect to it at gitURL: each key's
// fingerprint, and the line that ~/.ssh/known_hosts needs to trust it.
func gitHostKeys(gitURL string, keys []string) ([]api.GitHostKey, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	if gitURL == "" {
		return nil, errors.New("git host keys are given without a git URL")
	}
	u, err := url.Parse(gitURL)
	if err != nil {
		return nil, fmt.Errorf("git url %q: %w", gitURL, err)
	}
	// ssh writes a host on a port other than 22 as [host]:port.
	host := u.Hostname()
	if p := u.Port(); p != "" && p != "22" {
		host = net.JoinHostPort(host, p)
	}
	out := make([]api.GitHostKey, 0, len(keys))
	for _, k := range keys {
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k))
		if err != nil {
			return nil, fmt.Errorf("git host key %.40q: %w", k, err)
		}
		out = append(out, api.GitHostKey{
			Type:        pub.Type(),
			Fingerprint: ssh.FingerprintSHA256(pub),
			KnownHosts:  knownhosts.Line([]string{host}, pub),
		})
	}
	return out, nil
}

// getGit tells where apps' repositories are and how to trust the git
// server's host key: GET /git. Any signed-in user.
func (s *Server) getGit(w http.ResponseWriter, r *http.Request) error {
	if s.gitURL == "" {
		return &apiError{Status: http.StatusNotImplemented, Code: api.CodeNotImplemented, Message: "this platform has no git receiver"}
	}
	out := api.Git{URL: s.gitURL, HostKeys: s.gitHostKeys}
	if out.HostKeys == nil {
		out.HostKeys = []api.GitHostKey{}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
