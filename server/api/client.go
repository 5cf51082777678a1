package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxResponse bounds what the client reads of one response.
const maxResponse = 16 << 20

// Error is an error the API answered with. Match it with errors.As; its
// message is the server's, meant for people.
type Error struct {
	Status int // HTTP status code
	ErrorDetail
}

func (e *Error) Error() string { return e.Message }

// ClientConfig configures a Client.
type ClientConfig struct {
	// URL is where platformd serves, such as http://127.0.0.1:7800, without
	// the /api/v1 prefix. Required.
	URL string
	// Token is the API token sent as a bearer token. Empty sends none.
	Token string
	// UserAgent names the client in the server's logs.
	UserAgent string
	// HTTPClient makes the requests. Nil means one without an overall
	// timeout, since config changes wait for their rollout and logs
	// stream: bound calls with their contexts.
	HTTPClient *http.Client
}

// Client calls the API. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	token     string
	userAgent string
	http      *http.Client
}

// NewClient returns a client for the API at cfg.URL.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 5 * time.Minute,
		}}
	}
	return &Client{base: base, token: cfg.Token, userAgent: cfg.UserAgent, http: hc}, nil
}

// ParseURL checks that s is an http or https URL of a server, with no
// query, and returns it without a trailing slash.
func ParseURL(s string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("API URL %q is not an http:// or https:// URL such as http://127.0.0.1:7800", s)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// URL returns the API's base URL, as configured.
func (c *Client) URL() string { return c.base.String() }

// ListOptions selects a page of a list.
type ListOptions struct {
	Limit int    // 0: the server's default
	After string // the previous page's NextAfter; empty: the first page
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.After != "" {
		q.Set("after", o.After)
	}
	return q
}

// All calls list for every page, in order, and returns the items.
func All[T any](ctx context.Context, list func(context.Context, ListOptions) (Page[T], error)) ([]T, error) {
	var all []T
	var opts ListOptions
	for {
		p, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, p.Items...)
		if p.NextAfter == "" || len(p.Items) == 0 {
			return all, nil
		}
		opts.After = p.NextAfter
	}
}

// Account returns the user the token belongs to.
func (c *Client) Account(ctx context.Context) (Account, error) {
	var a Account
	return a, c.do(ctx, http.MethodGet, "/account", nil, nil, &a)
}

// ListTenants returns a page of tenants, by creation. Admins only.
func (c *Client) ListTenants(ctx context.Context, opts ListOptions) (Page[Tenant], error) {
	var p Page[Tenant]
	return p, c.do(ctx, http.MethodGet, "/tenants", opts.query(), nil, &p)
}

// CreateTenant creates a tenant. Admins only.
func (c *Client) CreateTenant(ctx context.Context, req CreateTenantRequest) (Tenant, error) {
	var t Tenant
	return t, c.do(ctx, http.MethodPost, "/tenants", nil, req, &t)
}

// GetTenant returns the tenant named name. Admins only.
func (c *Client) GetTenant(ctx context.Context, name string) (Tenant, error) {
	var t Tenant
	return t, c.do(ctx, http.MethodGet, "/tenants/"+url.PathEscape(name), nil, nil, &t)
}

// ListMembers returns a page of the tenant's members, by e-mail address.
func (c *Client) ListMembers(ctx context.Context, tenant string, opts ListOptions) (Page[Member], error) {
	var p Page[Member]
	return p, c.do(ctx, http.MethodGet, "/tenants/"+url.PathEscape(tenant)+"/members", opts.query(), nil, &p)
}

// ListSSHKeys returns a page of the account's SSH keys, oldest first.
func (c *Client) ListSSHKeys(ctx context.Context, opts ListOptions) (Page[SSHKey], error) {
	var p Page[SSHKey]
	return p, c.do(ctx, http.MethodGet, "/account/keys", opts.query(), nil, &p)
}

// AddSSHKey registers a public key for the account.
func (c *Client) AddSSHKey(ctx context.Context, req AddSSHKeyRequest) (SSHKey, error) {
	var k SSHKey
	return k, c.do(ctx, http.MethodPost, "/account/keys", nil, req, &k)
}

// RemoveSSHKey removes the account's key with the given fingerprint.
func (c *Client) RemoveSSHKey(ctx context.Context, fingerprint string) error {
	return c.do(ctx, http.MethodDelete, "/account/keys/"+url.PathEscape(fingerprint), nil, nil, nil)
}

// ListApps returns a page of the apps the account can see, by creation.
func (c *Client) ListApps(ctx context.Context, opts ListOptions) (Page[App], error) {
	var p Page[App]
	return p, c.do(ctx, http.MethodGet, "/apps", opts.query(), nil, &p)
}

// CreateApp creates an app.
func (c *Client) CreateApp(ctx context.Context, req CreateAppRequest) (App, error) {
	var a App
	return a, c.do(ctx, http.MethodPost, "/apps", nil, req, &a)
}

// DestroyApp deletes the app named name and everything it runs. confirm
// must be the app's name.
func (c *Client) DestroyApp(ctx context.Context, name, confirm string) (DestroyedApp, error) {
	var d DestroyedApp
	return d, c.do(ctx, http.MethodDelete, "/apps/"+url.PathEscape(name), nil, DestroyAppRequest{Confirm: confirm}, &d)
}

// GetApp returns the app named name, with its newest release.
func (c *Client) GetApp(ctx context.Context, name string) (App, error) {
	var a App
	return a, c.do(ctx, http.MethodGet, "/apps/"+url.PathEscape(name), nil, nil, &a)
}

// do sends one request and decodes a 2xx answer into out (unless nil) or
// returns the API's error as an *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, err := c.send(ctx, method, path, query, in, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("reading the API's answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return responseError(resp, b)
	}
	if out == nil {
		return nil
	}
	if !isJSON(resp.Header.Get("Content-Type")) {
		return fmt.Errorf("the API at %s answered %s %s with %q, not JSON: is it platformd?", c.base, method, path, resp.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the API's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send sends one request with in (unless nil) as its JSON body and returns
// the response, whatever its status.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any, accept string) (*http.Response, error) {
	// path has its segments escaped already: a fingerprint holds '/'.
	u := *c.base
	u.RawPath = c.base.EscapedPath() + Version + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, fmt.Errorf("making the request: %w", err)
	}
	u.Path = p
	u.RawQuery = query.Encode()

	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("making the request: %w", err)
	}
	req.Header.Set("Accept", accept)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said once, below
		}
		return nil, fmt.Errorf("reaching the API at %s: %w", c.base, err)
	}
	return resp, nil
}

// responseError turns a non-2xx response into an *Error, whether or not it
// has the API's error shape (a proxy in between may answer instead).
func responseError(resp *http.Response, body []byte) error {
	var eb ErrorBody
	if isJSON(resp.Header.Get("Content-Type")) && json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
		return &Error{Status: resp.StatusCode, ErrorDetail: eb.Error}
	}
	return &Error{Status: resp.StatusCode, ErrorDetail: ErrorDetail{
		Code:    "http_" + strconv.Itoa(resp.StatusCode),
		Message: fmt.Sprintf("the API answered %s without an error message: is the API URL right?", resp.Status),
	}}
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
