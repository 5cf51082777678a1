package router

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/platform-paas/platform/router/internal/h1"
)

// HTTP/2 without TLS to the pods (h2c), for apps such as gRPC servers
// whose Ingress says platform.io/backend-protocol: h2c. The requests keep
// the proxy's semantics (forwarded headers, request ids, limits, the
// request timeout, retries, streaming), go over net/http's HTTP/2
// client with prior knowledge, one multiplexed connection per endpoint,
// and the app's trailers (gRPC's status) reach clients that speak HTTP/2
// to the router. WebSocket upgrades are HTTP/1.1's and are not passed.

// newH2CTransport is the client of the h2c routes.
func newH2CTransport(cfg Config, dialer *net.Dialer) *http.Transport {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Transport{
		Protocols:              &p,
		DialContext:            dialer.DialContext,
		IdleConnTimeout:        cfg.IdleConnTimeout,
		DisableCompression:     true, // the app's encoding passes as it is
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// errBackendTimeout ends an h2c exchange whose app did not answer, or
// stopped sending its answer, for Config.RequestTimeout.
var errBackendTimeout = errors.New("the app did not answer within the request timeout")

// proxyH2C is proxy for a route whose pods speak h2c. An endpoint that
// cannot be reached is passed over, whatever the method, as nothing was
// sent; a request that failed later is tried again only if it has no
// body and is idempotent.
func (ex *exchange) proxyH2C(eps []*upstream) (abort bool) {
	rt, r := ex.rt, ex.r
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	var body io.ReadCloser = http.NoBody
	if hasBody {
		rb := r.Body
		if max := rt.cfg.MaxBodyBytes; max >= 0 && r.ContentLength < 0 {
			rb = http.MaxBytesReader(ex.w, rb, max)
		}
		body = keepOpen{rb}
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	// The timeout runs until the answer's head, then between reads of
	// its body.
	idle := time.AfterFunc(rt.cfg.RequestTimeout, func() { cancel(errBackendTimeout) })
	defer idle.Stop()

	attempts := min(len(eps), 1+rt.cfg.Retries)
	next := int(ex.target.backend.next.Add(1) - 1)
	now := ex.start.UnixNano()
	for tried := 1; ; tried++ {
		var u *upstream
		u, next = pick(eps, next, now)
		ex.up = u
		res, err := rt.h2c.RoundTrip(ex.h2cRequest(ctx, u.addr, body))
		if err == nil {
			return ex.respondH2C(res, idle)
		}
		var dial *net.OpError
		refused := errors.As(err, &dial) && dial.Op == "dial"
		switch _, tooLarge := errors.AsType[*http.MaxBytesError](err); {
		case tooLarge:
			ex.err = err
			ex.page(http.StatusRequestEntityTooLarge, pageTooLarge)
			return false
		case r.Context().Err() != nil:
			ex.clientGone(err)
			return false
		}
		ex.err = err
		ex.target.metrics.upstreamErrors.Inc()
		if refused {
			u.markDown(time.Now().UnixNano())
		}
		if tried < attempts && context.Cause(ctx) == nil && (refused || (!hasBody && isIdempotent(r.Method))) {
			ex.retry()
			continue
		}
		if errors.Is(context.Cause(ctx), errBackendTimeout) {
			ex.page(http.StatusGatewayTimeout, pageTimeout)
		} else {
			ex.page(http.StatusBadGateway, pageBadGateway)
		}
		return false
	}
}

// h2cRequest is the request for the app at addr.
func (ex *exchange) h2cRequest(ctx context.Context, addr string, body io.ReadCloser) *http.Request {
	r := ex.r
	u := *r.URL
	u.Scheme, u.Host, u.User = "http", addr, nil
	out := &http.Request{
		Method:        r.Method,
		URL:           &u,
		Host:          r.Host,
		Header:        ex.h2cHeader(),
		Body:          body,
		ContentLength: r.ContentLength,
	}
	if body == http.NoBody {
		out.ContentLength = 0
	}
	return out.WithContext(ctx)
}

// h2cHeader is the request's header for the app: the client's, as
// writeRequestHead passes them, and the router's own.
func (ex *exchange) h2cHeader() http.Header {
	r := ex.r
	f := ex.forwarded()
	h := make(http.Header, len(r.Header)+6)
	conn := r.Header["Connection"]
	for k, vv := range r.Header {
		if forwardRequestHeader(k, f.trusted) && (len(conn) == 0 || !h1.ConnectionListed(conn, k)) {
			h[k] = vv
		}
	}
	h["X-Forwarded-For"] = []string{f.xff()}
	h["X-Real-Ip"] = []string{f.client}
	h["X-Forwarded-Proto"] = f.proto
	h["X-Forwarded-Host"] = f.host
	if len(f.host) == 0 {
		h["X-Forwarded-Host"] = []string{r.Host}
	}
	h["X-Request-Id"] = []string{ex.reqID}
	// The one TE HTTP/2 allows, which gRPC asks for.
	for _, v := range r.Header["Te"] {
		if h1.ConnectionListed([]string{v}, "trailers") {
			h["Te"] = []string{"trailers"}
		}
	}
	return h
}

// respondH2C sends the app's answer to the client as it comes, then its
// trailers; idle is the request timeout, pushed back at each read.
func (ex *exchange) respondH2C(res *http.Response, idle *time.Timer) (abort bool) {
	defer res.Body.Close()
	r, w := ex.r, ex.w
	h := w.Header()
	for k, vv := range res.Header {
		switch k {
		case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Trailer":
			continue
		}
		h[k] = vv
	}
	noBody := r.Method == http.MethodHead || res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified
	if _, ok := h["Content-Type"]; !ok && !noBody {
		h["Content-Type"] = nil // no sniffing: send what the app sent
	}
	if r.TLS != nil && ex.target.hsts != "" && h["Strict-Transport-Security"] == nil {
		h["Strict-Transport-Security"] = []string{ex.target.hsts}
	}
	ex.status = res.StatusCode
	w.WriteHeader(res.StatusCode)

	bp := ex.rt.bufs.Get().(*[]byte)
	defer ex.rt.bufs.Put(bp)
	buf := *bp
	for {
		idle.Reset(ex.rt.cfg.RequestTimeout)
		n, err := res.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				ex.clientGone(werr)
				return false
			}
			// A stream's messages go out as they come.
			ex.flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if r.Context().Err() != nil {
				ex.clientGone(err)
				return false
			}
			ex.err = err
			ex.target.metrics.upstreamErrors.Inc()
			return true
		}
	}
	// The trailers, known once the body has ended.
	for k, vv := range res.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return false
}

// keepOpen is a request body that the client's transport does not close,
// as it does after a failed attempt: the router's server owns it, and a
// request whose endpoint refused it is sent again with it.
type keepOpen struct{ io.Reader }

func (keepOpen) Close() error { return nil }
