package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// maxDomains bounds an app's custom domains: every one is a rule in the
// router and a host in the app's Ingress.
const maxDomains = 50

// challengePrefix names the TXT record that proves a domain is its
// claimer's: _platform-challenge.<host>.
const challengePrefix = "_platform-challenge."

// defaultDomainCheckTimeout bounds a verification's DNS lookup when
// Config.DomainCheckTimeout is zero.
const defaultDomainCheckTimeout = 10 * time.Second

// TXTResolver looks up a name's TXT records; *net.Resolver is one.
type TXTResolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

var _ TXTResolver = (*net.Resolver)(nil)

func domainView(d store.Domain) api.Domain {
	v := api.Domain{Host: d.Host, Status: api.DomainVerified, CreatedAt: d.CreatedAt, VerifiedAt: d.VerifiedAt}
	if !d.Verified() {
		v.Status = api.DomainPending
		v.Verification = &api.DomainVerification{Type: "TXT", Name: challengePrefix + d.Host, Value: d.VerifyToken}
	}
	return v
}

// listDomains lists an app's custom domains, by name, verified or not:
// GET /apps/{app}/domains. Their number is bounded, so there is one page.
func (s *Server) listDomains(w http.ResponseWriter, r *http.Request) error {
	app, err := s.appFor(r.Context(), userFrom(r.Context()), urlParam(r, "app"), store.Viewer)
	if err != nil {
		return err
	}
	ds, err := s.st.ListDomains(r.Context(), app.ID)
	if err != nil {
		return err
	}
	p := api.Page[api.Domain]{Items: make([]api.Domain, 0, len(ds))}
	for _, d := range ds {
		p.Items = append(p.Items, domainView(d))
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// customHost checks that raw can be one of an app's custom domains and
// returns it normalised: a host name of two labels or more, not an IP
// address in any spelling, not one of the platform's own names, not under
// the apps domain.
func (s *Server) customHost(raw, app string) (string, error) {
	bare := strings.TrimSuffix(strings.TrimSpace(raw), ".")
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(bare, "["), "]")); err == nil {
		return "", invalid("host", "%s is an IP address: add a host name of yours, such as www.example.com, whose DNS points at the platform", a)
	}
	host, err := store.NormalizeHost(raw)
	if err != nil {
		return "", invalidField("host", err)
	}
	labels := strings.Split(host, ".")
	if tld := labels[len(labels)-1]; strings.Trim(tld, "0123456789") == "" || (strings.HasPrefix(tld, "0x") && strings.Trim(tld[2:], "0123456789abcdef") == "") {
		// Resolvers read 127.1, 10.0.0.1 or 1.0x2 as addresses.
		return "", invalid("host", "%s is an IP address, not a host name: add a host name of yours, such as www.example.com, whose DNS points at the platform", host)
	}
	if slices.Contains(s.reservedHosts, host) {
		return "", invalid("host", "%s is the platform's own host name: add a host name of yours, such as www.example.com", host)
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "", invalid("host", "%s names this machine, not a site: add a host name of yours, such as www.example.com", host)
	}
	if s.appsDomain != "" && (host == s.appsDomain || strings.HasSuffix(host, "."+s.appsDomain)) {
		return "", invalid("host", "%s is under %s, whose names the platform gives to apps (%s answers on %s.%s already): add a host name of yours, such as www.example.com",
			host, s.appsDomain, app, app, s.appsDomain)
	}
	return host, nil
}

// suspendedDomains refuses a domain change of a suspended tenant.
func suspendedDomains(t store.Tenant) error {
	return forbidden("tenant %s is suspended: its apps cannot get domains until a platform admin lifts the suspension", t.Name)
}

// domainTaken says a host is held by another app without saying which.
func domainTaken(host string) error {
	return &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Field: "host",
		Message: fmt.Sprintf("%s is in use by another app on the platform: if the domain is yours, remove it from that app first, or ask a platform admin", host)}
}

// addDomain claims a custom host name for an app: POST
// /apps/{app}/domains. Unless the platform skips verification, the domain
// waits, unrouted, for its owner to show they hold it: the answer names a
// TXT record to create, and POST .../domains/{host}/verify checks it and
// routes the domain. Skipping verification, the app answers on it once
// this returns. Point the name's DNS at the platform's router either way.
func (s *Server) addDomain(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.AddDomainRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("host", req.Host); err != nil {
		return err
	}
	host, err := s.customHost(req.Host, app.Name)
	if err != nil {
		return err
	}
	if tenant.Suspended() {
		return suspendedDomains(tenant)
	}
	ctx, unlock, err := s.lockForAPI(r, app, "domain change")
	if err != nil {
		return err
	}
	defer unlock()
	ds, err := s.st.ListDomains(ctx, app.ID)
	if err != nil {
		return err
	}
	if len(ds) >= maxDomains {
		return invalid("host", "%s has %d domains, the most an app may have: remove one first", app.Name, len(ds))
	}
	var d store.Domain
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		d, err = tx.AddDomain(ctx, app.ID, host, s.skipDomainVerification)
		if errors.Is(err, store.ErrConflict) {
			if slices.ContainsFunc(ds, func(d store.Domain) bool { return d.Host == host }) {
				return &apiError{Status: http.StatusConflict, Code: api.CodeConflict, Field: "host",
					Message: fmt.Sprintf("%s is added to %s already: platform domains -a %s shows it", host, app.Name, app.Name)}
			}
			return domainTaken(host)
		}
		if err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "domain.add", TenantID: &tenant.ID, AppName: app.Name, Target: d.Host,
			Details: map[string]any{"verified": d.Verified()}})
	})
	if err != nil {
		return err
	}
	if d.Verified() {
		if err := s.applyDomains(ctx, app, tenant); err != nil {
			// Keep the store as it was: the domain is not routed.
			if rerr := s.st.RemoveDomain(context.WithoutCancel(ctx), app.ID, d.Host); rerr != nil {
				s.log.ErrorContext(ctx, "removing a domain that could not be routed", "app", app.Name, "host", d.Host, "err", rerr)
			}
			return err
		}
	}
	w.Header().Set("Location", api.Version+"/apps/"+app.Name+"/domains/"+d.Host)
	writeJSON(w, http.StatusCreated, domainView(d))
	return nil
}

// verifyDomain checks the DNS TXT record of one of an app's domains
// awaiting verification and, if it holds the domain's token, routes the
// domain: POST /apps/{app}/domains/{host}/verify. A verified domain is
// answered as it is.
func (s *Server) verifyDomain(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	host, err := store.NormalizeHost(urlParam(r, "host"))
	if err != nil {
		return invalidField("host", err)
	}
	if tenant.Suspended() {
		return suspendedDomains(tenant)
	}
	ds, err := s.st.ListDomains(r.Context(), app.ID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(ds, func(d store.Domain) bool { return d.Host == host })
	if i < 0 {
		return notFound("%s has no domain %s: platform domains -a %s lists them", app.Name, host, app.Name)
	}
	d := ds[i]
	if d.Verified() {
		writeJSON(w, http.StatusOK, domainView(d))
		return nil
	}
	if !s.skipDomainVerification {
		if err := s.checkChallenge(r.Context(), d); err != nil {
			return err
		}
	}

	ctx, unlock, err := s.lockForAPI(r, app, "domain change")
	if err != nil {
		return err
	}
	defer unlock()
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		d, err = tx.VerifyDomain(ctx, app.ID, host)
		if errors.Is(err, store.ErrConflict) {
			return domainTaken(host)
		}
		if err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "domain.verify", TenantID: &tenant.ID, AppName: app.Name, Target: d.Host})
	})
	if err != nil {
		return err
	}
	if err := s.applyDomains(ctx, app, tenant); err != nil {
		// Keep the store as it was: the domain is not routed.
		if rerr := s.st.UnverifyDomain(context.WithoutCancel(ctx), app.ID, d.Host); rerr != nil {
			s.log.ErrorContext(ctx, "taking back the verification of a domain that could not be routed", "app", app.Name, "host", d.Host, "err", rerr)
		}
		return err
	}
	writeJSON(w, http.StatusOK, domainView(d))
	return nil
}

// checkChallenge looks up the TXT records of d's challenge name and
// refuses, saying what to create, unless one holds d's token.
func (s *Server) checkChallenge(ctx context.Context, d store.Domain) error {
	name := challengePrefix + d.Host
	ctx, cancel := context.WithTimeout(ctx, s.domainCheckTimeout)
	defer cancel()
	records, err := s.resolver.LookupTXT(ctx, name)
	if slices.Contains(records, d.VerifyToken) {
		return nil
	}
	found := "DNS has no TXT record " + name
	var dnsErr *net.DNSError
	switch {
	case err == nil && len(records) > 0:
		found = fmt.Sprintf("the TXT records of %s hold %q, not the token", name, records)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
	case err != nil:
		s.log.InfoContext(ctx, "domain challenge lookup failed", "host", d.Host, "err", err)
		found = "looking " + name + " up failed (" + oneLine(err) + ")"
	}
	return &apiError{Status: http.StatusConflict, Code: api.CodeNotVerified, Field: "host",
		Message: fmt.Sprintf("%s is not verified: %s. Create a TXT record %s with the value %s, wait for it to show in DNS, and run platform domains:verify %s again",
			d.Host, found, name, d.VerifyToken, d.Host)}
}

// removeDomain stops routing a custom host name to an app, or drops its
// claim: DELETE /apps/{app}/domains/{host}.
func (s *Server) removeDomain(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	host, err := store.NormalizeHost(urlParam(r, "host"))
	if err != nil {
		return invalidField("host", err)
	}
	ctx, unlock, err := s.lockForAPI(r, app, "domain change")
	if err != nil {
		return err
	}
	defer unlock()
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.RemoveDomain(ctx, app.ID, host); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "domain.remove", TenantID: &tenant.ID, AppName: app.Name, Target: host})
	})
	if err != nil {
		return err
	}
	if err := s.applyDomains(ctx, app, tenant); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// applyDomains puts the app's verified domains into what runs: the
// running release applied again.
func (s *Server) applyDomains(ctx context.Context, app store.App, tenant store.Tenant) error {
	if s.releases == nil {
		return nil // nothing runs that could route it
	}
	if err := s.releases.Reapply(ctx, app, tenant); err != nil {
		return fmt.Errorf("routing the domains of %s: %w", app.Name, err)
	}
	return nil
}
