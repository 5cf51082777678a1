package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(ok.Close)
	unready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"unavailable"}`, http.StatusServiceUnavailable)
	}))
	t.Cleanup(unready.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	tests := []struct {
		name    string
		targets []string
		wantErr string
	}{
		{"http 200", []string{ok.URL + "/readyz"}, ""},
		{"http 503", []string{unready.URL + "/readyz"}, "503 Service Unavailable"},
		{"tcp listening", []string{"tcp://" + ok.Listener.Addr().String()}, ""},
		{"tcp refused", []string{"tcp://" + closed}, "refused"},
		{"every target", []string{ok.URL, "tcp://" + closed}, "refused"},
		{"other scheme", []string{"unix:///run/x.sock"}, "http:// URL or tcp://"},
		{"none", nil, "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(context.Background(), tc.targets)
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
