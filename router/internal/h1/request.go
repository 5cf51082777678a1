package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// This file is the request side of the server: reading a request head
// off a client connection, parsing it strictly, and reading the request
// body. The client is on the internet: anything ambiguous about where a
// request ends (the way to request smuggling) is refused, not guessed at.

// maxRequestHeadBytes caps a request head, request line included; a
// larger one gets a 431. It is net/http's MaxHeaderBytes as the router set
// it before it had its own server.
const maxRequestHeadBytes = 64 << 10

// A requestError is a request the server refuses with a 4xx or 5xx and
// closes the connection after: the status and a short reason for the
// client.
type requestError struct {
	status int
	reason string
}

func (e *requestError) Error() string { return e.reason }

var (
	errRequestHeadTooLarge = &requestError{http.StatusRequestHeaderFieldsTooLarge, "request head too large"}
	errBadRequestLine      = &requestError{http.StatusBadRequest, "malformed request line"}
	errBadMethod           = &requestError{http.StatusBadRequest, "invalid method"}
	errBadTarget           = &requestError{http.StatusBadRequest, "invalid request target"}
	errBadVersion          = &requestError{http.StatusHTTPVersionNotSupported, "HTTP version not supported"}
	errObsFold             = &requestError{http.StatusBadRequest, "folded header line"}
	errBadHeaderLine       = &requestError{http.StatusBadRequest, "malformed header line"}
	errBadHeaderValue      = &requestError{http.StatusBadRequest, "invalid header value"}
	errNoHost              = &requestError{http.StatusBadRequest, "missing Host header"}
	errManyHosts           = &requestError{http.StatusBadRequest, "more than one Host header"}
	errBadHost             = &requestError{http.StatusBadRequest, "invalid host"}
	errBadContentLength    = &requestError{http.StatusBadRequest, "invalid Content-Length"}
	errLengthAndChunked    = &requestError{http.StatusBadRequest, "both Content-Length and Transfer-Encoding"}
	errBadTransferCoding   = &requestError{http.StatusBadRequest, "invalid Transfer-Encoding"}
	errUnsupportedCoding   = &requestError{http.StatusNotImplemented, "unsupported Transfer-Encoding"}
	errUnsupportedExpects  = &requestError{http.StatusExpectationFailed, "unsupported expectation"}
)

// headEnd returns the length of the request head at the start of b, up to
// and including the empty line that ends it, or -1 if b holds no whole
// head. Lines end in LF, with or without CR before it. Line ends before
// index from are known not to end the head.
func headEnd(b []byte, from int) int {
	for {
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			return -1
		}
		i += from
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
		from = i + 1
	}
}

// requestHead is a parsed request head: what goes in an http.Request, and
// what the server needs to read the body and to decide about the
// connection.
type requestHead struct {
	method, target, proto string
	minor                 int // HTTP/1.minor
	url                   *url.URL
	host                  string
	contentLength         int64 // -1: none given
	chunked               bool
	close                 bool // Connection: close
	keepAlive             bool // Connection: keep-alive
	expectContinue        bool

	hosts   int // Host fields seen
	codings int // chunked codings seen
}

// http11 reports whether the client speaks HTTP/1.1 (or a later 1.x).
func (p *requestHead) http11() bool { return p.minor > 0 }

// wantsKeepAlive reports whether the client means to send another request
// on the connection after this one.
func (p *requestHead) wantsKeepAlive() bool {
	if p.http11() {
		return !p.close
	}
	return p.keepAlive && !p.close
}

// hasBody reports whether a body follows the head.
func (p *requestHead) hasBody() bool { return p.chunked || p.contentLength > 0 }

// parseRequestHead parses head, a whole request head as readRequestHead
// returns it. The header fields go into h, which must be empty, except Host
// and Transfer-Encoding, whose meaning is in the result. Header values are
// substrings of head, and each value slice a capped sub-slice of vals
// (reused, returned grown), so that parsing allocates next to nothing. The
// URL of an origin-form target goes into u; another target gets a URL of
// its own.
func parseRequestHead(head string, h http.Header, vals []string, u *url.URL) (requestHead, []string, error) {
	p := requestHead{contentLength: -1}
	line, rest := nextLine(head)
	if err := p.parseRequestLine(line); err != nil {
		return p, vals, err
	}
	for {
		if line, rest = nextLine(rest); line == "" {
			break
		}
		key, value, err := parseField(line)
		if err != nil {
			return p, vals, err
		}
		keep, err := p.noteField(key, value, h)
		if err != nil {
			return p, vals, err
		}
		if !keep {
			continue
		}
		vals = append(vals, value)
		i := len(vals) - 1
		if old, ok := h[key]; ok {
			h[key] = append(old, value)
		} else {
			h[key] = vals[i : i+1 : i+1]
		}
	}
	if err := p.checkFraming(); err != nil {
		return p, vals, err
	}
	if err := p.parseTarget(u); err != nil {
		return p, vals, err
	}
	return p, vals, nil
}

// parseField splits a header field line into its name, in canonical form,
// and its value, and checks both.
func parseField(line string) (key, value string, err error) {
	if line[0] == ' ' || line[0] == '\t' {
		return "", "", errObsFold
	}
	name, value, ok := strings.Cut(line, ":")
	if !ok || !isToken(name) {
		return "", "", errBadHeaderLine
	}
	if value = trimOWS(value); !validHeaderValue(value) {
		return "", "", errBadHeaderValue
	}
	return headerKey(name), value, nil
}

// noteField takes from a header field what the server needs to know, and
// reports whether the field goes in the header map. h holds the fields
// before it.
func (p *requestHead) noteField(key, value string, h http.Header) (bool, error) {
	switch key {
	case "Host":
		p.hosts++
		p.host = value
		return false, nil // r.Host has it, as with net/http
	case "Transfer-Encoding":
		n, err := parseTransferCoding(value)
		p.codings += n
		return false, err // r.TransferEncoding has it
	case "Content-Length":
		if p.contentLength >= 0 {
			// The same again is harmless; another length is not.
			if value != h["Content-Length"][0] {
				return false, errBadContentLength
			}
			return false, nil
		}
		n, ok := ParseContentLength(value)
		if !ok {
			return false, errBadContentLength
		}
		p.contentLength = n
	case "Connection":
		p.parseConnection(value)
	case "Expect":
		if !strings.EqualFold(value, "100-continue") {
			return false, errUnsupportedExpects
		}
		p.expectContinue = true
	}
	return true, nil
}

// nextLine splits s after its first line, and returns that line without
// its line end.
func nextLine(s string) (line, rest string) {
	line, rest, _ = strings.Cut(s, "\n")
	return strings.TrimSuffix(line, "\r"), rest
}

// parseRequestLine parses "METHOD SP target SP HTTP/1.x".
func (p *requestHead) parseRequestLine(line string) error {
	method, rest, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	switch {
	case !ok1 || !ok2:
		return errBadRequestLine
	case !isToken(method):
		return errBadMethod
	case target == "" || !validTarget(target):
		return errBadTarget
	}
	if len(proto) != len("HTTP/1.1") || !strings.HasPrefix(proto, "HTTP/") || proto[6] != '.' ||
		!isDigit(proto[5]) || !isDigit(proto[7]) {
		return errBadRequestLine
	}
	if proto[5] != '1' {
		return errBadVersion
	}
	p.method, p.target, p.proto, p.minor = method, target, proto, int(proto[7]-'0')
	return nil
}

func (p *requestHead) parseConnection(value string) {
	for value != "" {
		var tok string
		tok, value, _ = strings.Cut(value, ",")
		tok = trimOWS(tok)
		switch {
		case strings.EqualFold(tok, "close"):
			p.close = true
		case strings.EqualFold(tok, "keep-alive"):
			p.keepAlive = true
		}
	}
}

// parseTransferCoding checks a Transfer-Encoding value, which may only be
// "chunked", and says how many times it names chunked.
func parseTransferCoding(value string) (int, error) {
	n := 0
	for more := true; more; {
		var coding string
		coding, value, more = strings.Cut(value, ",")
		switch coding = trimOWS(coding); {
		case strings.EqualFold(coding, "chunked"):
			n++
		case coding == "":
			return 0, errBadTransferCoding
		default:
			return 0, errUnsupportedCoding
		}
	}
	return n, nil
}

// checkFraming makes sure the body's length is known one way only: a
// head that gives it twice is how requests are smuggled past a proxy.
func (p *requestHead) checkFraming() error {
	switch {
	case p.codings == 0:
		return nil
	case p.codings > 1 || !p.http11():
		// Chunked twice, or chunked from a client that cannot know it.
		return errBadTransferCoding
	case p.contentLength >= 0:
		return errLengthAndChunked
	}
	p.chunked = true
	return nil
}

// parseTarget parses the request target and settles the request's host:
// an origin-form target ("/path?query") goes into u and the host is the
// Host header's; an absolute-form one ("http://host/path") brings its own
// host; "*" is only for OPTIONS. Authority-form (CONNECT) is refused: the
// router is no forward proxy.
func (p *requestHead) parseTarget(u *url.URL) error {
	switch {
	case p.hosts > 1:
		return errManyHosts
	case p.hosts == 0 && p.http11():
		return errNoHost
	}
	switch {
	case p.target[0] == '/':
		if !parseOriginForm(p.target, u) {
			parsed, err := url.ParseRequestURI(p.target)
			if err != nil {
				return errBadTarget
			}
			u = parsed
		}
	case p.target == "*" && p.method == http.MethodOptions:
		*u = url.URL{Path: "*"}
	default:
		parsed, err := url.ParseRequestURI(p.target)
		if err != nil || parsed.Host == "" ||
			(!strings.EqualFold(parsed.Scheme, "http") && !strings.EqualFold(parsed.Scheme, "https")) {
			return errBadTarget
		}
		u = parsed
		p.host = parsed.Host
	}
	if !validHost(p.host) {
		return errBadHost
	}
	p.url = u
	return nil
}

// parseOriginForm fills u from an origin-form target without allocating,
// as url.ParseRequestURI would, when the path needs no unescaping and has
// nothing url.URL would keep a RawPath for; else it reports false.
func parseOriginForm(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !plainPathByte[path[i]] {
			return false
		}
	}
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}

// plainPathByte holds the bytes that url.URL leaves in a path as they
// are: unreserved characters and the sub-delimiters it does not escape.
// It is never written.
var plainPathByte = alnumAnd("-._~$&+,/:;=@")

// validTarget reports whether a request target holds only visible ASCII
// and non-ASCII bytes: no controls, no spaces.
func validTarget(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost reports whether a host (and optional port) holds only the
// bytes a URL's authority may: letters, digits, the unreserved and
// sub-delimiter characters, ':' and '[]' for IPv6 and ports, and '%' for
// escapes and IPv6 zones. Empty is valid: an HTTP/1.0 client may send no
// host.
func validHost(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hostByte[s[i]] {
			return false
		}
	}
	return true
}

// hostByte is the set validHost allows. It is never written.
var hostByte = alnumAnd("-._~!$&'()*+,;=:[]%")

// validHeaderValue reports whether a header value holds no control bytes
// but tabs: no CR, LF or NUL to split or cut a header with.
func validHeaderValue[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS trims the optional whitespace around a header value or list
// element.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// headerKey returns the canonical form of a header name, already checked
// to be a token, without allocating when the client sent it canonical or
// it is a common one.
func headerKey(name string) string {
	if isCanonicalKey(name) {
		return name
	}
	const maxStack = 64
	if len(name) > maxStack {
		return textproto.CanonicalMIMEHeaderKey(name)
	}
	var buf [maxStack]byte
	b := buf[:copy(buf[:], name)]
	return CanonicalKey(b)
}

// isCanonicalKey reports whether a token is in canonical header form:
// upper case first and after each '-', lower case elsewhere.
func isCanonicalKey(s string) bool {
	upper := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}

// A body is a request body as the handler reads it: bounded to the
// request by its Content-Length or chunked framing, whatever the client
// sends after it. It belongs to its connection and serves each of its
// requests in turn.
type body struct {
	c         *conn
	chunked   bool
	left      int64 // of the body, or of the current chunk when chunked
	afterData bool  // chunked: a chunk's data was read, its CRLF not yet
	eof       bool
	err       error // sticky: the connection cannot be read on
	closed    bool
	// wantContinue: the client waits for a 100 Continue before it sends
	// the body; the first read sends it.
	wantContinue bool
}

// reset readies b for the body of a new request.
func (b *body) reset(p *requestHead) {
	*b = body{c: b.c, chunked: p.chunked, left: max(p.contentLength, 0)}
	b.eof = !p.hasBody()
	b.wantContinue = p.expectContinue && p.http11() && !b.eof
}

// Read reads the body. An error other than io.EOF means the client broke
// its body off or framed it wrong; the connection is closed after the
// response.
func (b *body) Read(p []byte) (int, error) {
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.err != nil:
		return 0, b.err
	case b.eof:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	c := b.c
	if b.wantContinue {
		b.wantContinue = false
		c.sendContinue()
	}
	if b.chunked || c.br.Buffered() == 0 {
		// About to wait for the client: a body takes as long as it
		// takes, as long as it keeps coming.
		c.extendReadDeadline(c.srv.timeouts.BodyIdle)
	}
	if b.chunked && b.left == 0 {
		if err := b.nextChunk(); err != nil {
			return 0, b.fail(err)
		}
		if b.eof {
			c.armWatch() // the body is read: watch for the client going
			return 0, io.EOF
		}
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := c.br.Read(p)
	b.left -= int64(n)
	if err != nil {
		return n, b.fail(err)
	}
	if b.left == 0 && !b.chunked {
		b.eof = true
		c.armWatch() // the body is read: watch for the client going
		return n, io.EOF
	}
	return n, nil
}

func (b *body) fail(err error) error {
	b.err = NoEOF(err)
	return b.err
}

// Close makes further reads fail. What the handler left unread is dealt
// with by the server after the handler returns.
func (b *body) Close() error {
	b.closed = true
	return nil
}

// discard reads and drops what is left of the body, up to limit bytes,
// and reports whether it got to the end.
func (b *body) discard(limit int64) bool {
	for !b.eof {
		if b.err != nil || b.wantContinue {
			return false
		}
		if b.chunked && b.left == 0 {
			if err := b.nextChunk(); err != nil {
				b.fail(err)
			}
			continue
		}
		if b.left > limit {
			return false
		}
		n, err := b.c.br.Discard(int(b.left))
		b.left -= int64(n)
		limit -= int64(n)
		if err != nil {
			b.fail(err)
			continue
		}
		b.eof = !b.chunked
	}
	return true
}

var (
	errBadChunk     = &requestError{http.StatusBadRequest, "malformed chunked body"}
	errLongTrailers = &requestError{http.StatusBadRequest, "chunked body trailers too large"}
)

// nextChunk reads up to the data of the next chunk: the CRLF that ends
// the previous one's data, then a chunk-size line. For the last chunk it
// reads (and drops) the trailer section and sets eof.
func (b *body) nextChunk() error {
	br := b.c.br
	if b.afterData {
		crlf, err := br.Peek(2)
		if err != nil {
			return err
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return errBadChunk
		}
		_, _ = br.Discard(2)
		b.afterData = false
	}
	line, err := readChunkLine(br)
	if err != nil {
		return err
	}
	size, ok := parseChunkSize(line)
	if !ok {
		return errBadChunk
	}
	if size > 0 {
		b.left, b.afterData = size, true
		return nil
	}
	// The trailer section: fields until an empty line. The router does
	// not pass trailers on.
	for total := 0; ; {
		line, err := readChunkLine(br)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			b.eof = true
			return nil
		}
		if total += len(line); total > maxRequestHeadBytes {
			return errLongTrailers
		}
		if line[0] == ' ' || line[0] == '\t' || !validHeaderValue(line) {
			return errBadChunk
		}
	}
}

// readChunkLine reads a line of chunked framing, which must end in CRLF
// and fit in the connection's buffer, and returns it without the CRLF.
func readChunkLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	switch {
	case err == bufio.ErrBufferFull:
		return nil, errBadChunk
	case err != nil:
		return nil, err
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, errBadChunk
	}
	return line[:len(line)-2], nil
}

// parseChunkSize parses "1*HEXDIG [ *WSP ; chunk-ext ]", the extensions
// being ignored but held to visible characters.
func parseChunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := unhex(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, false // 2^60 bytes and more: no real body
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	ext := line[i:]
	for len(ext) > 0 && (ext[0] == ' ' || ext[0] == '\t') {
		ext = ext[1:]
	}
	if len(ext) > 0 && (ext[0] != ';' || !validHeaderValue(ext)) {
		return 0, false
	}
	return n, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
