package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/platform-paas/platform/server/api"
	"github.com/platform-paas/platform/server/store"
)

// maxDomains bounds an app's custom domains: every one is a rule in the
// router and a host in the app's Ingress.
const maxDomains = 50

func domainView(d store.Domain) api.Domain { return api.Domain{Host: d.Host, CreatedAt: d.CreatedAt} }

// listDomains lists an app's custom domains, by name: GET
// /apps/{app}/domains. Their number is bounded, so there is one page.
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

// addDomain routes a custom host name to an app: POST
// /apps/{app}/domains. The app answers on it once this returns. Point the
// name's DNS at the platform's router.
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
	host, err := store.NormalizeHost(req.Host)
	if err != nil {
		return invalidField("host", err)
	}
	if s.appsDomain != "" && (host == s.appsDomain || strings.HasSuffix(host, "."+s.appsDomain)) {
		return invalid("host", "%s is under %s, whose names the platform gives to apps (%s answers on %s.%s already)",
			host, s.appsDomain, app.Name, app.Name, s.appsDomain)
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
		if d, err = tx.AddDomain(ctx, app.ID, host); err != nil {
			return err
		}
		return s.audit(r, tx, store.AuditEvent{Action: "domain.add", TenantID: &tenant.ID, AppName: app.Name, Target: d.Host})
	})
	if err != nil {
		return err
	}
	if err := s.applyDomains(ctx, app, tenant); err != nil {
		// Keep the store as it was: the domain is not routed.
		if rerr := s.st.RemoveDomain(context.WithoutCancel(ctx), app.ID, d.Host); rerr != nil {
			s.log.ErrorContext(ctx, "removing a domain that could not be routed", "app", app.Name, "host", d.Host, "err", rerr)
		}
		return err
	}
	w.Header().Set("Location", api.Version+"/apps/"+app.Name+"/domains/"+d.Host)
	writeJSON(w, http.StatusCreated, domainView(d))
	return nil
}

// removeDomain stops routing a custom host name to an app: DELETE
// /apps/{app}/domains/{host}.
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

// applyDomains puts the app's domains into what runs: the running release
// applied again.
func (s *Server) applyDomains(ctx context.Context, app store.App, tenant store.Tenant) error {
	if s.releases == nil {
		return nil // nothing runs that could route it
	}
	if err := s.releases.Reapply(ctx, app, tenant); err != nil {
		return fmt.Errorf("routing the domains of %s: %w", app.Name, err)
	}
	return nil
}
