package builder

import "strings"

// A failed step's output is matched against what package managers and Go
// print when the network, not the app, is at fault; the first kind found
// names the likely cause and the setting to look at.
var networkHints = []struct {
	patterns []string // lower case
	hint     string
}{
	{
		patterns: []string{
			"certificate signed by unknown authority", "self_signed_cert_in_chain",
			"self-signed certificate in certificate chain", "unable_to_get_issuer_cert_locally",
			"unable to get local issuer certificate", "certificate_verify_failed",
			"certificate verify failed", "unable_to_verify_leaf_signature", "ssl certificate problem",
			"x509: certificate",
		},
		hint: "a download failed TLS verification: the server's certificate is signed by an authority the build does not trust. " +
			"Where outbound TLS goes through an inspecting proxy or a private mirror, the platform's operator adds that CA with " +
			"--build-ca-file (PLATFORM_BUILD_CA_FILE).",
	},
	{
		patterns: []string{
			"proxyconnect", "tunneling socket could not be established", "cannot connect to proxy",
			"proxyerror", "proxy error", "unable to connect to proxy",
		},
		hint: "the build could not go through its HTTP proxy. " +
			"Check the platform's --build-http-proxy, --build-https-proxy and --build-no-proxy settings (PLATFORM_BUILD_*_PROXY).",
	},
	{
		patterns: []string{
			"no such host", "enotfound", "eai_again", "temporary failure in name resolution",
			"could not resolve host", "name or service not known", "failed to resolve", "getaddrinfo",
		},
		hint: "a host name did not resolve. Check the name, and the platform's proxy and mirror settings " +
			"(--build-https-proxy, --build-goproxy, --build-npm-registry, --build-pip-index-url) or the app's own " +
			"GOPROXY, NPM_CONFIG_REGISTRY or PIP_INDEX_URL config vars.",
	},
	{
		patterns: []string{
			"connection refused", "econnrefused", "i/o timeout", "etimedout", "network is unreachable",
			"enetunreach", "connection reset", "econnreset", "connect timeout", "failed to establish a new connection",
		},
		hint: "a connection failed (refused, reset or timed out). Where builds reach the internet through a proxy or a " +
			"mirror, check the platform's --build-https-proxy, --build-no-proxy, --build-goproxy, --build-npm-registry and " +
			"--build-pip-index-url settings, or the app's own mirror config vars.",
	},
}

// networkHint returns the likely network cause of a failed step from its
// output, or "" when nothing points at the network.
func networkHint(lines ...string) string {
	text := strings.ToLower(strings.Join(lines, "\n"))
	for _, h := range networkHints {
		for _, p := range h.patterns {
			if strings.Contains(text, p) {
				return "The build could not use the network: " + h.hint
			}
		}
	}
	return ""
}
