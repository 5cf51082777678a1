// Package h2 is the router's HTTP/2 server (RFC 9113), for the clients
// that choose HTTP/2 by ALPN on the router's TLS port. It reads frames
// with golang.org/x/net/http2's Framer and HPACK decoder and writes them
// with its Framer and HPACK encoder; the rest is its own: the connection
// and stream states, flow control both ways, the settings, pings,
// resets and GOAWAY, the request bodies, and the http.ResponseWriter its
// handler writes to.
//
// What it saves over net/http's HTTP/2 server is goroutine hand-offs. A
// connection has one goroutine that reads frames and one per stream
// running the handler; there is no writer goroutine. A handler writes its
// frames itself, under the connection's lock, into one buffer, and the
// last of the writers then waiting flushes it: responses that finish
// together go out in one TLS record, and a response without a flush
// mid-way is one HEADERS and one DATA frame, written once.
//
// Every client is hostile. The server bounds what a connection may hold:
// streams (by handlers still running, so that streams reset at once do not
// make room for more: the rapid-reset attack), header lists, buffered
// request bodies (by the flow-control windows it grants, returned only as
// the handler reads), and time (the client preface, idle connections,
// stalled bodies and stalled readers of responses). A malformed request is
// reset; a connection that breaks the protocol is told why by GOAWAY and
// closed. Unknown frame types and priorities are ignored, as RFC 9113
// allows. The reading goroutine writes its own answers (SETTINGS and
// PING acknowledgements, WINDOW_UPDATE, RST_STREAM), so a client that
// stops reading while it keeps sending stalls its own connection, for
// the write timeout at most.
//
// It serves one http.Handler with as much of http.Request and
// http.ResponseWriter as the router's proxy uses (Flusher, trailers by
// http.TrailerPrefix or the Trailer header, the OnClientGone watch of
// package h1), and nothing the router does not: server push, extended
// CONNECT (WebSockets over HTTP/2) and interim responses but 100 Continue.
// It imports nothing of the platform's.
package h2
