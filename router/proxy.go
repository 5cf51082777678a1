package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"os"
	"strconv"
	"time"

	"github.com/platform-paas/platform/router/internal/h1"
	"github.com/platform-paas/platform/router/internal/route"
)

// ServeHTTP proxies r to the app its host and path route to.
//
// The host is matched exactly and case-insensitively without its port,
// then "*.parent" wildcards, then rules without a host; within the host the
// longest path wins, Exact before Prefix. The request goes to a ready,
// non-terminating endpoint of the route's Service port, round-robin, over
// a pooled HTTP/1.1 connection, with hop-by-hop headers dropped and
// X-Request-Id set (kept when the client's is valid, else generated).
//
// Every tenant is hostile, and so is every client: the app is told where
// the client is only by the router. X-Forwarded-For is the client's
// address, X-Forwarded-Proto how it connected, X-Forwarded-Host the Host
// it asked for, and X-Real-IP the client's address again; the client's
// own are replaced. Headers a client could claim another address or HTTPS
// with (Forwarded, True-Client-IP, X-Client-IP, Client-IP,
// CF-Connecting-IP, Fastly-Client-IP, X-Cluster-Client-IP,
// X-Forwarded-Port, X-Forwarded-Ssl and the like) are dropped, and so is
// every header whose name has an underscore, which CGI-style apps would
// read as its dashed twin, or anything else but letters, digits and
// hyphens. From a trusted proxy (Config.TrustedProxies)
// the X-Forwarded-For chain is kept and the peer's address appended,
// X-Forwarded-Proto and X-Forwarded-Host are passed on if it sent them,
// the other client-address headers pass as they came, and X-Real-IP is
// the chain's rightmost address that is not a trusted proxy's. The
// router sets X-Real-IP itself, trusted proxy or not, so that an app or
// middleware that believes it (chi's RealIP, say) believes the router.
//
// An endpoint that refuses the connection is passed over and the request
// tried on another, up to Config.Retries times, whatever its method:
// nothing was sent. A connection that breaks after the request was sent
// and before any response byte is retried the same way only for a request
// that is idempotent or has no body and whose body was not read. A reused
// keep-alive connection found closed is replaced by a new one without
// counting as a retry.
//
// Unknown hosts get a 404 page, an app without ready endpoints a 503, a
// body over Config.MaxBodyBytes a 413, a body that stops coming for
// Config.BodyIdleTimeout a 408, a backend that fails a 502 and one that
// does not answer within Config.RequestTimeout a 504. Upgrades
// (WebSocket) are passed through; responses are streamed, flushed whenever
// the backend has nothing more ready.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ex := exchange{rt: rt, w: w, r: r, start: time.Now()}
	abort := ex.serve()
	ex.done()
	if abort {
		// The response was cut short after its head went out: make the
		// client see a broken response, not a short complete one.
		panic(http.ErrAbortHandler)
	}
}

// exchange is one request on its way through the router.
type exchange struct {
	rt     *Router
	w      http.ResponseWriter
	r      *http.Request
	start  time.Time
	target *target // nil if no route matched
	reqID  string

	status   int       // sent to the client, or statusClientClosed
	up       *upstream // the last endpoint tried
	retries  int
	bodyRead bool  // some of the request body was consumed
	err      error // why the exchange failed, for the log

	// The client-gone watch on the backend connection (watchClient).
	watcher   clientWatcher
	stopAfter func() bool
}

// statusClientClosed records a client that went away before the answer,
// as nginx logs it.
const statusClientClosed = 499

// failure says where a round trip to a backend failed, which decides
// whether it may be retried and what the client is told.
type failure int

const (
	failNone       failure = iota
	failSend               // writing the request to the backend
	failNoResponse         // the backend closed or reset without a byte of answer
	failBadHead            // the backend's answer was not a valid HTTP/1.x head
	failTimeout            // the backend did not answer within RequestTimeout
	failClientBody         // reading the request body from the client
	failTooLarge           // the request body was over MaxBodyBytes
)

func (ex *exchange) serve() (abort bool) {
	rt, r := ex.rt, ex.r
	ex.reqID = requestID(r.Header)
	t := rt.table.Load()
	if t == nil {
		ex.page(http.StatusServiceUnavailable, pageStarting)
		return false
	}
	host := route.CanonicalHost(r.Host)
	ex.target = t.lookup(host, r.URL.Path)
	if ex.target == nil {
		ex.page(http.StatusNotFound, pageNoApp)
		return false
	}
	if ex.redirectsToHTTPS(host) {
		ex.redirectHTTPS(host)
		return false
	}
	if max := rt.cfg.MaxBodyBytes; max >= 0 && r.ContentLength > max {
		ex.page(http.StatusRequestEntityTooLarge, pageTooLarge)
		return false
	}
	eps := ex.target.backend.eps
	if len(eps) == 0 {
		ex.page(http.StatusServiceUnavailable, pageNoProcesses)
		return false
	}
	if ex.target.h2c {
		return ex.proxyH2C(eps)
	}
	return ex.proxy(eps)
}

func (ex *exchange) proxy(eps []*upstream) (abort bool) {
	r := ex.r
	ctx := r.Context()
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	idempotent := isIdempotent(r.Method)
	upgrade := upgradeOf(r.Header)
	attempts := min(len(eps), 1+ex.rt.cfg.Retries)
	next := int(ex.target.backend.next.Add(1) - 1)
	now := ex.start.UnixNano()

	var u *upstream
	fresh, freshTried := false, false
	for tried := 1; ; {
		if !fresh {
			u, next = pick(eps, next, now)
		}
		ex.up = u
		// A request whose body cannot be sent again is not sent on an
		// idle connection the backend has closed, as far as can be seen.
		bc, err := ex.rt.connect(ctx, u, now, fresh, hasBody)
		fresh = false
		if err != nil {
			if ctx.Err() != nil {
				ex.clientGone(err)
				return false
			}
			u.markDown(time.Now().UnixNano())
			ex.target.metrics.upstreamErrors.Inc()
			ex.err = err
			if tried < attempts {
				tried++
				ex.retry()
				continue
			}
			ex.page(http.StatusBadGateway, pageBadGateway)
			return false
		}

		// A client that goes away cuts the wait for the backend short.
		ex.watchClient(bc)
		head, fail, err := ex.roundTrip(bc, hasBody, upgrade)
		if fail == failNone {
			return ex.respond(bc, head, upgrade)
		}
		ex.stopWatch()
		bc.close()
		switch {
		case ctx.Err() != nil:
			ex.clientGone(err)
			return false
		case fail == failTooLarge:
			ex.err = err
			ex.page(http.StatusRequestEntityTooLarge, pageTooLarge)
			return false
		case fail == failClientBody && errors.Is(err, os.ErrDeadlineExceeded):
			// The client stopped sending its body (BodyIdleTimeout).
			ex.err = err
			ex.w.Header()["Connection"] = []string{"close"}
			ex.page(http.StatusRequestTimeout, pageBodyTimeout)
			return false
		case fail == failClientBody:
			ex.clientGone(err)
			return false
		}
		ex.err = err
		retriable := (fail == failSend || fail == failNoResponse) && !ex.bodyRead && (idempotent || !hasBody)
		if retriable && bc.reused && !freshTried {
			// Most likely the backend closed the idle connection as it
			// was taken, which is no fault of the endpoint: try a new
			// connection to it.
			fresh, freshTried = true, true
			continue
		}
		ex.target.metrics.upstreamErrors.Inc()
		switch {
		case fail == failTimeout:
			ex.page(http.StatusGatewayTimeout, pageTimeout)
			return false
		case !retriable:
			ex.page(http.StatusBadGateway, pageBadGateway)
			return false
		}
		if tried < attempts {
			tried++
			ex.retry()
			continue
		}
		ex.page(http.StatusBadGateway, pageBadGateway)
		return false
	}
}

// clientWatcher is what the router's HTTP/1.1 server offers for a
// request's client going away (h1's OnClientGone): context.AfterFunc on
// the request's context, without its allocations.
type clientWatcher interface {
	OnClientGone(f func())
	StopClientGone() bool
}

// watchClient makes a client that goes away cut bc's I/O, until
// stopWatch.
func (ex *exchange) watchClient(bc *bconn) {
	if cw, ok := ex.w.(clientWatcher); ok {
		ex.watcher = cw
		cw.OnClientGone(bc.cut)
		return
	}
	ex.stopAfter = context.AfterFunc(ex.r.Context(), bc.cut)
}

// stopWatch ends watchClient's watch. It reports whether the watch had
// not fired: false means bc's I/O was cut, or may be at any moment.
func (ex *exchange) stopWatch() bool {
	if cw := ex.watcher; cw != nil {
		ex.watcher = nil
		return cw.StopClientGone()
	}
	stop := ex.stopAfter
	ex.stopAfter = nil
	return stop()
}

func (ex *exchange) retry() {
	ex.retries++
	ex.target.metrics.retries.Inc()
}

func (ex *exchange) clientGone(err error) {
	ex.status = statusClientClosed
	ex.err = err
}

// aLongTimeAgo is a deadline that makes blocked I/O return at once.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip sends the request on bc and reads the response head into the
// client's header map.
func (ex *exchange) roundTrip(bc *bconn, hasBody bool, upgrade string) (respHead, failure, error) {
	timeout := ex.rt.cfg.RequestTimeout
	if err := bc.extend(ex.start, timeout); err != nil {
		return respHead{}, failSend, err
	}
	ex.writeRequestHead(bc.bw, hasBody, upgrade)
	if hasBody {
		if fail, err := ex.writeBody(bc); fail != failNone {
			return respHead{}, fail, err
		}
	}
	// Without a body, the request goes out in one write that also waits
	// for the answer (see send). After a body, the flush ends a stream of
	// writes and the answer is read as usual.
	var err error
	if hasBody {
		err = bc.bw.Flush()
	} else {
		err = bc.send()
	}
	if err != nil {
		return respHead{}, ex.classify(err, failSend), err
	}
	if hasBody {
		// The upload may have taken a while: the wait for the answer
		// starts now.
		if err := bc.extend(time.Now(), timeout); err != nil {
			return respHead{}, failSend, err
		}
	}
	head, fail, err := readResponseHead(bc, ex.w.Header())
	if fail != failNone {
		clear(ex.w.Header())
		return head, ex.classify(err, fail), err
	}
	return head, failNone, nil
}

func (ex *exchange) classify(err error, fail failure) failure {
	if errors.Is(err, os.ErrDeadlineExceeded) && ex.r.Context().Err() == nil {
		return failTimeout
	}
	return fail
}

// writeRequestHead writes the request line and headers for the backend.
func (ex *exchange) writeRequestHead(bw *bufio.Writer, hasBody bool, upgrade string) {
	r := ex.r
	uri := r.RequestURI
	if uri == "" || (uri[0] != '/' && uri != "*") {
		uri = r.URL.RequestURI() // absolute-form from a client that took us for a proxy
	}
	writeStrings(bw, r.Method, " ", uri, " HTTP/1.1\r\nHost: ", r.Host, "\r\n")

	f := ex.forwarded()
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if !forwardRequestHeader(k, f.trusted) || (len(conn) > 0 && h1.ConnectionListed(conn, k)) {
			continue
		}
		writeHeaderFields(bw, k, vv)
	}

	// The client's address and how it connected (forwarded).
	bw.WriteString("X-Forwarded-For: ")
	for _, v := range f.chain {
		if v != "" {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
	}
	writeStrings(bw, f.peer, "\r\nX-Real-IP: ", f.client, "\r\n")
	writeHeaderFields(bw, "X-Forwarded-Proto", f.proto)
	if len(f.host) > 0 {
		writeHeaderFields(bw, "X-Forwarded-Host", f.host)
	} else {
		writeStrings(bw, "X-Forwarded-Host: ", r.Host, "\r\n")
	}
	writeStrings(bw, "X-Request-Id: ", ex.reqID, "\r\n")
	if upgrade != "" {
		bw.WriteString("Connection: Upgrade\r\nUpgrade: ")
		bw.WriteString(upgrade)
		bw.WriteString("\r\n")
	}
	switch {
	case hasBody && r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), r.ContentLength, 10))
		bw.WriteString("\r\n")
	case hasBody:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	bw.WriteString("\r\n")
}

// writeHeaderFields writes one header field line per value.
func writeHeaderFields(bw *bufio.Writer, k string, vv []string) {
	for _, v := range vv {
		writeStrings(bw, k, ": ", v, "\r\n")
	}
}

// writeStrings writes the strings one after the other: appended to the
// writer's free space and written at once when they fit, which costs a
// request head a fraction of a call for each piece.
func writeStrings(bw *bufio.Writer, ss ...string) {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	if n > bw.Available() {
		for _, s := range ss {
			bw.WriteString(s)
		}
		return
	}
	b := bw.AvailableBuffer()
	for _, s := range ss {
		b = append(b, s...)
	}
	bw.Write(b)
}

// writeBody copies the request body to the backend, chunked when its
// length is unknown.
func (ex *exchange) writeBody(bc *bconn) (failure, error) {
	r := ex.r
	body := r.Body
	if max := ex.rt.cfg.MaxBodyBytes; max >= 0 && r.ContentLength < 0 {
		body = http.MaxBytesReader(ex.w, body, max)
	}
	var dst io.Writer = bc.bw
	var chunked io.WriteCloser
	if r.ContentLength < 0 {
		chunked = httputil.NewChunkedWriter(bc.bw)
		dst = chunked
	}
	bp := ex.rt.bufs.Get().(*[]byte)
	defer ex.rt.bufs.Put(bp)
	buf := *bp
	timeout := ex.rt.cfg.RequestTimeout
	ex.bodyRead = true
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			// A long upload keeps the connection's deadline ahead of it.
			if err := bc.extend(time.Now(), timeout); err != nil {
				return failSend, err
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return ex.classify(err, failSend), err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](rerr); ok {
				return failTooLarge, rerr
			}
			return failClientBody, rerr
		}
	}
	if chunked != nil {
		if err := chunked.Close(); err != nil {
			return failSend, err
		}
		// The end of the (empty) trailer section.
		if _, err := bc.bw.WriteString("\r\n"); err != nil {
			return failSend, err
		}
	}
	return failNone, nil
}

// respond sends the backend's response, whose head is in the client's
// header map, to the client, and gives bc back to its pool if the exchange
// ended cleanly. It ends the client-gone watch on bc.
func (ex *exchange) respond(bc *bconn, head respHead, upgrade string) (abort bool) {
	r, w := ex.r, ex.w
	if head.status == http.StatusSwitchingProtocols {
		ex.stopWatch()
		if upgrade == "" {
			bc.close()
			clear(w.Header())
			ex.err = errors.New("backend switched protocols unasked")
			ex.target.metrics.upstreamErrors.Inc()
			ex.page(http.StatusBadGateway, pageBadGateway)
			return false
		}
		ex.switchProtocols(bc, head)
		return false
	}

	h := w.Header()
	noBody := r.Method == http.MethodHead || head.status == http.StatusNoContent || head.status == http.StatusNotModified
	if !noBody {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = nil // no sniffing: send what the app sent
		}
	}
	if r.TLS != nil && ex.target.hsts != "" && h["Strict-Transport-Security"] == nil {
		h["Strict-Transport-Security"] = []string{ex.target.hsts}
	}
	ex.status = head.status
	w.WriteHeader(head.status)

	var err error
	var fromClient bool
	reusable := head.reusable()
	switch {
	case noBody:
	case head.chunked:
		fromClient, err = ex.copyChunked(bc)
	case head.contentLength >= 0:
		fromClient, err = ex.copyN(bc, head.contentLength)
	default:
		fromClient, err = ex.copyN(bc, -1)
		reusable = false
	}
	if !ex.stopWatch() {
		// The client went away and the watch already fired: the deadline
		// it set may land at any time.
		reusable = false
	}
	switch {
	case err == nil && reusable && r.Context().Err() == nil:
		bc.up.put(bc, time.Now().UnixNano())
		return false
	case err == nil:
		bc.close()
		return false
	case fromClient || r.Context().Err() != nil:
		bc.close()
		ex.clientGone(err)
		return false
	default:
		bc.close()
		ex.err = err
		ex.target.metrics.upstreamErrors.Inc()
		return true
	}
}

// copyN copies n bytes of response body, or all until EOF if n < 0, from
// bc to the client. It reports whether an error came from the client.
func (ex *exchange) copyN(bc *bconn, n int64) (bool, error) {
	br := bc.br
	var bp *[]byte
	defer func() {
		if bp != nil {
			ex.rt.bufs.Put(bp)
		}
	}()
	untilEOF := n < 0
	wrote := false
	for n != 0 {
		if br.Buffered() == 0 {
			if wrote {
				// The backend has nothing more ready: send what it sent.
				ex.flush()
				wrote = false
			}
			if err := bc.extend(time.Now(), ex.rt.cfg.RequestTimeout); err != nil {
				return false, err
			}
			if untilEOF || n > int64(br.Size()) {
				// Large bodies bypass the connection's buffer.
				if bp == nil {
					bp = ex.rt.bufs.Get().(*[]byte)
				}
				p := *bp
				if !untilEOF && n < int64(len(p)) {
					p = p[:n]
				}
				m, err := br.Read(p)
				if m > 0 {
					if _, werr := ex.w.Write(p[:m]); werr != nil {
						return true, werr
					}
					n -= int64(m)
					wrote = true
				}
				if err == io.EOF && untilEOF {
					return false, nil
				}
				if err != nil {
					return false, h1.NoEOF(err)
				}
				continue
			}
			if _, err := br.Peek(1); err != nil {
				return false, h1.NoEOF(err)
			}
		}
		m := br.Buffered()
		if !untilEOF && int64(m) > n {
			m = int(n)
		}
		p, _ := br.Peek(m)
		if _, err := ex.w.Write(p); err != nil {
			return true, err
		}
		_, _ = br.Discard(m)
		if !untilEOF {
			n -= int64(m)
		}
		wrote = true
	}
	return false, nil
}

// copyChunked copies a chunked response body from bc to the client.
// Trailers are read and dropped.
func (ex *exchange) copyChunked(bc *bconn) (bool, error) {
	br := bc.br
	bp := ex.rt.bufs.Get().(*[]byte)
	defer ex.rt.bufs.Put(bp)
	buf := *bp
	cr := httputil.NewChunkedReader(br)
	wrote := false
	for {
		if br.Buffered() == 0 {
			if wrote {
				ex.flush()
				wrote = false
			}
			if err := bc.extend(time.Now(), ex.rt.cfg.RequestTimeout); err != nil {
				return false, err
			}
		}
		n, err := cr.Read(buf)
		if n > 0 {
			if _, werr := ex.w.Write(buf[:n]); werr != nil {
				return true, werr
			}
			wrote = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, h1.NoEOF(err)
		}
	}
	if wrote && br.Buffered() == 0 {
		ex.flush()
	}
	for {
		line, err := bc.readLine()
		if err != nil {
			return false, h1.NoEOF(err)
		}
		if len(line) == 0 {
			return false, nil
		}
	}
}

func (ex *exchange) flush() {
	if f, ok := ex.w.(http.Flusher); ok {
		f.Flush()
	}
}

// done records the exchange in the metrics and the access log.
func (ex *exchange) done() {
	d := time.Since(ex.start)
	rt := ex.rt
	m := rt.metrics.unrouted
	if ex.target != nil {
		m = ex.target.metrics
	}
	m.observe(ex.status, d)
	if rt.cfg.DisableAccessLog {
		return
	}
	ctx := ex.r.Context()
	h := rt.log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// The record goes to the handler as Logger.LogAttrs would send it,
	// but without the caller's program counter, which costs a stack walk
	// a request and which no access log line shows.
	r := slog.NewRecord(ex.start.Add(d), slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("method", ex.r.Method),
		slog.String("host", ex.r.Host),
		slog.String("path", ex.r.URL.Path),
		slog.Int("status", ex.status),
		slog.Duration("duration", d),
	)
	// Past the Record's five inline attributes, AddAttrs allocates for
	// each call: the rest go in one.
	var rest [6]slog.Attr
	more := append(rest[:0], slog.String("request_id", ex.reqID))
	if ex.target != nil {
		more = append(more, slog.String("ingress", ex.target.ingress), slog.String("service", ex.target.backend.name))
	}
	if ex.up != nil {
		more = append(more, slog.String("upstream", ex.up.addr))
	}
	if ex.retries > 0 {
		more = append(more, slog.Int("retries", ex.retries))
	}
	if ex.err != nil {
		more = append(more, slog.String("err", ex.err.Error()))
	}
	r.AddAttrs(more...)
	_ = h.Handle(ctx, r) // a log that fails has no one to tell
}
