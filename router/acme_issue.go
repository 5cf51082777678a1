package router

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"

	"github.com/platform-paas/platform/router/internal/route"
)

// runACME takes part in the election of the replica that obtains and
// renews certificates, and while this one is elected does it, until ctx
// is done. Every replica answers the challenges (withChallenges) whether
// elected or not.
func (rt *Router) runACME(ctx context.Context, w *route.Watcher) {
	cfg := rt.cfg.ACME
	id := cfg.Identity
	if id == "" {
		host, _ := os.Hostname()
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		id = host + "_" + hex.EncodeToString(b)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: ACMELease},
		Client:     rt.kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}
	// The elector runs its callback in a goroutine it does not wait for:
	// this waits for it, and once it is waiting no new one starts.
	var (
		mu      sync.Mutex
		stopped bool
		leading sync.WaitGroup
	)
	defer func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		leading.Wait()
	}()
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.LeaseDuration * 2 / 3,
			RetryPeriod:     cfg.LeaseDuration / 7,
			ReleaseOnCancel: true,
			Name:            ACMELease,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(lctx context.Context) {
					mu.Lock()
					if stopped {
						mu.Unlock()
						return
					}
					leading.Add(1)
					mu.Unlock()
					defer leading.Done()
					rt.log.Info("elected to obtain certificates", "identity", id)
					newIssuer(rt, w).run(lctx)
				},
				OnStoppedLeading: func() {},
			},
		})
		if err != nil {
			rt.log.Error("electing the certificate issuer", "err", err) // a bad configuration: withDefaults rules it out
			return
		}
		le.Run(ctx)
	}
}

// issuer obtains and renews the certificates the Ingresses ask for, on
// the elected replica. It is used by one goroutine.
type issuer struct {
	rt     *Router
	cfg    ACMEConfig
	log    *slog.Logger
	w      *route.Watcher
	client *acme.Client
	now    func() time.Time
}

func newIssuer(rt *Router, w *route.Watcher) *issuer {
	return &issuer{rt: rt, cfg: rt.cfg.ACME, log: rt.log, w: w, now: time.Now}
}

// run keeps the certificates until ctx is done: it looks again when an
// Ingress or a certificate's Secret changes and when something is due.
func (is *issuer) run(ctx context.Context) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: is.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Minute}

	wait := is.cfg.RetryMin
	for ctx.Err() == nil {
		c, err := is.account(ctx, hc)
		if err == nil {
			is.client = c
			break
		}
		if ctx.Err() != nil {
			return
		}
		is.log.Error("setting up the ACME account", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return
		}
		wait = min(2*wait, is.cfg.RetryMax)
	}

	changed := is.w.TLSChanged()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-timer.C:
		}
		next := is.reconcile(ctx)
		timer.Reset(max(time.Until(next), 0))
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// account returns a client of the ACME server with the account whose key
// the account Secret holds (made on first use), registered.
func (is *issuer) account(ctx context.Context, hc *http.Client) (*acme.Client, error) {
	key, err := is.accountKey(ctx)
	if err != nil {
		return nil, err
	}
	c := &acme.Client{Key: key, DirectoryURL: is.cfg.DirectoryURL, HTTPClient: hc, UserAgent: "platform-router"}
	acct := &acme.Account{}
	if is.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + is.cfg.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("registering with %s: %w", is.cfg.DirectoryURL, err)
	}
	return c, nil
}

// accountKey reads the account's key from its Secret, making both on
// first use.
func (is *issuer) accountKey(ctx context.Context) (*ecdsa.PrivateKey, error) {
	secrets := is.rt.kube.CoreV1().Secrets(is.cfg.Namespace)
	for range 2 {
		s, err := secrets.Get(ctx, ACMEAccountSecret, metav1.GetOptions{})
		if err == nil {
			return parseECKey(s.Data[ACMEAccountKey])
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the ACME account key from secret %s/%s: %w", is.cfg.Namespace, ACMEAccountSecret, err)
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("making the ACME account key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("encoding the ACME account key: %w", err)
		}
		s = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: ACMEAccountSecret, Namespace: is.cfg.Namespace, Labels: map[string]string{LabelACMEManaged: "true"}},
			Data:       map[string][]byte{ACMEAccountKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
		}
		_, err = secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager})
		if err == nil {
			return key, nil
		}
		if !apierrors.IsAlreadyExists(err) { // else another leader made it: read it
			return nil, fmt.Errorf("storing the ACME account key in secret %s/%s: %w", is.cfg.Namespace, ACMEAccountSecret, err)
		}
	}
	return nil, fmt.Errorf("reading the ACME account key from secret %s/%s: it keeps changing", is.cfg.Namespace, ACMEAccountSecret)
}

func parseECKey(b []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("the ACME account secret holds no PEM key under %q: delete it to make a new account", ACMEAccountKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the ACME account key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the ACME account key is a %T, not ECDSA: delete its secret to make a new account", k)
	}
	return ek, nil
}

// wanted is one certificate the Ingresses ask for.
type wanted struct {
	namespace, name string   // the Secret
	hosts           []string // lower case, sorted
	ingress         string   // "namespace/name", for the log
}

// wantedCerts returns the certificates the annotated Ingresses ask for,
// by Secret, without the hosts the default certificate covers. Where two
// Ingresses name one Secret, the hosts of both go into it.
func (is *issuer) wantedCerts() []wanted {
	ings, err := is.w.Ingresses()
	if err != nil {
		is.log.Error("listing ingresses", "err", err)
		return nil
	}
	fallback := is.rt.certs.Load().fallbackCovers
	byKey := map[string]*wanted{}
	var keys []string
	for _, ing := range ings {
		if !strings.EqualFold(ing.Annotations[AnnotationTLSACME], "true") {
			continue
		}
		for _, t := range ing.Spec.TLS {
			if t.SecretName == "" {
				continue
			}
			hosts := t.Hosts
			if len(hosts) == 0 {
				for _, r := range ing.Spec.Rules {
					hosts = append(hosts, r.Host)
				}
			}
			key := ing.Namespace + "/" + t.SecretName
			wt := byKey[key]
			if wt == nil {
				wt = &wanted{namespace: ing.Namespace, name: t.SecretName, ingress: ing.Namespace + "/" + ing.Name}
				byKey[key] = wt
				keys = append(keys, key)
			}
			for _, h := range hosts {
				h = strings.ToLower(strings.TrimSuffix(h, "."))
				if h == "" || fallback(h) || slices.Contains(wt.hosts, h) {
					continue
				}
				wt.hosts = append(wt.hosts, h)
			}
		}
	}
	slices.Sort(keys)
	out := make([]wanted, 0, len(keys))
	for _, k := range keys {
		if wt := byKey[k]; len(wt.hosts) > 0 {
			slices.Sort(wt.hosts)
			out = append(out, *wt)
		}
	}
	return out
}

// reconcile obtains the certificates that are due and returns when the
// next one is.
func (is *issuer) reconcile(ctx context.Context) (next time.Time) {
	next = is.now().Add(time.Hour) // and whenever something changes
	// No attempt of this replica's is under way: any challenge older
	// than an attempt may last is a dead leader's.
	is.rt.challenges.sweep(ctx, 2*is.cfg.Timeout, is.now())
	wanted := is.wantedCerts()
	defer func() { is.log.Debug("certificates checked", "certificates", len(wanted), "next_check", next) }()
	for _, wt := range wanted {
		if ctx.Err() != nil {
			return next
		}
		due, ok := is.due(ctx, wt)
		if !ok {
			continue
		}
		if due.After(is.now()) {
			next = minTime(next, due)
			continue
		}
		next = minTime(next, is.obtainInto(ctx, wt))
	}
	return next
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// due says when the certificate of wt is next to be obtained, and false if
// the router does not manage its Secret (or could not claim it: then it
// tries again on the next change). A missing Secret is made, empty, and
// claimed.
func (is *issuer) due(ctx context.Context, wt wanted) (time.Time, bool) {
	now := is.now()
	sec := is.w.Secret(wt.namespace, wt.name)
	if sec == nil {
		// Not of type kubernetes.io/tls either (the watch sees only
		// those): Create says so if it exists.
		if err := is.claim(ctx, wt); err != nil {
			is.log.Warn("making the certificate's secret", "secret", wt.namespace+"/"+wt.name, "ingress", wt.ingress, "err", err)
			return time.Time{}, false
		}
		return now, true
	}
	a := sec.Annotations
	if a[AnnotationACMEManaged] != "true" {
		return time.Time{}, false // the operator's
	}
	sameHosts := a[AnnotationACMEHosts] == strings.Join(wt.hosts, ",")
	var retryAt time.Time
	if a[AnnotationACMEStatus] == ACMEStatusFailed && sameHosts && a[AnnotationACMEIssuer] == is.cfg.DirectoryURL {
		retryAt, _ = time.Parse(time.RFC3339, a[AnnotationACMENextAttempt])
	}
	leaf := leafOf(sec.Data[corev1.TLSCertKey])
	if leaf == nil || !sameHosts || a[AnnotationACMEIssuer] != is.cfg.DirectoryURL || !slices.Equal(sortedLower(leaf.DNSNames), wt.hosts) {
		if retryAt.After(now) {
			return retryAt, true
		}
		return now, true
	}
	renewAt := renewalTime(leaf)
	if retryAt.After(renewAt) {
		return retryAt, true
	}
	return renewAt, true
}

// renewalTime is two thirds into a certificate's life.
func renewalTime(leaf *x509.Certificate) time.Time {
	return leaf.NotBefore.Add(leaf.NotAfter.Sub(leaf.NotBefore) * 2 / 3)
}

func sortedLower(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	slices.Sort(out)
	return out
}

// leafOf parses the first certificate of a PEM chain, or returns nil.
func leafOf(chain []byte) *x509.Certificate {
	block, _ := pem.Decode(chain)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// claim makes wt's Secret, empty and pending, marked as the router's.
func (is *issuer) claim(ctx context.Context, wt wanted) error {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: wt.name, Namespace: wt.namespace,
			Labels: map[string]string{LabelACMEManaged: "true"},
			Annotations: map[string]string{
				AnnotationACMEManaged:     "true",
				AnnotationACMEIssuer:      is.cfg.DirectoryURL,
				AnnotationACMEHosts:       strings.Join(wt.hosts, ","),
				AnnotationACMEStatus:      ACMEStatusPending,
				AnnotationACMENextAttempt: is.now().UTC().Format(time.RFC3339),
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: {}, corev1.TLSPrivateKeyKey: {}},
	}
	if _, err := is.rt.kube.CoreV1().Secrets(wt.namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		return err // AlreadyExists: another type of Secret, or the watch is behind; either way, the next look decides
	}
	return nil
}

// obtainInto obtains wt's certificate, records the outcome on its Secret
// and returns when the next attempt is due.
func (is *issuer) obtainInto(ctx context.Context, wt wanted) time.Time {
	name := wt.namespace + "/" + wt.name
	start := is.now()
	is.log.Info("obtaining certificate", "secret", name, "hosts", wt.hosts, "ingress", wt.ingress)
	octx, cancel := context.WithTimeout(ctx, is.cfg.Timeout)
	certPEM, keyPEM, leaf, oerr := is.obtain(octx, wt.hosts)
	cancel()
	if ctx.Err() != nil {
		return is.now() // no longer elected: the next leader tries
	}
	var (
		next    time.Time
		written string // the resourceVersion
	)
	werr := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		// Written from the API's copy rather than the watch's, which may
		// lag behind the write that claimed it.
		cur, err := is.rt.kube.CoreV1().Secrets(wt.namespace).Get(ctx, wt.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.Annotations[AnnotationACMEManaged] != "true" {
			return fmt.Errorf("the secret was replaced by one the router does not manage")
		}
		up := cur.DeepCopy()
		a := up.Annotations
		a[AnnotationACMEIssuer] = is.cfg.DirectoryURL
		a[AnnotationACMEHosts] = strings.Join(wt.hosts, ",")
		if oerr == nil {
			next = renewalTime(leaf)
			up.Data = map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}
			a[AnnotationACMEStatus] = ACMEStatusIssued
			a[AnnotationACMELastError] = ""
			a[AnnotationACMEFailures] = "0"
			a[AnnotationACMENotAfter] = leaf.NotAfter.UTC().Format(time.RFC3339)
		} else {
			failures, _ := strconv.Atoi(a[AnnotationACMEFailures])
			if a[AnnotationACMEStatus] != ACMEStatusFailed {
				failures = 0
			}
			failures++
			next = is.now().Add(is.backoff(failures, oerr))
			a[AnnotationACMEStatus] = ACMEStatusFailed
			a[AnnotationACMELastError] = problemDetail(oerr)
			a[AnnotationACMEFailures] = strconv.Itoa(failures)
		}
		a[AnnotationACMENextAttempt] = next.UTC().Format(time.RFC3339)
		done, err := is.rt.kube.CoreV1().Secrets(wt.namespace).Update(ctx, up, metav1.UpdateOptions{FieldManager: fieldManager})
		if err == nil {
			written = done.ResourceVersion
		}
		return err
	})
	if werr == nil {
		is.waitSeen(ctx, wt, written)
	}
	switch {
	case werr != nil:
		is.log.Error("recording the certificate", "secret", name, "err", werr, "obtain_err", oerr)
		return is.now().Add(is.cfg.RetryMin)
	case oerr != nil:
		is.log.Warn("obtaining certificate failed", "secret", name, "hosts", wt.hosts, "err", oerr, "next_attempt", next)
	default:
		is.log.Info("certificate obtained", "secret", name, "hosts", wt.hosts, "not_after", leaf.NotAfter, "renew_at", next, "duration", is.now().Sub(start))
	}
	return next
}

// waitSeen waits a little for the watch to see the version of wt's
// Secret the issuer wrote, so that the next look does not take the
// version before it for the truth and order the certificate again.
func (is *issuer) waitSeen(ctx context.Context, wt wanted, version string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := is.w.Secret(wt.namespace, wt.name); s != nil && s.ResourceVersion == version {
			return
		}
		select {
		case <-ctx.Done():
			return // it changed again since, or the watch lags: the next look is as good as it gets
		case <-tick.C:
		}
	}
}

// backoff is the wait after the failures-th failure in a row: RetryMin
// doubling up to RetryMax, or longer if the CA limits the rate and says
// for how long.
func (is *issuer) backoff(failures int, err error) time.Duration {
	d := is.cfg.RetryMin
	for i := 1; i < failures && d < is.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, is.cfg.RetryMax)
	var ae *acme.Error
	if errors.As(err, &ae) {
		if ra, ok := acme.RateLimit(ae); ok && ra > d {
			d = ra
		}
	}
	return d
}

// problemDetail is the CA's own words for why an attempt failed where the
// CA said it, else the error.
func problemDetail(err error) string {
	var details []string
	var (
		authz *acme.AuthorizationError
		order *acme.OrderError
		prob  *acme.Error
	)
	switch {
	case errors.As(err, &authz):
		for _, e := range authz.Errors {
			d := e.Error()
			if errors.As(e, &prob) && prob.Detail != "" {
				d = prob.Detail
			}
			if !slices.Contains(details, d) {
				details = append(details, d)
			}
		}
	case errors.As(err, &order) && order.Problem != nil && order.Problem.Detail != "":
		details = append(details, order.Problem.Detail)
	case errors.As(err, &prob) && prob.Detail != "":
		details = append(details, prob.Detail)
	}
	if len(details) == 0 {
		return err.Error()
	}
	return strings.Join(details, "; ")
}

// obtain runs one ACME order for hosts, answering its HTTP-01 challenges,
// and returns the certificate chain and its new key, in PEM, and the
// certificate parsed.
func (is *issuer) obtain(ctx context.Context, hosts []string) (certPEM, keyPEM []byte, leaf *x509.Certificate, err error) {
	for _, h := range hosts {
		if strings.HasPrefix(h, "*.") {
			return nil, nil, nil, fmt.Errorf("%s: a wildcard cannot be validated over HTTP-01: give the router a default certificate that covers it (--router-default-certificate)", h)
		}
	}
	c := is.client
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(hosts...))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("ordering a certificate: %w", err)
	}
	for _, u := range order.AuthzURLs {
		if err := is.authorize(ctx, u); err != nil {
			return nil, nil, nil, err
		}
	}
	// The order's URL is the one AuthorizeOrder returned: later answers
	// about the order do not repeat it.
	orderURL := order.URI
	if order, err = c.WaitOrder(ctx, orderURL); err != nil {
		return nil, nil, nil, fmt.Errorf("waiting for the order: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("making the certificate's key: %w", err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: hosts}, key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("making the certificate request: %w", err)
	}
	ders, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	var (
		prob     *acme.Error
		orderErr *acme.OrderError
	)
	if err != nil && !errors.As(err, &prob) && !errors.As(err, &orderErr) {
		// A CA that finalizes asynchronously may answer without the
		// order's Location, which the client then polls at "": poll the
		// order at its own URL and fetch the certificate from there.
		var o *acme.Order
		if o, err = c.WaitOrder(ctx, orderURL); err == nil {
			if o.CertURL == "" {
				return nil, nil, nil, fmt.Errorf("finalizing the order: the CA left it %s, without a certificate", o.Status)
			}
			ders, err = c.FetchCert(ctx, o.CertURL, true)
		}
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("finalizing the order: %w", err)
	}
	if len(ders) == 0 {
		return nil, nil, nil, errors.New("the CA returned no certificate")
	}
	if leaf, err = x509.ParseCertificate(ders[0]); err != nil {
		return nil, nil, nil, fmt.Errorf("parsing the CA's certificate: %w", err)
	}
	for _, d := range ders {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("encoding the certificate's key: %w", err)
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return certPEM, keyPEM, leaf, nil
}

// authorize completes the authorization at url by HTTP-01, unless it is
// valid already.
func (is *issuer) authorize(ctx context.Context, url string) error {
	c := is.client
	z, err := c.GetAuthorization(ctx, url)
	if err != nil {
		return fmt.Errorf("reading an authorization: %w", err)
	}
	if z.Status == acme.StatusValid {
		return nil
	}
	var chal *acme.Challenge
	for _, ch := range z.Challenges {
		if ch.Type == "http-01" {
			chal = ch
		}
	}
	if chal == nil {
		return fmt.Errorf("the CA offers no http-01 challenge for %s", z.Identifier.Value)
	}
	ka, err := c.HTTP01ChallengeResponse(chal.Token)
	if err != nil {
		return fmt.Errorf("answering the challenge for %s: %w", z.Identifier.Value, err)
	}
	remove, err := is.rt.challenges.put(ctx, chal.Token, ka)
	if err != nil {
		return err
	}
	defer remove()
	if _, err := c.Accept(ctx, chal); err != nil {
		return fmt.Errorf("accepting the challenge for %s: %w", z.Identifier.Value, err)
	}
	if _, err := c.WaitAuthorization(ctx, z.URI); err != nil {
		return fmt.Errorf("validating %s: %w", z.Identifier.Value, err)
	}
	return nil
}
