package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/platform-paas/platform/server/api"
)

func TestParseScaleArgs(t *testing.T) {
	qs := func(typ string, q int) api.ProcessUpdate { return api.ProcessUpdate{Type: typ, Quantity: new(q)} }
	ss := func(typ, s string) api.ProcessUpdate { return api.ProcessUpdate{Type: typ, Size: new(s)} }
	qss := func(typ string, q int, s string) api.ProcessUpdate {
		return api.ProcessUpdate{Type: typ, Quantity: new(q), Size: new(s)}
	}
	tests := []struct {
		name string
		args []string
		want []api.ProcessUpdate
	}{
		{"nothing", nil, nil},
		{"a quantity", []string{"web=3"}, []api.ProcessUpdate{qs("web", 3)}},
		{"zero", []string{"worker=0"}, []api.ProcessUpdate{qs("worker", 0)}},
		{"the most", []string{"web=1000"}, []api.ProcessUpdate{qs("web", 1000)}},
		{"leading zeros", []string{"web=007"}, []api.ProcessUpdate{qs("web", 7)}},
		{"a quantity and a size", []string{"web=2:large"}, []api.ProcessUpdate{qss("web", 2, "large")}},
		{"a size", []string{"worker=small"}, []api.ProcessUpdate{ss("worker", "small")}},
		{"a size in capitals", []string{"web=Standard"}, []api.ProcessUpdate{ss("web", "standard")}},
		{"several types, in order", []string{"worker=1", "web=3", "clock=0:small"},
			[]api.ProcessUpdate{qs("worker", 1), qs("web", 3), qss("clock", 0, "small")}},
		{"a type twice: the last quantity wins", []string{"web=3", "worker=1", "web=2"},
			[]api.ProcessUpdate{qs("web", 2), qs("worker", 1)}},
		{"a type twice: fields merge", []string{"web=3", "web=large"}, []api.ProcessUpdate{qss("web", 3, "large")}},
		{"a type twice: a size kept", []string{"web=2:small", "web=5"}, []api.ProcessUpdate{qss("web", 5, "small")}},
		{"the longest type", []string{"a234567890123456=1"}, []api.ProcessUpdate{qs("a234567890123456", 1)}},
		{"a type with digits and dashes", []string{"web-2x=1"}, []api.ProcessUpdate{qs("web-2x", 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseScaleArgs(tt.args)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseScaleArgsRefusals(t *testing.T) {
	tests := []struct {
		arg  string
		want string
	}{
		{"web", `"web" is not TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small`},
		{"web:3", `"web:3" is not TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small`},
		{"web+1", `"web+1": relative scaling is not supported: give the quantity, as in web=3`},
		{"web=+1", `"web=+1": relative scaling is not supported: give the quantity, as in web=3`},
		{"web=-1", `"web=-1": the quantity of web must be a whole number from 0 to 1000`},
		{"web=1001", `"web=1001": the quantity of web must be a whole number from 0 to 1000`},
		{"web=99999999999999999999999", `"web=99999999999999999999999": the quantity of web must be a whole number from 0 to 1000`},
		{"web=1.5", `"web=1.5": the quantity of web must be a whole number from 0 to 1000`},
		{"web=", `"web=" gives web no quantity or size: use TYPE=QUANTITY, TYPE=QUANTITY:SIZE or TYPE=SIZE, as in web=2, web=2:large or worker=small`},
		{"web=:large", `"web=:large": the quantity of web must be a whole number from 0 to 1000`},
		{"web=2:", `"web=2:": "" is not a size: use small, standard, large`},
		{"web=2:huge", `"web=2:huge": "huge" is not a size: use small, standard, large`},
		{"web=large:2", `"web=large:2": the quantity of web must be a whole number from 0 to 1000`},
		{"web=huge", `"web=huge": "huge" is neither a quantity (a whole number from 0 to 1000, as in web=3) nor a size (small, standard, large, as in web=large)`},
		{"worker=abc", `"worker=abc": "abc" is neither a quantity (a whole number from 0 to 1000, as in worker=3) nor a size (small, standard, large, as in worker=large)`},
		{"=3", `"=3": "" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{"Web=3", `"Web=3": "Web" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{"web-=3", `"web-=3": "web-" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{"1web=3", `"1web=3": "1web" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{"a2345678901234567=1", `"a2345678901234567=1": "a2345678901234567" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{" web=3", `" web=3": " web" is not a process type: lower-case letters, digits and dashes, up to 16, as in web or worker`},
		{"web=3\n", `"web=3\n": the quantity of web must be a whole number from 0 to 1000`},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			got, err := parseScaleArgs([]string{"worker=1", tt.arg})
			assert.EqualError(t, err, tt.want)
			assert.Nil(t, got)
		})
	}
}

// FuzzParseScaleArgs holds parseScaleArgs to what the API accepts: it
// never panics, and what it accepts has valid types (each once),
// quantities and sizes, and reads back the same from formatScale.
func FuzzParseScaleArgs(f *testing.F) {
	for _, seed := range []string{
		"web=3", "web=2:large worker=1", "worker=small", "web=3 web=large", "web=0 web=1000",
		"web=+1", "web=-1", "web", "=", "web=:", "web=2:", "web=007:Large", "a234567890123456=1:small",
		"web=1001", "web=1 WORKER=2", "web=\u212a", "web=sma\u0130l",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		args := strings.Split(in, " ")
		got, err := parseScaleArgs(args)
		if err != nil {
			assert.NotContains(t, err.Error(), "\n", "errors are one line")
			assert.Nil(t, got)
			return
		}
		seen := map[string]bool{}
		words := make([]string, 0, len(got))
		for _, u := range got {
			require.Regexp(t, `^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$`, u.Type)
			require.False(t, seen[u.Type], "type %s listed twice", u.Type)
			seen[u.Type] = true
			require.True(t, u.Quantity != nil || u.Size != nil, "%s changes nothing", u.Type)
			if u.Quantity != nil {
				require.GreaterOrEqual(t, *u.Quantity, 0)
				require.LessOrEqual(t, *u.Quantity, 1000)
			}
			if u.Size != nil {
				require.Contains(t, []string{"small", "standard", "large"}, *u.Size)
			}
			words = append(words, formatScale(u))
		}
		again, err := parseScaleArgs(words)
		require.NoError(t, err, "%q", words)
		require.Equal(t, got, again, "%q", words)
		types := map[string]bool{}
		for _, a := range args {
			typ, _, _ := strings.Cut(a, "=")
			types[typ] = true
		}
		require.Len(t, got, len(types), "one update per type named")
	})
}

func TestFormatScale(t *testing.T) {
	assert.Equal(t, "web=3", formatScale(api.ProcessUpdate{Type: "web", Quantity: new(3)}))
	assert.Equal(t, "web=large", formatScale(api.ProcessUpdate{Type: "web", Size: new("large")}))
	assert.Equal(t, "web=0:small", formatScale(api.ProcessUpdate{Type: "web", Quantity: new(0), Size: new("small")}))
}

func TestParseConfigArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"one", []string{"GREETING=hello"}, map[string]string{"GREETING": "hello"}},
		{"a value with '='", []string{"DATABASE_URL=postgres://db/x?sslmode=require&a=b"}, map[string]string{"DATABASE_URL": "postgres://db/x?sslmode=require&a=b"}},
		{"an empty value", []string{"EMPTY="}, map[string]string{"EMPTY": ""}},
		{"a value of '='", []string{"EQ=="}, map[string]string{"EQ": "="}},
		{"spaces and new lines", []string{"MOTD=hello world\nbye "}, map[string]string{"MOTD": "hello world\nbye "}},
		{"several", []string{"A=1", "B=2"}, map[string]string{"A": "1", "B": "2"}},
		{"a key twice: the last wins", []string{"A=1", "B=2", "A=3"}, map[string]string{"A": "3", "B": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfigArgs(tt.args)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}

	for arg, want := range map[string]string{
		"GREETING": `"GREETING" is not KEY=VALUE: give it a value, as in "GREETING=value"`,
		"":         `"" is not KEY=VALUE: give it a value, as in "=value"`,
		"=x":       `"=x" has no name before '=': use KEY=VALUE`,
		"a\nb":     `"a\nb" is not KEY=VALUE: give it a value, as in "a\nb=value"`,
	} {
		_, err := parseConfigArgs([]string{"OK=1", arg})
		assert.EqualError(t, err, want, "%q", arg)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{"v5": 5, "V5": 5, "5": 5, "v1": 1, "v0012": 12, "123456": 123456} {
		got, err := parseVersion(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "v", "v0", "0", "-1", "v-1", "v+1", "+1", "vv5", "5a", "v 5", "five", "v99999999999999999999", "v5.1"} {
		_, err := parseVersion(in)
		assert.EqualError(t, err, fmt.Sprintf("%q is not a release version such as v5: platform releases lists them", in))
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"hello":               "hello",
		"postgres://u@h:5/db": "postgres://u@h:5/db",
		"":                    "''",
		"hello world":         "'hello world'",
		"it's":                `'it'\''s'`,
		"$HOME":               "'$HOME'",
		"a\nb":                "'a\nb'",
		"x=1,y=2;rm -rf /":    "'x=1,y=2;rm -rf /'",
	} {
		assert.Equal(t, want, shellQuote(in), "%q", in)
	}
}

func TestDNSHint(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"shop.apps.example.com", "Point www.example.com at the platform with a DNS record: www.example.com CNAME shop.apps.example.com"},
		{"shop.localhost", "This platform's apps answer on this machine (shop.localhost): to reach www.example.com through it, point the name at 127.0.0.1 (a line in /etc/hosts)"},
		{"?", ""},
	} {
		assert.Equal(t, tc.want, dnsHint("www.example.com", tc.target), tc.target)
	}
}
