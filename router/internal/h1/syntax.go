package h1

import (
	"io"
	"strings"
)

// This file is what the server's request parser and the router's reading
// of backend responses share of HTTP/1.1: its syntax (tokens, header
// names, Content-Length values, Connection lists) and the rule that a
// message cut short is an error.

// CanonicalKey returns a header name in canonical form, without
// allocating for the common ones. It canonicalizes b in place. A name that
// is not a token is returned as it is, as net/textproto does.
func CanonicalKey(b []byte) string {
	upper := true
	for i, c := range b {
		if !tokenByte[c] {
			return string(b) // invalid: kept as is, as net/textproto does
		}
		switch {
		case upper && 'a' <= c && c <= 'z':
			b[i] = c - ('a' - 'A')
		case !upper && 'A' <= c && c <= 'Z':
			b[i] = c + ('a' - 'A')
		}
		upper = c == '-'
	}
	if k, ok := commonHeaders[string(b)]; ok {
		return k
	}
	return string(b)
}

// commonHeaders interns the request and response header names seen
// most, so that parsing them allocates nothing even when they do not come
// in canonical form. It is never written.
var commonHeaders = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		// Responses.
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers",
		"Access-Control-Max-Age", "Age", "Allow", "Alt-Svc", "Cache-Control", "Connection",
		"Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Security-Policy", "Content-Type", "Date",
		"Etag", "Expires", "Keep-Alive", "Last-Modified", "Link", "Location", "Pragma",
		"Proxy-Connection", "Referrer-Policy", "Retry-After", "Server", "Set-Cookie",
		"Strict-Transport-Security", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Vary", "Via",
		"Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
		"X-Request-Id", "X-Xss-Protection",
		// Requests.
		"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cookie", "Dnt",
		"Expect", "Host", "If-Match", "If-Modified-Since", "If-None-Match", "If-Range",
		"If-Unmodified-Since", "Origin", "Priority", "Proxy-Authorization", "Range", "Referer",
		"Sec-Ch-Ua", "Sec-Ch-Ua-Mobile", "Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode",
		"Sec-Fetch-Site", "Sec-Fetch-User", "Sec-Websocket-Extensions", "Sec-Websocket-Key",
		"Sec-Websocket-Protocol", "Sec-Websocket-Version", "Upgrade-Insecure-Requests",
		"User-Agent", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip",
		"X-Requested-With",
	} {
		m[k] = k
	}
	return m
}()

// isToken reports whether s is a non-empty token (RFC 9110): a method or
// a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenByte[s[i]] {
			return false
		}
	}
	return s != ""
}

// tokenByte is the set of token characters. It is never written.
var tokenByte = alnumAnd("!#$%&'*+-.^_`|~")

// alnumAnd returns the set of ASCII letters and digits and the bytes of
// extra, as a table indexed by byte.
func alnumAnd(extra string) (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte(extra, byte(c)) >= 0
	}
	return t
}

// ParseContentLength parses a Content-Length value: digits only, no sign
// or space, and few enough not to overflow. It reports false for anything
// else.
func ParseContentLength[T string | []byte](b T) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// ConnectionListed reports whether the Connection header values conn
// name k (a header, or an option such as "close"), case-insensitively:
// a header so named is hop-by-hop.
func ConnectionListed(conn []string, k string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// NoEOF returns err, but io.ErrUnexpectedEOF for io.EOF: for a read that
// the message's framing says must go on, the end of the stream is an
// error.
func NoEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
