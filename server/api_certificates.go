package server

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/platform-paas/platform/deployer"
	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// maxCertificates bounds an app's uploaded certificates, as maxDomains
// bounds its domains.
const maxCertificates = maxDomains

// CertificateReader is what the API needs of the deployer to show how an
// app's domains are served over HTTPS: what the app's Ingress names for
// each host, and what the router recorded of automatic certificates.
type CertificateReader interface {
	Certificates(ctx context.Context, tenant, app string) ([]deployer.HostCertificate, error)
}

var _ CertificateReader = (*deployer.Deployer)(nil)

func certificateView(c store.Certificate, domains []store.Domain) api.Certificate {
	v := api.Certificate{ID: c.ID, Names: c.Hosts, Domains: []string{}, Issuer: c.Issuer, Fingerprint: c.Fingerprint,
		NotBefore: c.NotBefore, ExpiresAt: c.NotAfter, CreatedAt: c.CreatedAt}
	for _, d := range domains {
		if c.Covers(d.Host) {
			v.Domains = append(v.Domains, d.Host)
		}
	}
	return v
}

func httpsView(h store.HTTPSSettings) api.HTTPSSettings {
	return api.HTTPSSettings{Redirect: h.Redirect, HSTSMaxAge: h.HSTSMaxAge, HSTSIncludeSubdomains: h.HSTSIncludeSubdomains, BackendProtocol: h.BackendProtocol}
}

// servingCertificate is the uploaded certificate that serves host: of
// those covering it, the one valid longest, as the deployer picks.
func servingCertificate(certs []store.Certificate, host string) (store.Certificate, bool) {
	var best store.Certificate
	found := false
	for _, c := range certs {
		if c.Covers(host) && (!found || c.NotAfter.After(best.NotAfter)) {
			best, found = c, true
		}
	}
	return best, found
}

// listCertificates says how each of an app's custom domains is served
// over HTTPS, with the app's uploaded certificates and HTTPS settings:
// GET /apps/{app}/certificates. Uploaded certificates are read from the
// store; automatic ones from the cluster, where the router keeps them.
func (s *Server) listCertificates(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	app, tenant, err := s.appAndTenant(r, store.Viewer)
	if err != nil {
		return err
	}
	domains, err := s.st.ListDomains(ctx, app.ID)
	if err != nil {
		return err
	}
	certs, err := s.st.ListCertificates(ctx, app.ID)
	if err != nil {
		return err
	}
	settings, err := s.st.GetHTTPSSettings(ctx, app.ID)
	if err != nil {
		return err
	}
	served := map[string]deployer.HostCertificate{}
	var hcs []deployer.HostCertificate
	if s.certs != nil {
		hcs, err = s.certs.Certificates(ctx, tenant.Name, app.Name)
		if err != nil {
			// The store's half is still worth showing.
			s.log.WarnContext(ctx, "reading the certificates in the cluster", "app", app.Name, "err", err)
		}
		for _, hc := range hcs {
			served[hc.Host] = hc
		}
	}
	role, err := s.st.RoleOf(ctx, userFrom(ctx).ID, app.TenantID)
	if err != nil {
		return err
	}
	now := s.now()
	out := api.CertificateList{Domains: []api.DomainCertificate{}, Certificates: []api.Certificate{}, HTTPS: httpsView(settings),
		Allowed: api.CertificateActions{Remove: role.AtLeast(store.Member), ChangeHTTPS: role.AtLeast(store.Member)}}
	if err := s.uploadRefusal(role, app, tenant, domains); err != nil {
		out.Allowed.UploadRefusal = toAPIError(err).Message
	} else {
		out.Allowed.Upload = true
	}
	for _, d := range domains {
		dc := api.DomainCertificate{Domain: d.Host, Source: api.CertNone, Status: api.CertStatusNone}
		hc, inCluster := served[d.Host]
		switch c, ok := servingCertificate(certs, d.Host); {
		case ok:
			dc.Source, dc.CertificateID, dc.Issuer = api.CertUploaded, c.ID, c.Issuer
			dc.ExpiresAt = &c.NotAfter
			dc.Status = api.CertActive
			if now.After(c.NotAfter) {
				dc.Status = api.CertExpired
				dc.LastError = "the certificate expired: upload a renewed one with platform certs:add"
			}
			if !d.Verified() {
				dc.LastError = "the domain is not verified, so it is not served yet: platform domains:verify " + d.Host
			}
		case !d.Verified():
			dc.LastError = "the domain is not verified: platform domains:verify " + d.Host
		case inCluster && hc.Source == deployer.SourceAutomatic:
			automaticCertificate(&dc, hc)
		}
		out.Domains = append(out.Domains, dc)
	}
	// The app's default host, when the router gets it a certificate too
	// (automatic certificates on, and no certificate of the operator's
	// for the apps domain).
	for _, hc := range hcs {
		if hc.Source != deployer.SourceAutomatic || slices.ContainsFunc(domains, func(d store.Domain) bool { return d.Host == hc.Host }) {
			continue
		}
		dc := api.DomainCertificate{Domain: hc.Host}
		automaticCertificate(&dc, hc)
		out.Domains = append(out.Domains, dc)
	}
	for _, c := range certs {
		out.Certificates = append(out.Certificates, certificateView(c, domains))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// automaticCertificate fills in dc from the router's record of an
// automatic certificate.
func automaticCertificate(dc *api.DomainCertificate, hc deployer.HostCertificate) {
	dc.Source, dc.Issuer, dc.LastError = api.CertAutomatic, hc.Issuer, hc.Error
	dc.Status = hc.Status
	if hc.Present {
		dc.ExpiresAt = &hc.NotAfter
	}
	if dc.Status == "" {
		dc.Status = api.CertPending
		if hc.Present {
			dc.Status = api.CertIssued
		}
	}
	if !hc.NextAttempt.IsZero() {
		dc.NextAttempt = &hc.NextAttempt
	}
}

func suspendedCertificates(t store.Tenant) error {
	return forbidden("tenant %s is suspended: its apps cannot get certificates until a platform admin lifts the suspension", t.Name)
}

func noDomainsForCertificate(app store.App, host string) error {
	return invalid("certificate", "%s has no custom domains, and a certificate is for one of them: add the domain first with platform domains:add %s -a %s",
		app.Name, host, app.Name)
}

// uploadRefusal is why a user of role may not upload a certificate to
// app, as addCertificate would refuse it before reading the certificate,
// or nil.
func (s *Server) uploadRefusal(role store.Role, app store.App, tenant store.Tenant, domains []store.Domain) error {
	switch {
	case !role.AtLeast(store.Member):
		return forbidden("you are a %s of tenant %s: uploading a certificate needs the %s role", role, tenant.Name, store.Member)
	case tenant.Suspended():
		return suspendedCertificates(tenant)
	case len(domains) == 0:
		return noDomainsForCertificate(app, "HOST")
	}
	return nil
}

// addCertificate uploads a certificate and its key for an app's custom
// domains, and returns once the router has them: POST
// /apps/{app}/certificates. A certificate that fails to parse, whose key
// is not its own, whose chain is out of order, that has expired or that
// covers none of the app's domains is refused, saying what to do.
func (s *Server) addCertificate(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.AddCertificateRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if err := required("certificate", req.Certificate); err != nil {
		return err
	}
	if err := required("private_key", req.PrivateKey); err != nil {
		return err
	}
	if tenant.Suspended() {
		return suspendedCertificates(tenant)
	}
	p, err := store.ParseCertificate(req.Certificate, req.PrivateKey, s.now())
	if err != nil {
		field := "certificate"
		if strings.Contains(err.Error(), "private key") {
			field = "private_key"
		}
		return invalidField(field, err)
	}
	ctx, unlock, err := s.lockForAPI(r, app, "certificate change")
	if err != nil {
		return err
	}
	defer unlock()
	domains, err := s.st.ListDomains(ctx, app.ID)
	if err != nil {
		return err
	}
	if len(domains) == 0 {
		return noDomainsForCertificate(app, p.Hosts[0])
	}
	covered := slices.ContainsFunc(domains, func(d store.Domain) bool { return store.CoversHost(p.Hosts, d.Host) })
	if !covered {
		hosts := make([]string, 0, len(domains))
		for _, d := range domains {
			hosts = append(hosts, d.Host)
		}
		return invalid("certificate", "the certificate covers %s, none of %s's domains (%s): upload a certificate for one of them, or add its domain first with platform domains:add",
			strings.Join(p.Hosts, ", "), app.Name, strings.Join(hosts, ", "))
	}
	certs, err := s.st.ListCertificates(ctx, app.ID)
	if err != nil {
		return err
	}
	if len(certs) >= maxCertificates {
		return invalid("certificate", "%s has %d certificates, the most an app may have: remove one first (platform certs -a %s lists them)", app.Name, len(certs), app.Name)
	}
	var c store.Certificate
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		var err error
		if c, err = tx.AddCertificate(ctx, app.ID, p); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "certificate.add", TenantID: &tenant.ID, AppName: app.Name, Target: strconv.FormatInt(c.ID, 10),
			Details: map[string]any{"names": c.Hosts, "issuer": c.Issuer, "expires_at": c.NotAfter, "fingerprint": c.Fingerprint}})
	})
	if err != nil {
		return err
	}
	if err := s.applyDomains(ctx, app, tenant); err != nil {
		// Keep the store as it was: the certificate is not served.
		if rerr := s.st.RemoveCertificate(context.WithoutCancel(ctx), app.ID, c.ID); rerr != nil {
			s.log.ErrorContext(ctx, "removing a certificate that could not be installed", "app", app.Name, "err", rerr)
		}
		return err
	}
	w.Header().Set("Location", api.Version+"/apps/"+app.Name+"/certificates/"+strconv.FormatInt(c.ID, 10))
	writeJSON(w, http.StatusCreated, certificateView(c, domains))
	return nil
}

// removeCertificate removes an uploaded certificate, named by its ID or
// by the domain it serves: DELETE /apps/{app}/certificates/{cert}. The
// domain is served by an automatic certificate then, if the platform
// makes them, or over plain HTTP.
func (s *Server) removeCertificate(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	ref := strings.TrimSpace(urlParam(r, "cert"))
	ctx, unlock, err := s.lockForAPI(r, app, "certificate change")
	if err != nil {
		return err
	}
	defer unlock()
	certs, err := s.st.ListCertificates(ctx, app.ID)
	if err != nil {
		return err
	}
	var c store.Certificate
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		i := slices.IndexFunc(certs, func(c store.Certificate) bool { return c.ID == id })
		if i < 0 {
			return notFound("%s has no certificate %d: platform certs -a %s lists them", app.Name, id, app.Name)
		}
		c = certs[i]
	} else {
		host, err := store.NormalizeHost(ref)
		if err != nil {
			return invalid("cert", "%q is neither a certificate ID nor a domain: platform certs -a %s lists them", ref, app.Name)
		}
		var ok bool
		if c, ok = servingCertificate(certs, host); !ok {
			return notFound("no uploaded certificate of %s covers %s: platform certs -a %s lists them", app.Name, host, app.Name)
		}
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.RemoveCertificate(ctx, app.ID, c.ID); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "certificate.remove", TenantID: &tenant.ID, AppName: app.Name, Target: strconv.FormatInt(c.ID, 10),
			Details: map[string]any{"names": c.Hosts}})
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

// getHTTPS returns an app's HTTPS settings: GET /apps/{app}/https.
func (s *Server) getHTTPS(w http.ResponseWriter, r *http.Request) error {
	app, _, err := s.appAndTenant(r, store.Viewer)
	if err != nil {
		return err
	}
	h, err := s.st.GetHTTPSSettings(r.Context(), app.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, httpsView(h))
	return nil
}

// updateHTTPS changes an app's HTTPS settings and returns once the router
// applies them: PATCH /apps/{app}/https.
func (s *Server) updateHTTPS(w http.ResponseWriter, r *http.Request) error {
	app, tenant, err := s.appAndTenant(r, store.Member)
	if err != nil {
		return err
	}
	var req api.UpdateHTTPSRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Redirect == nil && req.HSTSMaxAge == nil && req.HSTSIncludeSubdomains == nil && req.BackendProtocol == nil {
		return invalid("", "nothing to change: give redirect, hsts_max_age, hsts_include_subdomains or backend_protocol")
	}
	if p := req.BackendProtocol; p != nil && *p != store.BackendHTTP1 && *p != store.BackendH2C {
		return invalid("backend_protocol", "backend protocol %q is unknown: give %s (HTTP/1.1) or %s (HTTP/2 without TLS, for gRPC servers)", *p, store.BackendHTTP1, store.BackendH2C)
	}
	if m := req.HSTSMaxAge; m != nil && (*m < 0 || *m > store.MaxHSTSMaxAge) {
		return invalid("hsts_max_age", "HSTS max-age %d is out of range: give 0 (off) to %d seconds (two years)", *m, store.MaxHSTSMaxAge)
	}
	ctx, unlock, err := s.lockForAPI(r, app, "HTTPS change")
	if err != nil {
		return err
	}
	defer unlock()
	old, err := s.st.GetHTTPSSettings(ctx, app.ID)
	if err != nil {
		return err
	}
	h := old
	if req.Redirect != nil {
		h.Redirect = *req.Redirect
	}
	if req.HSTSMaxAge != nil {
		h.HSTSMaxAge = *req.HSTSMaxAge
		if h.HSTSMaxAge == 0 && req.HSTSIncludeSubdomains == nil {
			h.HSTSIncludeSubdomains = false
		}
	}
	if req.HSTSIncludeSubdomains != nil {
		h.HSTSIncludeSubdomains = *req.HSTSIncludeSubdomains
	}
	if req.BackendProtocol != nil {
		h.BackendProtocol = *req.BackendProtocol
	}
	if h.HSTSIncludeSubdomains && h.HSTSMaxAge == 0 {
		return invalid("hsts_include_subdomains", "HSTS for subdomains needs HSTS on: give hsts_max_age too")
	}
	err = s.st.InTx(ctx, func(tx *store.Store) error {
		if err := tx.SetHTTPSSettings(ctx, app.ID, h); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "https.update", TenantID: &tenant.ID, AppName: app.Name, Target: app.Name,
			Details: map[string]any{"redirect": h.Redirect, "hsts_max_age": h.HSTSMaxAge, "hsts_include_subdomains": h.HSTSIncludeSubdomains,
				"backend_protocol": h.BackendProtocol}})
	})
	if err != nil {
		return err
	}
	if err := s.applyDomains(ctx, app, tenant); err != nil {
		// Keep the store as it was: the settings are not applied.
		if rerr := s.st.SetHTTPSSettings(context.WithoutCancel(ctx), app.ID, old); rerr != nil {
			s.log.ErrorContext(ctx, "restoring HTTPS settings that could not be applied", "app", app.Name, "err", rerr)
		}
		return err
	}
	writeJSON(w, http.StatusOK, httpsView(h))
	return nil
}
