package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfig(t *testing.T) {
	stack := []string{"--kubeconfig", "/k", "--pod-cidr", "10.217.0.0/24", "--node-ip", "10.217.0.1"}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    func(*config)
		wantErr string
	}{
		{
			name: "the local stack's flags",
			args: stack,
			want: func(c *config) {
				c.Kubeconfig = "/k"
				c.Net = stackNet
			},
		},
		{
			name: "from the environment",
			env: map[string]string{
				"KUBECONFIG": "/k", "PLATFORM_NETPOL_POD_CIDR": "10.217.0.7/24", "PLATFORM_NETPOL_NODE_IP": "10.217.0.1",
				"PLATFORM_NETPOL_BRIDGE": "plat0", "PLATFORM_NETPOL_HEALTH_ADDR": "[::1]:9", "PLATFORM_NETPOL_LOG_LEVEL": "debug",
			},
			want: func(c *config) {
				c.Kubeconfig = "/k"
				c.Net = stackNet
				c.HealthAddr = "[::1]:9"
				c.LogLevel = -4
			},
		},
		{
			name: "flags win over the environment",
			args: append(stack, "--bridge", "br1", "--health-addr", "", "--debounce", "1s", "--resync", "1m"),
			env:  map[string]string{"PLATFORM_NETPOL_BRIDGE": "plat9", "PLATFORM_NETPOL_POD_CIDR": "10.9.0.0/16"},
			want: func(c *config) {
				c.Kubeconfig = "/k"
				c.Net = stackNet
				c.Net.Bridge = "br1"
				c.HealthAddr = ""
				c.Debounce, c.Resync = time.Second, time.Minute
			},
		},
		{
			name: "cleanup needs nothing else",
			args: []string{"--cleanup"},
			want: func(c *config) {
				c.Net = network{Bridge: "plat0"}
				c.Cleanup = true
			},
		},
		{name: "no pod network", args: []string{"--kubeconfig", "/k"}, wantErr: `--pod-cidr "": want an IPv4 prefix`},
		{name: "an IPv6 pod network", args: []string{"--pod-cidr", "fd00::/64"}, wantErr: "want an IPv4 prefix"},
		{name: "a bad node address", args: append(stack, "--node-ip", "10.217.0"), wantErr: `--node-ip "10.217.0"`},
		{name: "a bad bridge", args: append(stack, "--bridge", "a-name-too-long0"), wantErr: "not an interface name"},
		{name: "health not on loopback", args: append(stack, "--health-addr", "0.0.0.0:7890"), wantErr: "want a loopback host:port"},
		{name: "health without a port", args: append(stack, "--health-addr", "127.0.0.1"), wantErr: "want a loopback host:port"},
		{name: "no debounce", args: append(stack, "--debounce", "0s"), wantErr: "--debounce 0s"},
		{name: "a resync too often", args: append(stack, "--resync", "10ms"), wantErr: "--resync 10ms"},
		{name: "a bad log level", args: append(stack, "--log-level", "loud"), wantErr: "--log-level"},
		{name: "an argument", args: append(stack, "extra"), wantErr: `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := loadConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			want := config{
				HealthAddr: "127.0.0.1:7890",
				Debounce:   100 * time.Millisecond,
				Resync:     30 * time.Second,
			}
			tc.want(&want)
			assert.Equal(t, want, got)
		})
	}
}
