package router

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// A page is what the router answers itself, in plain text or HTML: short,
// true, and saying what to do.
type page struct {
	title string
	text  string
}

var (
	pageNoApp = page{"No app here",
		"There is no app at this address. Check the address, or add it to an app as a domain."}
	pageNoProcesses = page{"App not running",
		"This app has no running web processes. Scale it with: platform ps:scale web=1"}
	pageStarting = page{"Router starting",
		"The router is starting and does not know the apps yet. Try again in a moment."}
	pageTooLarge = page{"Request too large",
		"The request body is larger than the router accepts."}
	pageBodyTimeout = page{"Request timeout",
		"The request body stopped coming before it was complete. Check the connection and send the request again."}
	pageBadGateway = page{"App error",
		"The app did not answer properly. Try again; if it keeps happening, look at the app's logs: platform logs"}
	pageTimeout = page{"App timeout",
		"The app did not answer in time. Try again; if it keeps happening, look at the app's logs: platform logs"}
)

// page answers the request with p, as HTML for a browser and plain text
// for anything else, with the request id to quote.
func (ex *exchange) page(status int, p page) {
	ex.status = status
	h := ex.w.Header()
	h["Cache-Control"] = []string{"no-store"}
	h["X-Request-Id"] = []string{ex.reqID}
	var body string
	if strings.Contains(ex.r.Header.Get("Accept"), "text/html") {
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		body = fmt.Sprintf(pageHTML, p.title, status, p.title, html.EscapeString(p.text), ex.reqID)
	} else {
		h["Content-Type"] = []string{"text/plain; charset=utf-8"}
		body = fmt.Sprintf("%d %s\n\n%s\n\nRequest ID: %s\n", status, p.title, p.text, ex.reqID)
	}
	h["Content-Length"] = []string{fmt.Sprint(len(body))}
	ex.w.WriteHeader(status)
	if ex.r.Method != http.MethodHead {
		_, _ = ex.w.Write([]byte(body))
	}
}

// The request id is safe in HTML: requestID allows no markup characters.
const pageHTML = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>%s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:15vh auto;padding:0 1em;color:#222}
h1{font-size:1.4em}small{color:#777}</style></head>
<body><h1>%d %s</h1><p>%s</p><p><small>Request ID: %s</small></p></body>
</html>
`
