package router

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/websocket"

	"github.com/platform-paas/platform/router/internal/h1/h1test"
)

// echoBackend answers with the request it got, as JSON.
func echoBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{
			Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header,
			Body: string(body), ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

type echo struct {
	Method           string
	Host             string
	URI              string
	Header           http.Header
	Body             string
	ContentLength    int64
	TransferEncoding []string
}

func decodeEcho(t *testing.T, res *http.Response) echo {
	t.Helper()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var e echo
	require.NoError(t, json.Unmarshal([]byte(readAll(t, res)), &e))
	return e
}

func addrOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

func TestProxyRoutesByHostAndPath(t *testing.T) {
	named := func(name string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		return addrOf(srv)
	}
	root, api, apiExact, v1, wild, other := named("root"), named("api"), named("api-exact"), named("v1"), named("wild"), named("other")
	tr := serveStatic(t, Config{},
		Route{Host: "app.test", Path: "/", Endpoints: []string{root}},
		Route{Host: "app.test", Path: "/api/", Endpoints: []string{api}},
		Route{Host: "app.test", Path: "/api", Exact: true, Endpoints: []string{apiExact}},
		Route{Host: "app.test", Path: "/api/v1", Endpoints: []string{v1}},
		Route{Host: "*.wild.test", Endpoints: []string{wild}},
		Route{Host: "other.test", Path: "/only", Endpoints: []string{other}},
	)
	for _, tc := range []struct {
		name, host, path string
		want             string // backend name, or "" for a 404
	}{
		{"root", "app.test", "/", "root"},
		{"unrouted path falls to /", "app.test", "/x/y", "root"},
		{"exact wins over prefix of the same path", "app.test", "/api", "api-exact"},
		{"prefix with trailing slash", "app.test", "/api/", "api"},
		{"prefix by element", "app.test", "/api/users", "api"},
		{"not a prefix by element", "app.test", "/apix", "root"},
		{"longest prefix", "app.test", "/api/v1/users", "v1"},
		{"longest prefix, exact element", "app.test", "/api/v1", "v1"},
		{"query does not matter", "app.test", "/api?x=/api/v1", "api-exact"},
		{"host is case-insensitive", "APP.Test", "/api/v1", "v1"},
		{"port is stripped", "app.test:8080", "/", "root"},
		{"trailing dot", "app.test.", "/", "root"},
		{"wildcard one label", "x.wild.test", "/", "wild"},
		{"wildcard not two labels", "y.x.wild.test", "/", ""},
		{"wildcard not the parent", "wild.test", "/", ""},
		{"host without a matching path", "other.test", "/", ""},
		{"unknown host", "nope.test", "/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tr.do(t, http.MethodGet, tc.host, tc.path, nil, nil)
			body := readAll(t, res)
			if tc.want == "" {
				assert.Equal(t, http.StatusNotFound, res.StatusCode)
				assert.Contains(t, body, "no app at this address")
				return
			}
			assert.Equal(t, http.StatusOK, res.StatusCode)
			assert.Equal(t, tc.want, body)
		})
	}
}

func TestProxyForwardedHeaders(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Host: "app.test", Endpoints: []string{addrOf(be)}})
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

	for _, tc := range []struct {
		name      string
		header    http.Header
		wantXFF   string
		wantReqID string // "" means a new UUID
	}{
		{"fresh", nil, "127.0.0.1", ""},
		{"replaces the client's", http.Header{"X-Forwarded-For": {"203.0.113.7, 10.0.0.1"}}, "127.0.0.1", ""},
		{"keeps a valid request id", http.Header{"X-Request-Id": {"abcdefghij0123456789-+/="}}, "127.0.0.1", "abcdefghij0123456789-+/="},
		{"replaces a short request id", http.Header{"X-Request-Id": {"short"}}, "127.0.0.1", ""},
		{"replaces a request id with markup", http.Header{"X-Request-Id": {"<script>alert(1)</script>xxxxxxxx"}}, "127.0.0.1", ""},
		{"overrides forwarded proto and host", http.Header{"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"evil.test"}}, "127.0.0.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeEcho(t, tr.do(t, http.MethodGet, "app.test:80", "/p?q=1", nil, tc.header))
			assert.Equal(t, "app.test:80", e.Host, "the app sees its own host")
			assert.Equal(t, "/p?q=1", e.URI)
			assert.Equal(t, []string{tc.wantXFF}, e.Header["X-Forwarded-For"])
			assert.Equal(t, []string{"127.0.0.1"}, e.Header["X-Real-Ip"])
			assert.Equal(t, []string{"http"}, e.Header["X-Forwarded-Proto"])
			assert.Equal(t, []string{"app.test:80"}, e.Header["X-Forwarded-Host"])
			require.Len(t, e.Header["X-Request-Id"], 1)
			if tc.wantReqID != "" {
				assert.Equal(t, tc.wantReqID, e.Header["X-Request-Id"][0])
			} else {
				assert.Regexp(t, uuid, e.Header["X-Request-Id"][0])
			}
		})
	}
}

func TestProxyStripsHopByHopHeaders(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})
	e := decodeEcho(t, tr.do(t, http.MethodGet, "app.test", "/", nil, http.Header{
		"Connection":          {"X-Secret, keep-alive"},
		"X-Secret":            {"for the router only"},
		"Keep-Alive":          {"timeout=5"},
		"Proxy-Authorization": {"Basic Zm9vOmJhcg=="},
		"Te":                  {"trailers"},
		"Trailer":             {"X-Whatever"},
		"X-Kept":              {"yes"},
	}))
	for _, h := range []string{"Connection", "X-Secret", "Keep-Alive", "Proxy-Authorization", "Te", "Trailer", "Upgrade"} {
		assert.NotContains(t, e.Header, h)
	}
	assert.Equal(t, []string{"yes"}, e.Header["X-Kept"])

	// And on the way back.
	raw := rawBackend(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: X-Hop, keep-alive\r\n"+
			"X-Hop: secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n"+
			"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nx-lower-case: v\r\n\r\nok")
		return true
	})
	tr2 := serveStatic(t, Config{}, Route{Endpoints: []string{raw}})
	res := tr2.do(t, http.MethodGet, "app.test", "/", nil, nil)
	assert.Equal(t, "ok", readAll(t, res))
	for _, h := range []string{"X-Hop", "Keep-Alive", "Proxy-Connection"} {
		assert.NotContains(t, res.Header, h)
	}
	assert.Equal(t, "yes", res.Header.Get("X-Kept"))
	assert.Equal(t, "v", res.Header.Get("X-Lower-Case"))
	assert.Equal(t, []string{"a=1", "b=2"}, res.Header["Set-Cookie"])
}

func TestProxyErrorPages(t *testing.T) {
	be := echoBackend(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	garbage := rawBackend(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, "HELLO THERE\r\n\r\n")
		return false
	})
	tr := serveStatic(t, Config{MaxBodyBytes: 10, RequestTimeout: 200 * time.Millisecond},
		Route{Host: "app.test", Endpoints: []string{addrOf(be)}},
		Route{Host: "idle.test"},
		Route{Host: "dead.test", Endpoints: []string{closedAddr(t), closedAddr(t)}},
		Route{Host: "slow.test", Endpoints: []string{addrOf(slow)}},
		Route{Host: "garbage.test", Endpoints: []string{garbage}},
	)
	for _, tc := range []struct {
		name, method, host string
		body               io.Reader
		accept             string
		status             int
		text               string
	}{
		{"unknown host", "GET", "nope.test", nil, "", 404, "There is no app at this address."},
		{"unknown host in a browser", "GET", "nope.test", nil, "text/html,*/*", 404, "<h1>404 No app here</h1>"},
		{"no endpoints", "GET", "idle.test", nil, "", 503, "This app has no running web processes. Scale it with: platform ps:scale web=1"},
		{"dead endpoints", "GET", "dead.test", nil, "", 502, "The app did not answer properly."},
		{"garbage answer", "GET", "garbage.test", nil, "", 502, "The app did not answer properly."},
		{"timeout", "GET", "slow.test", nil, "", 504, "The app did not answer in time."},
		{"body too large", "POST", "app.test", strings.NewReader("0123456789x"), "", 413, "The request body is larger than the router accepts."},
		{"chunked body too large", "POST", "app.test", io.MultiReader(strings.NewReader("0123456"), strings.NewReader("789x")), "", 413, "larger than the router accepts"},
		{"body at the limit", "POST", "app.test", strings.NewReader("0123456789"), "", 200, `"Body":"0123456789"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.accept != "" {
				h.Set("Accept", tc.accept)
			}
			res := tr.do(t, tc.method, tc.host, "/", tc.body, h)
			body := readAll(t, res)
			assert.Equal(t, tc.status, res.StatusCode)
			assert.Contains(t, body, tc.text)
			if tc.status != 200 {
				assert.NotEmpty(t, res.Header.Get("X-Request-Id"))
				assert.Contains(t, body, res.Header.Get("X-Request-Id"))
				assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			}
		})
	}
}

func TestProxyStartingBeforeSync(t *testing.T) {
	rt, err := New(Config{}, fakeClient())
	require.NoError(t, err)
	w := httptest.NewRecorder()
	rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://app.test/", nil))
	assert.Equal(t, http.StatusServiceUnavailable, w.Code)
	assert.Contains(t, w.Body.String(), "The router is starting")
	assert.Error(t, rt.Ready(context.Background()))
	assert.False(t, rt.HasSynced())
}

// acceptAndClose is a backend that takes the connection and closes it
// without answering, as a crashing process does.
func acceptAndClose(t *testing.T) string {
	return rawBackend(t, func(net.Conn, string) bool { return false })
}

// staticLabels select the series of a static router's routes.
var staticLabels = map[string]string{"ingress": "static"}

func TestProxyRetries(t *testing.T) {
	be := echoBackend(t)
	for _, tc := range []struct {
		name        string
		dead        func(*testing.T) string
		method      string
		body        string
		wantStatus  int
		wantRetries float64
	}{
		{"GET after a refused connection", closedAddr, "GET", "", 200, 1},
		{"POST after a refused connection: nothing was sent", closedAddr, "POST", "data", 200, 1},
		{"GET after a connection closed unanswered", acceptAndClose, "GET", "", 200, 1},
		{"DELETE after a connection closed unanswered", acceptAndClose, "DELETE", "", 200, 1},
		{"POST without body after a connection closed unanswered", acceptAndClose, "POST", "", 200, 1},
		{"POST with a body after a connection closed unanswered", acceptAndClose, "POST", "data", 502, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Round-robin starts at the first endpoint: the dead one.
			tr := serveStatic(t, Config{}, Route{Endpoints: []string{tc.dead(t), addrOf(be)}})
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			res := tr.do(t, tc.method, "app.test", "/", body, nil)
			got := readAll(t, res)
			require.Equal(t, tc.wantStatus, res.StatusCode, got)
			if tc.wantStatus == 200 {
				assert.Contains(t, got, fmt.Sprintf(`"Body":%q`, tc.body))
			}
			labels := map[string]string{"host": "", "ingress": "static"}
			assert.Equal(t, tc.wantRetries, counter(t, tr.reg, "platform_router_retries_total", labels))
			assert.Equal(t, 1.0, counter(t, tr.reg, "platform_router_upstream_errors_total", labels))
		})
	}

	t.Run("retries are bounded", func(t *testing.T) {
		eps := []string{closedAddr(t), closedAddr(t), closedAddr(t), closedAddr(t), addrOf(be)}
		tr := serveStatic(t, Config{Retries: 2}, Route{Endpoints: eps})
		res := tr.do(t, "GET", "app.test", "/", nil, nil)
		_ = readAll(t, res)
		assert.Equal(t, http.StatusBadGateway, res.StatusCode)
		assert.Equal(t, 2.0, counter(t, tr.reg, "platform_router_retries_total", staticLabels))
	})

	t.Run("a refusing endpoint is passed over for a while", func(t *testing.T) {
		tr := serveStatic(t, Config{}, Route{Endpoints: []string{closedAddr(t), addrOf(be)}})
		for range 6 {
			res := tr.do(t, "GET", "app.test", "/", nil, nil)
			_ = readAll(t, res)
			require.Equal(t, http.StatusOK, res.StatusCode)
		}
		assert.Equal(t, 1.0, counter(t, tr.reg, "platform_router_upstream_errors_total", staticLabels))
	})
}

func TestProxyReusesBackendConnections(t *testing.T) {
	var conns atomic.Int32
	be := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	be.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	be.Start()
	t.Cleanup(be.Close)
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})
	for range 20 {
		res := tr.do(t, "GET", "app.test", "/", nil, nil)
		assert.Equal(t, "ok", readAll(t, res))
	}
	assert.Equal(t, int32(1), conns.Load())
}

// TestProxyPromptAnswers: the router waits for a backend's answer from
// before it sends the request (bconn.send), so an answer that arrives
// at once, while the write is still returning, wakes it as surely as a
// late one. A lost wake-up would show as a 504 after the request timeout.
func TestProxyPromptAnswers(t *testing.T) {
	be := rawBackend(t, func(c net.Conn, _ string) bool {
		_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		return err == nil
	})
	tr := serveStatic(t, Config{RequestTimeout: 5 * time.Second}, Route{Endpoints: []string{be}})
	const clients, each = 8, 250
	var wg sync.WaitGroup
	statuses := make(chan int, clients*each)
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", tr.addr)
			if !assert.NoError(t, err) {
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for range each {
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.test\r\n\r\n"); !assert.NoError(t, err) {
					return
				}
				res, err := http.ReadResponse(br, nil)
				if !assert.NoError(t, err) {
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				statuses <- res.StatusCode
			}
		})
	}
	wg.Wait()
	close(statuses)
	n := 0
	for code := range statuses {
		require.Equal(t, http.StatusOK, code, "answer %d", n)
		n++
	}
	require.Equal(t, clients*each, n)

	// The requests went the waiting way: the pooled connections have
	// their raw handle.
	tr.mu.Lock()
	defer tr.mu.Unlock()
	pooled := 0
	for _, u := range tr.upstreams {
		u.mu.Lock()
		for _, bc := range u.idle {
			assert.NotNil(t, bc.raw)
			pooled++
		}
		u.mu.Unlock()
	}
	assert.Positive(t, pooled)
}

// TestProxyStaleKeepAlive: a backend that closes an idle connection (its
// keep-alive timeout ran out) costs no error, whatever the method.
func TestProxyStaleKeepAlive(t *testing.T) {
	var closed atomic.Int32
	be := rawBackend(t, func(c net.Conn, head string) bool {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		_ = c.Close() // without saying so
		closed.Add(1)
		return false
	})
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{be}})
	for i, method := range []string{"GET", "GET", "POST", "PUT", "POST"} {
		var body io.Reader
		if method != "GET" {
			body = strings.NewReader("data")
		}
		res := tr.do(t, method, "app.test", "/", body, nil)
		assert.Equal(t, "ok", readAll(t, res), "request %d, %s", i, method)
		require.Eventually(t, func() bool { return closed.Load() == int32(i+1) }, 5*time.Second, time.Millisecond)
		require.Eventually(t, func() bool { return idleClosedByBackend(tr.Router) }, 5*time.Second, time.Millisecond,
			"the backend's close reaches the router's socket")
	}
	assert.Equal(t, 0.0, counter(t, tr.reg, "platform_router_retries_total", staticLabels), "a new connection to the same endpoint is no retry")
	assert.Equal(t, 0.0, counter(t, tr.reg, "platform_router_upstream_errors_total", staticLabels), "nor an endpoint's fault")
}

// idleClosedByBackend reports whether rt has one idle backend connection,
// and its backend closed it as far as the router's socket shows.
func idleClosedByBackend(rt *Router) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var idle []*bconn
	for _, u := range rt.upstreams {
		u.mu.Lock()
		idle = append(idle, u.idle...)
		u.mu.Unlock()
	}
	return len(idle) == 1 && !alive(idle[0].nc)
}

func TestProxyBodies(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})

	t.Run("content length", func(t *testing.T) {
		e := decodeEcho(t, tr.do(t, "PUT", "app.test", "/", strings.NewReader("hello"), nil))
		assert.Equal(t, "hello", e.Body)
		assert.Equal(t, int64(5), e.ContentLength)
	})
	t.Run("chunked", func(t *testing.T) {
		big := strings.Repeat("0123456789", 10000)
		e := decodeEcho(t, tr.do(t, "POST", "app.test", "/", io.MultiReader(strings.NewReader(big), strings.NewReader("!")), nil))
		assert.Equal(t, big+"!", e.Body)
		assert.Equal(t, []string{"chunked"}, e.TransferEncoding)
	})
	t.Run("empty POST", func(t *testing.T) {
		e := decodeEcho(t, tr.do(t, "POST", "app.test", "/", nil, nil))
		assert.Equal(t, "", e.Body)
		assert.Equal(t, int64(0), e.ContentLength)
	})
	t.Run("expect continue", func(t *testing.T) {
		e := decodeEcho(t, tr.do(t, "POST", "app.test", "/", strings.NewReader("hello"), http.Header{"Expect": {"100-continue"}}))
		assert.Equal(t, "hello", e.Body)
		assert.NotContains(t, e.Header, "Expect")
	})
}

func TestProxyResponses(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			_, _ = io.WriteString(w, big)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part two")
			w.Header().Set("X-Sum", "42")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/untyped":
			w.Header()["Content-Type"] = nil
			_, _ = io.WriteString(w, "<html>not sniffed</html>")
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "hello")
		}
	}))
	t.Cleanup(be.Close)
	http10 := rawBackend(t, func(c net.Conn, _ string) bool {
		_, _ = io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		return false
	})
	tr := serveStatic(t, Config{},
		Route{Host: "app.test", Endpoints: []string{addrOf(be)}},
		Route{Host: "old.test", Endpoints: []string{http10}})

	for _, tc := range []struct {
		name, method, host, path string
		status                   int
		body                     string
		header                   map[string]string
	}{
		{"plain", "GET", "app.test", "/", 200, "hello", map[string]string{"Content-Type": "text/plain", "Content-Length": "5"}},
		{"head", "HEAD", "app.test", "/", 200, "", map[string]string{"Content-Length": "5"}},
		{"large", "GET", "app.test", "/big", 200, big, nil},
		{"chunked with trailer", "GET", "app.test", "/chunked", 200, "part one, part two", nil},
		{"no content", "GET", "app.test", "/nocontent", 204, "", nil},
		{"not modified", "GET", "app.test", "/notmodified", 304, "", map[string]string{"Etag": `"v1"`}},
		{"redirect", "GET", "app.test", "/redirect", 302, "", map[string]string{"Location": "/elsewhere"}},
		{"no content type stays none", "GET", "app.test", "/untyped", 200, "<html>not sniffed</html>", map[string]string{"Content-Type": ""}},
		{"HTTP/1.0 until close", "GET", "old.test", "/", 200, "until the end", nil},
		{"HTTP/1.0 again", "GET", "old.test", "/", 200, "until the end", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := tr.do(t, tc.method, tc.host, tc.path, nil, nil)
			body := readAll(t, res)
			assert.Equal(t, tc.status, res.StatusCode)
			if tc.path != "/redirect" {
				assert.Equal(t, tc.body, body)
			}
			for k, v := range tc.header {
				assert.Equal(t, v, res.Header.Get(k), k)
			}
		})
	}
}

// released waits, in a test backend's handler, until the test closes
// release (true) or the router gives up on r (false).
func released(r *http.Request, release <-chan struct{}) bool {
	select {
	case <-release:
		return true
	case <-r.Context().Done():
		return false
	}
}

func TestProxyStreamsPromptly(t *testing.T) {
	release := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		if !released(r, release) {
			return
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(be.Close)
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})

	res := tr.do(t, "GET", "app.test", "/events", nil, nil)
	defer res.Body.Close()
	assert.Equal(t, "text/event-stream", res.Header.Get("Content-Type"))
	br := bufio.NewReader(res.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		assert.Equal(t, "data: one\n", line, "the first event arrives while the backend waits")
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was not flushed to the client")
	}
	close(release)
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	assert.Equal(t, "\ndata: two\n\n", string(rest))
}

func TestProxyClientGoneFreesBackend(t *testing.T) {
	backendGot, backendDone := make(chan struct{}), make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(backendGot)
		<-r.Context().Done() // the router closed the connection
		close(backendDone)
	}))
	t.Cleanup(be.Close)
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})

	c, err := net.Dial("tcp", tr.addr)
	require.NoError(t, err)
	_, err = io.WriteString(c, "GET /long-poll HTTP/1.1\r\nHost: app.test\r\n\r\n")
	require.NoError(t, err)
	<-backendGot
	require.NoError(t, c.Close())
	select {
	case <-backendDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend request was not cut when the client went away")
	}
	// The counter and the access log line are written after the backend
	// request ends, one after the other; wait for both.
	require.Eventually(t, func() bool {
		return counter(t, tr.reg, "platform_router_requests_total", map[string]string{"ingress": "static", "code": "4xx"}) == 1 &&
			strings.Contains(tr.logs.String(), "status=499")
	}, 5*time.Second, 10*time.Millisecond, "counted as 4xx and logged as 499; log: %s", tr.logs.String())
}

// TestServerProxiesRawRequests: requests only a raw client sends reach the
// backend as they should through the router.
func TestServerProxiesRawRequests(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Host: "app.test", Endpoints: []string{addrOf(be)}})
	rc := h1test.Dial(t, tr.addr)

	rc.Send(t, "POST /up?q=1 HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n"+
		"5;ext\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
	res, body := rc.Response(t, "POST")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	var e echo
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	assert.Equal(t, "hello world", e.Body)
	assert.Equal(t, []string{"chunked"}, e.TransferEncoding)
	assert.Equal(t, "/up?q=1", e.URI)
	assert.Equal(t, []string{"1", "2"}, e.Header["X-A"])

	rc.Send(t, "GET http://app.test/abs?x=y HTTP/1.1\r\nHost: other.test\r\n\r\n")
	res, body = rc.Response(t, "GET")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	assert.Equal(t, "app.test", e.Host, "an absolute-form target's host wins")
	assert.Equal(t, "/abs?x=y", e.URI)

	rc.Send(t, "GET /old HTTP/1.0\r\nHost: app.test\r\n\r\n")
	res, body = rc.Response(t, "GET")
	require.Equal(t, http.StatusOK, res.StatusCode, body)
	assert.Equal(t, "HTTP/1.0", res.Proto)
	rc.Closed(t)
}

// TestProxyCountsRefusedRequests: a request the server refuses before
// routing (here, a smuggling attempt) is counted and logged as unrouted.
func TestProxyCountsRefusedRequests(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Host: "app.test", Endpoints: []string{addrOf(be)}})

	c, err := net.Dial("tcp", tr.addr)
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_ = res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)

	require.Eventually(t, func() bool {
		return counter(t, tr.reg, "platform_router_requests_total", map[string]string{"host": "", "ingress": "", "code": "4xx"}) == 1
	}, 5*time.Second, 10*time.Millisecond, "counted as an unrouted 4xx")
	assert.Contains(t, tr.logs.String(), `msg="request refused" status=400 reason="both Content-Length and Transfer-Encoding" client=127.0.0.1:`)
	assert.Zero(t, counter(t, tr.reg, "platform_router_requests_total", map[string]string{"host": "app.test", "code": "2xx"}), "nothing reached the app")
}

func TestProxyWebSocket(t *testing.T) {
	be := httptest.NewServer(websocket.Handler(func(ws *websocket.Conn) {
		_, _ = io.Copy(ws, ws)
	}))
	t.Cleanup(be.Close)
	tr := serveStatic(t, Config{}, Route{Host: "app.test", Endpoints: []string{addrOf(be)}})

	cfg, err := websocket.NewConfig("ws://app.test/ws", "http://app.test/")
	require.NoError(t, err)
	c, err := net.Dial("tcp", tr.addr)
	require.NoError(t, err)
	ws, err := websocket.NewClient(cfg, c)
	require.NoError(t, err)
	defer ws.Close()
	for _, msg := range []string{"hello", "again", strings.Repeat("big ", 10000)} {
		require.NoError(t, websocket.Message.Send(ws, msg))
		// The echo may come back in several frames.
		var got strings.Builder
		for got.Len() < len(msg) {
			var frame string
			require.NoError(t, websocket.Message.Receive(ws, &frame))
			got.WriteString(frame)
		}
		assert.True(t, got.String() == msg, "echo of a %d-byte message", len(msg))
	}
	require.NoError(t, ws.Close())
	require.Eventually(t, func() bool {
		return counter(t, tr.reg, "platform_router_requests_total", map[string]string{"ingress": "static", "code": "1xx"}) == 1
	}, 5*time.Second, 10*time.Millisecond)
}

func TestProxyUpgradeRefused(t *testing.T) {
	be := echoBackend(t) // answers 200: no switch
	tr := serveStatic(t, Config{}, Route{Endpoints: []string{addrOf(be)}})
	e := decodeEcho(t, tr.do(t, "GET", "app.test", "/", nil, http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}))
	assert.Equal(t, []string{"websocket"}, e.Header["Upgrade"], "the upgrade is asked of the backend")
}

func TestProxyAccessLogAndMetrics(t *testing.T) {
	be := echoBackend(t)
	tr := serveStatic(t, Config{}, Route{Host: "app.test", Endpoints: []string{addrOf(be)}})
	for range 3 {
		res := tr.do(t, "GET", "app.test", "/hello", nil, http.Header{"X-Request-Id": {"req-0123456789abcdefghij"}})
		_ = readAll(t, res)
	}
	res := tr.do(t, "GET", "nope.test", "/", nil, nil)
	_ = readAll(t, res)

	// An exchange is counted and logged once its response is written, which
	// may be just after the client has read it.
	require.Eventually(t, func() bool {
		return counter(t, tr.reg, "platform_router_requests_total", map[string]string{"host": "", "ingress": "", "code": "4xx"}) == 1 &&
			strings.Contains(tr.logs.String(), "host=nope.test path=/ status=404")
	}, 5*time.Second, 10*time.Millisecond, "the unrouted request is counted and logged")
	logs := tr.logs.String()
	assert.Contains(t, logs, `msg=request method=GET host=app.test path=/hello status=200`)
	assert.Contains(t, logs, "request_id=req-0123456789abcdefghij ingress=static service=static/0 upstream="+addrOf(be))
	assert.Equal(t, 3, strings.Count(logs, "path=/hello status=200"))
	assert.Equal(t, 3.0, counter(t, tr.reg, "platform_router_requests_total", map[string]string{"host": "app.test", "ingress": "static", "code": "2xx"}))

	t.Run("off", func(t *testing.T) {
		tr := serveStatic(t, Config{DisableAccessLog: true}, Route{Endpoints: []string{addrOf(be)}})
		res := tr.do(t, "GET", "app.test", "/", nil, nil)
		_ = readAll(t, res)
		require.Eventually(t, func() bool {
			return counter(t, tr.reg, "platform_router_requests_total", map[string]string{"ingress": "static", "code": "2xx"}) == 1
		}, 5*time.Second, 10*time.Millisecond, "the request is counted")
		assert.NotContains(t, tr.logs.String(), "msg=request")
	})
}

func TestServeShutsDownGracefully(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		if !released(r, release) {
			return
		}
		_, _ = io.WriteString(w, "finished")
	}))
	t.Cleanup(be.Close)
	rt, err := NewStatic(Config{}, []Route{{Endpoints: []string{addrOf(be)}}})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- rt.Serve(ctx, ln) }()

	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		_ = res.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel()
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond, "no longer listening")
	close(release)
	assert.Equal(t, "finished", <-got, "the request in flight completes")
	require.NoError(t, <-served)
}

func TestNewValidatesConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"bad class", Config{Class: "Not A Class"}, "invalid ingress class"},
		{"negative timeout", Config{RequestTimeout: -time.Second}, "invalid request timeout"},
		{"negative idle conns", Config{MaxIdleConnsPerEndpoint: -1}, "invalid max idle connections"},
		{"negative body idle timeout", Config{BodyIdleTimeout: -time.Second}, "invalid body idle timeout"},
		{"negative write timeout", Config{WriteTimeout: -time.Second}, "invalid write timeout"},
		{"invalid trusted proxy", Config{TrustedProxies: []netip.Prefix{{}}}, "invalid trusted proxy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg, fakeClient())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := New(Config{}, nil)
	assert.ErrorContains(t, err, "no kubernetes client")
	_, err = NewStatic(Config{}, []Route{{Endpoints: []string{"no-port"}}})
	assert.ErrorContains(t, err, "route endpoint")

	rt, err := NewStatic(Config{}, nil)
	require.NoError(t, err)
	assert.Equal(t, DefaultClass, rt.cfg.Class)
	assert.Equal(t, 2, rt.cfg.Retries)
	rt, err = NewStatic(Config{Retries: -1, MaxBodyBytes: -1}, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, rt.cfg.Retries)
	assert.Equal(t, int64(-1), rt.cfg.MaxBodyBytes)
}

// TestProxyCutResponse: a backend that dies mid-body makes the client see
// a broken response, not a short complete one.
func TestProxyCutResponse(t *testing.T) {
	for _, tc := range []struct{ name, response string }{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := rawBackend(t, func(c net.Conn, _ string) bool {
				_, _ = io.WriteString(c, tc.response)
				return false
			})
			tr := serveStatic(t, Config{}, Route{Endpoints: []string{be}})
			res := tr.do(t, "GET", "app.test", "/", nil, nil)
			defer res.Body.Close()
			assert.Equal(t, http.StatusOK, res.StatusCode)
			_, err := io.ReadAll(res.Body)
			assert.Error(t, err)
			require.Eventually(t, func() bool {
				return counter(t, tr.reg, "platform_router_upstream_errors_total", staticLabels) == 1
			}, 5*time.Second, 10*time.Millisecond)
		})
	}
}
