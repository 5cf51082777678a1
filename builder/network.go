package builder

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Network is the outbound network a platform's builds go through, as an
// operator sets it up: certificate authorities to trust besides the build
// images' own (a TLS-inspecting proxy's, a private mirror's), a proxy, and
// package mirrors. Every field is optional.
//
// Build steps of the language stacks get all of it: the proxy and mirrors
// as environment variables (HTTP_PROXY, HTTPS_PROXY, NO_PROXY and their
// lower-case forms, GOPROXY, GONOSUMDB, GOPRIVATE, NPM_CONFIG_REGISTRY,
// PIP_INDEX_URL), and the CAs added to the image's bundle, which
// SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, PIP_CERT, REQUESTS_CA_BUNDLE,
// CURL_CA_BUNDLE and GIT_SSL_CAINFO name. An app's own config var of the
// same name wins over the operator's value for that app. None of it is in
// a layer, the image config or its history: the values come from BuildKit
// secrets, and the combined bundle is written to a tmpfs.
//
// A Dockerfile build gets the proxy as BuildKit's predefined build args
// (HTTP_PROXY, ... which stay out of the image history), and can mount the
// rest as secrets: `--mount=type=secret,id=ca-certificates,target=...` for
// the CAs (PEM) and `--mount=type=secret,id=GOPROXY,env=GOPROXY` (likewise
// for each variable above) for the mirrors.
type Network struct {
	// CACerts holds PEM certificates of the extra authorities.
	CACerts []byte
	// HTTPProxy, HTTPSProxy and NoProxy are the proxy set-up, as curl and
	// Go read HTTP_PROXY, HTTPS_PROXY and NO_PROXY.
	HTTPProxy  string
	HTTPSProxy string
	NoProxy    string
	// GoProxy, GoNoSumDB and GoPrivate are Go's module settings.
	GoProxy   string
	GoNoSumDB string
	GoPrivate string
	// NPMRegistry is the npm registry (or mirror) URL.
	NPMRegistry string
	// PipIndexURL is the Python package index (PEP 503 "simple") URL.
	PipIndexURL string
}

// Secret ids of a build's network set-up.
const (
	networkSecretID   = "platform-network"
	networkSecretPath = "/run/secrets/" + networkSecretID
	caSecretID        = "ca-certificates"
	caSecretPath      = "/run/secrets/" + caSecretID
	// caBundleDir is a tmpfs in every RUN of a generated build stage, where
	// the image's CA bundle and the operator's CAs are put together.
	caBundleDir  = "/run/platform-tls"
	caBundlePath = caBundleDir + "/ca-certificates.crt"
)

var noProxyRE = regexp.MustCompile(`^[A-Za-z0-9.*:/\[\],_-]*$`)

// Validate reports what is wrong with n: CA files that hold anything but
// certificates, proxy or mirror URLs that are not http(s) URLs, values a
// shell would mangle.
func (n Network) Validate() error {
	var errs []error
	if len(n.CACerts) > 0 {
		if _, err := parseCerts(n.CACerts); err != nil {
			errs = append(errs, fmt.Errorf("build CA certificates: %w", err))
		}
	}
	for _, u := range []struct{ name, v string }{
		{"HTTP proxy", n.HTTPProxy}, {"HTTPS proxy", n.HTTPSProxy},
		{"npm registry", n.NPMRegistry}, {"pip index URL", n.PipIndexURL},
	} {
		if u.v == "" {
			continue
		}
		p, err := url.Parse(u.v)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("build %s: want an http:// or https:// URL", u.name))
		}
	}
	if !noProxyRE.MatchString(n.NoProxy) {
		errs = append(errs, errors.New("build no-proxy list: want comma-separated host names, domains, addresses or CIDRs"))
	}
	for _, v := range []struct{ name, v string }{{"GOPROXY", n.GoProxy}, {"GONOSUMDB", n.GoNoSumDB}, {"GOPRIVATE", n.GoPrivate}} {
		if strings.ContainsAny(v.v, " \t\n'\"\\$`") {
			errs = append(errs, fmt.Errorf("build %s: must not hold spaces, quotes or shell characters", v.name))
		}
	}
	return errors.Join(errs...)
}

// parseCerts checks that pemData holds at least one certificate and
// nothing but certificates.
func parseCerts(pemData []byte) (int, error) {
	n := 0
	rest := pemData
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return 0, fmt.Errorf("PEM block %d is a %q, not a CERTIFICATE", n+1, b.Type)
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return 0, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		n++
	}
	if n == 0 {
		return 0, errors.New("no PEM certificate found")
	}
	return n, nil
}

// env returns the environment variables of n, by name.
func (n Network) env() map[string]string {
	env := map[string]string{}
	set := func(v string, names ...string) {
		if v == "" {
			return
		}
		for _, name := range names {
			env[name] = v
		}
	}
	set(n.HTTPProxy, "HTTP_PROXY", "http_proxy")
	set(n.HTTPSProxy, "HTTPS_PROXY", "https_proxy")
	set(n.NoProxy, "NO_PROXY", "no_proxy")
	set(n.GoProxy, "GOPROXY")
	set(n.GoNoSumDB, "GONOSUMDB")
	set(n.GoPrivate, "GOPRIVATE")
	set(n.NPMRegistry, "NPM_CONFIG_REGISTRY")
	set(n.PipIndexURL, "PIP_INDEX_URL")
	// pip refuses an index over plain HTTP unless its host is trusted.
	if u, err := url.Parse(n.PipIndexURL); err == nil && u.Scheme == "http" {
		env["PIP_TRUSTED_HOST"] = u.Hostname()
	}
	return env
}

// proxyArgs are the proxy variables BuildKit passes to a Dockerfile build
// as predefined build args, which no image history records.
func (n Network) proxyArgs() map[string]string {
	args := map[string]string{}
	for k, v := range n.env() {
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY":
			args[k] = v
		}
	}
	return args
}

// secrets returns the build secrets of n: the env file the generated build
// stages source, the CA certificates, and one secret per variable.
func (n Network) secrets() map[string][]byte {
	env := n.env()
	s := map[string][]byte{}
	if len(env) > 0 {
		names := make([]string, 0, len(env))
		for k := range env {
			names = append(names, k)
		}
		sort.Strings(names)
		var file strings.Builder
		for _, k := range names {
			fmt.Fprintf(&file, "%s=%s\n", k, shellQuote(env[k]))
			s[k] = []byte(env[k])
		}
		s[networkSecretID] = []byte(file.String())
	}
	if len(n.CACerts) > 0 {
		s[caSecretID] = n.CACerts
	}
	return s
}

// secretValues are the values of n to mask in build output: the passwords
// of proxy URLs.
func (n Network) secretValues() []string {
	var vals []string
	for _, v := range []string{n.HTTPProxy, n.HTTPSProxy, n.NPMRegistry, n.PipIndexURL, n.GoProxy} {
		for _, part := range strings.Split(v, ",") {
			if u, err := url.Parse(part); err == nil && u.User != nil {
				if p, ok := u.User.Password(); ok {
					vals = append(vals, p)
				}
			}
		}
	}
	return vals
}
