package router

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"

	"github.com/platform-paas/platform/router/internal/h1"
)

// respHead is what the router needs of a backend's response head; the
// headers themselves go straight into the client's header map.
type respHead struct {
	status        int
	http11        bool
	contentLength int64 // -1: not given
	chunked       bool
	close         bool   // Connection: close
	keepAlive     bool   // Connection: keep-alive, for HTTP/1.0
	upgrade       string // Upgrade, for a 101
}

// reusable reports whether the connection may carry another request once
// the body is read: keep-alive by HTTP/1.1's default or HTTP/1.0's
// explicit header.
func (h respHead) reusable() bool {
	if h.http11 {
		return !h.close
	}
	return h.keepAlive && !h.close && (h.chunked || h.contentLength >= 0)
}

// hdrEntry is one response header while its head is read: the key and
// where its value is in bconn.vals.
type hdrEntry struct {
	key      string
	from, to int
}

var (
	errBadStatusLine        = errors.New("malformed status line")
	errBadHeader            = errors.New("malformed header line")
	errResponseHeadTooLarge = errors.New("response head too large")
)

// readResponseHead reads a backend's response head from bc into h,
// skipping interim (1xx) responses other than 101. It says failNoResponse
// when not a byte came, failBadHead for anything else that went wrong.
func readResponseHead(bc *bconn, h http.Header) (respHead, failure, error) {
	for first := true; ; first = false {
		head, err := readOneResponseHead(bc, h, first)
		if err != nil {
			if first && errors.Is(err, errNothingRead) {
				return head, failNoResponse, err
			}
			return head, failBadHead, err
		}
		if head.status >= 200 || head.status == http.StatusSwitchingProtocols {
			return head, failNone, nil
		}
		clear(h)
	}
}

var errNothingRead = errors.New("backend closed the connection without answering")

func readOneResponseHead(bc *bconn, h http.Header, first bool) (respHead, error) {
	head := respHead{contentLength: -1}
	size := 0
	line, err := bc.readLine()
	if err != nil {
		if first && len(line) == 0 {
			return head, fmt.Errorf("%w: %w", errNothingRead, err)
		}
		return head, fmt.Errorf("reading status line: %w", err)
	}
	size += len(line)
	// HTTP/1.x NNN[ reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return head, errBadStatusLine
	}
	switch line[7] {
	case '1':
		head.http11 = true
	case '0':
	default:
		return head, errBadStatusLine
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return head, errBadStatusLine
		}
		head.status = head.status*10 + int(c-'0')
	}
	if head.status < 100 {
		return head, errBadStatusLine
	}

	bc.hdrs = bc.hdrs[:0]
	bc.vals = bc.vals[:0]
	var drop []string // headers named in Connection
	clIndex := -1
	for {
		line, err := bc.readLine()
		if err != nil {
			return head, fmt.Errorf("reading headers: %w", err)
		}
		if len(line) == 0 {
			break
		}
		if size += len(line); size > maxResponseHeaderBytes {
			return head, errResponseHeadTooLarge
		}
		i := bytes.IndexByte(line, ':')
		// No name, whitespace before the colon, or a folded line: all
		// invalid since RFC 7230, and a smuggling risk.
		if i <= 0 || bytes.ContainsAny(line[:i], " \t") {
			return head, errBadHeader
		}
		key := h1.CanonicalKey(line[:i])
		val := bytes.Trim(line[i+1:], " \t")
		switch key {
		case "Content-Length":
			n, ok := h1.ParseContentLength(val)
			if !ok || (head.contentLength >= 0 && n != head.contentLength) {
				return head, errBadHeader
			}
			if head.contentLength < 0 {
				head.contentLength = n
				clIndex = len(bc.hdrs)
				bc.addHeader(key, val)
			}
		case "Transfer-Encoding":
			if !bytes.EqualFold(val, []byte("chunked")) || head.chunked {
				return head, fmt.Errorf("unsupported transfer encoding %q", val)
			}
			head.chunked = true
		case "Connection":
			for rest := val; len(rest) > 0; {
				var tok []byte
				tok, rest, _ = bytes.Cut(rest, []byte(","))
				tok = bytes.Trim(tok, " \t")
				switch {
				case bytes.EqualFold(tok, []byte("close")):
					head.close = true
				case bytes.EqualFold(tok, []byte("keep-alive")):
					head.keepAlive = true
				case bytes.EqualFold(tok, []byte("upgrade")), len(tok) == 0:
				default:
					drop = append(drop, textproto.CanonicalMIMEHeaderKey(string(tok)))
				}
			}
		case "Upgrade":
			head.upgrade = string(val)
		case "Keep-Alive", "Proxy-Connection", "Te", "Trailer":
		default:
			bc.addHeader(key, val)
		}
	}
	if head.chunked && clIndex >= 0 {
		// Both framings: Transfer-Encoding wins and the length goes.
		bc.hdrs = append(bc.hdrs[:clIndex], bc.hdrs[clIndex+1:]...)
		head.contentLength = -1
	}
	bc.storeHeaders(h)
	for _, k := range drop {
		delete(h, k)
	}
	return head, nil
}

// readLine reads one line of a head without its CRLF. It returns a slice
// of the connection's buffer, valid until the next read, except for a line
// longer than the buffer.
func (bc *bconn) readLine() ([]byte, error) {
	line, err := bc.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			if len(long) > maxResponseHeaderBytes {
				return long, errResponseHeadTooLarge
			}
			line, err = bc.br.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if err != nil {
		return line, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (bc *bconn) addHeader(key string, val []byte) {
	from := len(bc.vals)
	bc.vals = append(bc.vals, val...)
	bc.hdrs = append(bc.hdrs, hdrEntry{key: key, from: from, to: len(bc.vals)})
}

// storeHeaders puts the head's headers in h with two allocations for all
// values: one string and one slice.
func (bc *bconn) storeHeaders(h http.Header) {
	if len(bc.hdrs) == 0 {
		return
	}
	all := string(bc.vals)
	vals := make([]string, len(bc.hdrs))
	for i, e := range bc.hdrs {
		vals[i] = all[e.from:e.to]
		if old, ok := h[e.key]; ok {
			h[e.key] = append(old, vals[i])
		} else {
			h[e.key] = vals[i : i+1 : i+1]
		}
	}
}

// forwardRequestHeader reports whether a client's header goes on to the
// app; trusted says the client is a trusted proxy. Left behind are:
//   - the hop-by-hop headers, and Expect (the router's own server answers
//     100-continue);
//   - those the router writes itself: X-Forwarded-For, X-Forwarded-Proto,
//     X-Forwarded-Host, X-Real-IP and X-Request-Id;
//   - every name with an underscore, which CGI-style apps (PHP, WSGI,
//     Rack) read as the same variable as the dashed name: X_Forwarded_For
//     would be HTTP_X_FORWARDED_FOR; and, for the same reason, every name
//     of anything but letters, digits and hyphens (X.Forwarded.For), as
//     nginx drops them by default;
//   - unless trusted, the other headers that say where the client is or
//     how it connected, which an app or its framework may believe: a
//     client could claim any address, or HTTPS, with them.
func forwardRequestHeader(k string, trusted bool) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Content-Length", "Expect", "Host",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "X-Request-Id":
		return false
	case "Forwarded", "X-Forwarded", "Forwarded-For", "X-Original-Forwarded-For",
		"True-Client-Ip", "X-Client-Ip", "Client-Ip", "Cf-Connecting-Ip", "Fastly-Client-Ip",
		"X-Cluster-Client-Ip", "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Forwarded-Ssl",
		"X-Url-Scheme", "Front-End-Https":
		return trusted
	}
	for i := 0; i < len(k); i++ {
		if !plainNameByte[k[i]] {
			return false
		}
	}
	return true
}

// forwardedTo says where the client of a request is and how it connected,
// as the router tells the app (see ServeHTTP): as the router saw it, or,
// from a trusted proxy, as the proxy says.
type forwardedTo struct {
	trusted bool     // the peer is a trusted proxy
	chain   []string // a trusted proxy's X-Forwarded-For, to go before peer
	peer    string   // the address the request came from
	client  string   // X-Real-IP
	proto   []string // X-Forwarded-Proto
	host    []string // a trusted proxy's X-Forwarded-Host; nil means the request's Host
}

var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

func (ex *exchange) forwarded() forwardedTo {
	r := ex.r
	f := forwardedTo{trusted: ex.rt.fromTrustedProxy(r.RemoteAddr), peer: clientIP(r.RemoteAddr)}
	f.client = f.peer
	if f.trusted {
		f.chain = r.Header["X-Forwarded-For"]
		f.client = ex.rt.chainClient(f.chain, f.peer)
		f.proto, f.host = r.Header["X-Forwarded-Proto"], r.Header["X-Forwarded-Host"]
	}
	if len(f.proto) == 0 {
		f.proto = protoHTTP
		if r.TLS != nil {
			f.proto = protoHTTPS
		}
	}
	return f
}

// xff is the X-Forwarded-For value: the chain, then the peer.
func (f forwardedTo) xff() string {
	var b strings.Builder
	for _, v := range f.chain {
		if v != "" {
			b.WriteString(v)
			b.WriteString(", ")
		}
	}
	b.WriteString(f.peer)
	return b.String()
}

// plainNameByte holds the bytes of a header name that no app can read as
// another name: letters, digits and '-'. It is never written.
var plainNameByte = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-'
	}
	return t
}()

// trustedAddr reports whether a is the address of a trusted proxy.
func (rt *Router) trustedAddr(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range rt.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// fromTrustedProxy reports whether a request from remote, a RemoteAddr,
// comes from a trusted proxy.
func (rt *Router) fromTrustedProxy(remote string) bool {
	if len(rt.cfg.TrustedProxies) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && rt.trustedAddr(ap.Addr())
}

// chainClient returns the address of the client that a trusted proxy at
// peer forwards a request for, given the request's X-Forwarded-For
// values: walking the chain from the right past the trusted proxies, the
// first address that is not one, or the leftmost if all are. An entry
// that is not an address (with or without a port) ends the walk at the
// last address walked past: only trusted proxies wrote the entries right
// of it.
func (rt *Router) chainClient(xff []string, peer string) string {
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		for rest := xff[i]; rest != ""; {
			entry := rest
			if j := strings.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				rest = ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a, text, ok := parseChainAddr(entry)
			if !ok {
				return client
			}
			client = text
			if !rt.trustedAddr(a) {
				return client
			}
		}
	}
	return client
}

// parseChainAddr parses an X-Forwarded-For entry: an address, or one with
// a port ("192.0.2.1:80", "[2001:db8::1]:80") as some proxies write them.
// It returns the address and its text without the port, and allocates
// nothing for a valid entry.
func parseChainAddr(entry string) (netip.Addr, string, bool) {
	if entry[0] == '[' || strings.Count(entry, ":") == 1 {
		ap, err := netip.ParseAddrPort(entry)
		if err != nil {
			return netip.Addr{}, "", false
		}
		return ap.Addr(), clientIP(entry), true
	}
	a, err := netip.ParseAddr(entry)
	return a, entry, err == nil
}

// upgradeOf returns the protocol a request asks to switch to, or "".
func upgradeOf(h http.Header) string {
	up := h["Upgrade"]
	if len(up) == 0 || !h1.ConnectionListed(h["Connection"], "upgrade") {
		return ""
	}
	return up[0]
}

// clientIP returns the address part of a RemoteAddr.
func clientIP(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	return strings.TrimSuffix(strings.TrimPrefix(remote[:i], "["), "]")
}

func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// requestID returns the client's X-Request-Id if it is valid (20 to 200
// characters of letters, digits and +/=-_.: as Heroku's router takes
// them), else a new random UUID.
func requestID(h http.Header) string {
	if v := h["X-Request-Id"]; len(v) == 1 && validRequestID(v[0]) {
		return v[0]
	}
	return newRequestID()
}

func validRequestID(s string) bool {
	if len(s) < 20 || len(s) > 200 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || c == '.' || c == ':':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns a version 4 UUID. It is for correlating logs, not
// a secret: the runtime's fast random source is good enough.
func newRequestID() string {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	var b [36]byte
	putHex(b[0:8], hi>>32)
	b[8] = '-'
	putHex(b[9:13], hi>>16)
	b[13] = '-'
	putHex(b[14:18], hi)
	b[18] = '-'
	putHex(b[19:23], lo>>48)
	b[23] = '-'
	putHex(b[24:36], lo)
	return string(b[:])
}

// putHex fills dst with the len(dst) lowest hexadecimal digits of v.
func putHex(dst []byte, v uint64) {
	const hex = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = hex[v&0xf]
		v >>= 4
	}
}
