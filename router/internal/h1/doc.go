// Package h1 is the router's HTTP/1.1 server, at the wire level: the
// accept loop and one goroutine per client connection, the strict parsing
// of request heads and bodies (anything ambiguous about where a request
// ends, the way to request smuggling, is refused rather than guessed at),
// keep-alive, pipelining, the watch for clients that go away, timeouts
// and graceful shutdown. Per request it allocates next to nothing and
// makes no background read of the client connection, which is most of
// what net/http's server costs a proxy whose handler is cheap.
//
// It serves one http.Handler, and only as much of http.ResponseWriter and
// http.Request as the router's proxy uses. It also holds the HTTP/1.1
// syntax the proxy shares with it to read backend responses: canonical
// header names, Content-Length values and Connection lists.
//
// It does not own routing, proxying, metrics or the access log (the
// router does, in its handler and the Refused hook), nor TLS, trailers,
// interim (1xx) responses, content sniffing or HTTP/2. It imports nothing
// of the platform's.
package h1
