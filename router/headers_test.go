package router

import (
	"bufio"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadResponseHead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		fail     failure
		status   int
		cl       int64
		chunked  bool
		reusable bool
		header   http.Header
	}{
		{name: "plain", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello",
			status: 200, cl: 5, reusable: true,
			header: http.Header{"Content-Type": {"text/plain"}, "Content-Length": {"5"}}},
		{name: "no reason phrase, bare LF, odd case", in: "HTTP/1.1 204\ncontent-TYPE:  x \n\n",
			status: 204, cl: -1, reusable: true, header: http.Header{"Content-Type": {"x"}}},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, cl: -1, chunked: true, reusable: true, header: http.Header{}},
		{name: "chunked wins over length", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
			status: 200, cl: -1, chunked: true, reusable: true, header: http.Header{}},
		{name: "repeated equal lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
			status: 200, cl: 3, reusable: true, header: http.Header{"Content-Length": {"3"}}},
		{name: "close", in: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			status: 200, cl: 0, header: http.Header{"Content-Length": {"0"}}},
		{name: "HTTP/1.0 closes", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			status: 200, cl: 0, header: http.Header{"Content-Length": {"0"}}},
		{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			status: 200, cl: 0, reusable: true, header: http.Header{"Content-Length": {"0"}}},
		{name: "interim responses skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
			status: 201, cl: 0, reusable: true, header: http.Header{"Content-Length": {"0"}}},
		{name: "connection-listed header dropped", in: "HTTP/1.1 200 OK\r\nConnection: x-hop\r\nX-Hop: 1\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n",
			status: 200, cl: -1, reusable: true, header: http.Header{"Set-Cookie": {"a", "b"}}},
		{name: "nothing", in: "", fail: failNoResponse},
		{name: "cut in the head", in: "HTTP/1.1 200 OK\r\nContent-", fail: failBadHead},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", fail: failBadHead},
		{name: "HTTP/2", in: "HTTP/2 200\r\n\r\n", fail: failBadHead},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", fail: failBadHead},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", fail: failBadHead},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", fail: failBadHead},
		{name: "unknown transfer coding", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", fail: failBadHead},
		{name: "space before colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n", fail: failBadHead},
		{name: "folded line", in: "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", fail: failBadHead},
		{name: "head too large", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Big: "+strings.Repeat("y", 1000)+"\r\n", 70) + "\r\n", fail: failBadHead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bc := &bconn{br: bufio.NewReaderSize(strings.NewReader(tc.in), backendReadBufSize)}
			h := http.Header{}
			head, fail, err := readResponseHead(bc, h)
			require.Equal(t, tc.fail, fail, "err: %v", err)
			if tc.fail != failNone {
				return
			}
			assert.Equal(t, tc.status, head.status)
			assert.Equal(t, tc.cl, head.contentLength)
			assert.Equal(t, tc.chunked, head.chunked)
			assert.Equal(t, tc.reusable, head.reusable())
			assert.Equal(t, tc.header, h)
		})
	}
}

func TestRequestID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	var digits [36]map[byte]bool // the values seen at each position
	for range 1000 {
		id := newRequestID()
		require.True(t, validRequestID(id), id)
		require.Regexp(t, uuid, id, "a version 4 UUID")
		require.False(t, seen[id])
		seen[id] = true
		for i := range digits {
			if digits[i] == nil {
				digits[i] = map[byte]bool{}
			}
			digits[i][id[i]] = true
		}
	}
	for i, d := range digits {
		switch i {
		case 8, 13, 18, 23, 14: // the dashes and the version
			assert.Len(t, d, 1, "position %d", i)
		case 19: // the variant
			assert.Len(t, d, 4, "position %d", i)
		default:
			assert.Len(t, d, 16, "position %d: every hex digit comes up", i)
		}
	}
	assert.Equal(t, "abcdefghijklmnopqrstuvwxyz", requestID(http.Header{"X-Request-Id": {"abcdefghijklmnopqrstuvwxyz"}}))
	assert.NotEqual(t, "a b c d e f g h i j k l", requestID(http.Header{"X-Request-Id": {"a b c d e f g h i j k l"}}))
	assert.Len(t, requestID(http.Header{"X-Request-Id": {strings.Repeat("a", 201)}}), 36)
}

func TestUpgradeOf(t *testing.T) {
	assert.Equal(t, "websocket", upgradeOf(http.Header{"Connection": {"keep-alive, Upgrade"}, "Upgrade": {"websocket"}}))
	assert.Equal(t, "", upgradeOf(http.Header{"Upgrade": {"websocket"}}), "Upgrade without Connection: upgrade")
}

func TestClientIP(t *testing.T) {
	assert.Equal(t, "10.0.0.1", clientIP("10.0.0.1:5555"))
	assert.Equal(t, "::1", clientIP("[::1]:5555"))
}
