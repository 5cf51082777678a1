package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/platform-paas/platform/server/api"
)

// defaultHSTSMaxAge is the max-age https:hsts on asks for without
// --max-age: a year.
const defaultHSTSMaxAge = 31536000

func (c *cli) newCertsCmd() *cobra.Command {
	var (
		appFlag string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "List how an app's custom domains are served over HTTPS",
		Long: `certs lists, for each custom domain of an app, the certificate HTTPS serves
it with: its source (uploaded with certs:add, automatic when the platform
obtains certificates itself, or none: plain HTTP only), issuer, expiry,
status (active or expired for uploaded ones; pending, issued or failed for
automatic ones) and the last error. Then the uploaded certificates, by ID,
and the app's HTTPS settings (see platform https). The app's default host
is served by the platform and not listed.`,
		Example: `  platform certs -a shop`,
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			l, err := cl.ListCertificates(cmd.Context(), app)
			if err != nil {
				return err
			}
			if asJSON {
				return c.printJSON(l)
			}
			c.header("%s Certificates", app)
			if len(l.Domains) == 0 {
				fmt.Fprintf(c.stderr, "%s has no custom domains: add one with platform domains:add HOST, then a certificate with platform certs:add\n", app)
			} else {
				rows := make([][]string, 0, len(l.Domains))
				for _, d := range l.Domains {
					expires := ""
					if d.ExpiresAt != nil {
						expires = c.stamp(*d.ExpiresAt)
					}
					lastErr := d.LastError
					if d.NextAttempt != nil {
						lastErr += " (next attempt " + c.stamp(*d.NextAttempt) + ")"
					}
					rows = append(rows, []string{d.Domain, d.Source, d.Issuer, expires, d.Status, lastErr})
				}
				if err := c.table([]string{"DOMAIN", "SOURCE", "ISSUER", "EXPIRES", "STATUS", "LAST ERROR"}, rows); err != nil {
					return err
				}
			}
			if len(l.Certificates) > 0 {
				c.header("Uploaded certificates")
				rows := make([][]string, 0, len(l.Certificates))
				for _, cert := range l.Certificates {
					rows = append(rows, []string{strconv.FormatInt(cert.ID, 10), strings.Join(cert.Names, ", "), cert.Issuer, c.stamp(cert.ExpiresAt)})
				}
				if err := c.table([]string{"ID", "NAMES", "ISSUER", "EXPIRES"}, rows); err != nil {
					return err
				}
			}
			c.header("HTTPS settings")
			c.httpsPairs(l.HTTPS)
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	addJSONFlag(cmd, &asJSON)
	return cmd
}

// httpsPairs prints an app's HTTPS settings.
func (c *cli) httpsPairs(h api.HTTPSSettings) {
	redirect := "on: plain HTTP to a domain with a certificate is redirected to HTTPS"
	if !h.Redirect {
		redirect = "off: plain HTTP is answered as it is"
	}
	hsts := "off"
	if h.HSTSMaxAge > 0 {
		hsts = fmt.Sprintf("on: max-age=%d", h.HSTSMaxAge)
		if h.HSTSIncludeSubdomains {
			hsts += "; includeSubDomains"
		}
	}
	backend := "HTTP/1.1"
	if h.BackendProtocol == "h2c" {
		backend = "h2c: HTTP/2 without TLS (gRPC)"
	}
	values := map[string]string{"Redirect": redirect, "HSTS": hsts, "Backend": backend}
	c.pairs([]string{"Redirect", "HSTS", "Backend"}, func(k string) string { return values[k] })
}

// readPEMFile reads a file the user named for an upload, saying what to
// do when it cannot be read.
func readPEMFile(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%s file %s does not exist: give the path of the PEM file", what, path)
	case err != nil:
		return "", fmt.Errorf("reading the %s file: %w", what, err)
	case len(b) > 1<<20:
		return "", fmt.Errorf("%s file %s is %d bytes, too large for a PEM file: give the PEM file", what, path, len(b))
	}
	return string(b), nil
}

func (c *cli) newCertsAddCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "certs:add CERT_FILE KEY_FILE",
		Short: "Upload a certificate for an app's custom domains",
		Long: `certs:add uploads a certificate and its private key, both PEM files, for
the custom domains of an app it covers, and returns once the platform's
router serves it. CERT_FILE holds the certificate first, then its
intermediates in order; KEY_FILE the key, not encrypted. The platform
refuses a certificate that does not parse, whose key is not its own,
whose chain is out of order, that has expired, or that covers none of the
app's domains. Plain HTTP to those domains is redirected to HTTPS from
then on, unless platform https:redirect off.`,
		Example: `  platform certs:add fullchain.pem privkey.pem -a shop`,
		GroupID: "apps",
		Args:    wantArgs("CERT_FILE", "KEY_FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			chain, err := readPEMFile("certificate", args[0])
			if err != nil {
				return err
			}
			key, err := readPEMFile("private key", args[1])
			if err != nil {
				return err
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			var cert api.Certificate
			err = c.step("Adding the certificate to "+app, func() (string, error) {
				cert, err = cl.AddCertificate(cmd.Context(), app, chain, key)
				return "", err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "Certificate %d (%s, issued by %s, expires %s) serves %s\n",
				cert.ID, strings.Join(cert.Names, ", "), cert.Issuer, c.stamp(cert.ExpiresAt), strings.Join(cert.Domains, ", "))
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newCertsRemoveCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "certs:remove DOMAIN_OR_ID",
		Short: "Remove an uploaded certificate from an app",
		Long: `certs:remove removes an uploaded certificate, named by its ID (platform certs
lists them) or by a domain it serves. Its domains are served with an
automatic certificate afterwards if the platform obtains them, or over
plain HTTP.`,
		Example: `  platform certs:remove www.example.com -a shop
  platform certs:remove 3 -a shop`,
		GroupID: "apps",
		Args:    wantArgs("DOMAIN_OR_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.step("Removing the certificate "+args[0]+" from "+app, func() (string, error) {
				return "", cl.RemoveCertificate(cmd.Context(), app, args[0])
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newHTTPSCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "https",
		Short: "Show an app's HTTPS settings",
		Long: `https shows whether plain HTTP to an app's domains with a certificate is
redirected to HTTPS (platform https:redirect) and whether its HTTPS
responses carry Strict-Transport-Security (platform https:hsts).`,
		Example: `  platform https -a shop`,
		GroupID: "apps",
		Args:    wantArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			h, err := cl.GetHTTPS(cmd.Context(), app)
			if err != nil {
				return err
			}
			c.header("%s HTTPS settings", app)
			c.httpsPairs(h)
			return nil
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

// onOff reads the on|off argument of a setting.
func onOff(arg, command string) (bool, error) {
	switch strings.ToLower(arg) {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not on or off: platform %s on|off", arg, command)
}

func (c *cli) newHTTPSRedirectCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "https:redirect on|off",
		Short: "Turn the redirect of plain HTTP to HTTPS on or off",
		Long: `https:redirect off keeps an app answering plain HTTP on its domains that
have a certificate; on (the default) redirects such requests to HTTPS
(308, so the method and body are kept). It returns once the router
applies it.`,
		Example: `  platform https:redirect off -a shop`,
		GroupID: "apps",
		Args:    wantArgs("on|off"),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := onOff(args[0], "https:redirect")
			if err != nil {
				return err
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.step("Turning the HTTPS redirect of "+app+" "+strings.ToLower(args[0]), func() (string, error) {
				_, err := cl.UpdateHTTPS(cmd.Context(), app, api.UpdateHTTPSRequest{Redirect: &on})
				return "", err
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newHTTPSBackendCmd() *cobra.Command {
	var appFlag string
	cmd := &cobra.Command{
		Use:   "https:backend http1|h2c",
		Short: "Choose how the router talks to an app's web processes: HTTP/1.1 or h2c",
		Long: `https:backend h2c has the router speak HTTP/2 without TLS (h2c, with prior
knowledge) to an app's web processes, as gRPC servers need: the app's
trailers (grpc-status) reach clients that speak HTTP/2 to the router over
HTTPS. http1, the default, is HTTP/1.1, with WebSockets. Whatever clients
speak to the router, it speaks this to the app. It returns once the router
applies it.`,
		Example: `  platform https:backend h2c -a grpc-api`,
		GroupID: "apps",
		Args:    wantArgs("http1|h2c"),
		RunE: func(cmd *cobra.Command, args []string) error {
			proto := strings.ToLower(args[0])
			if proto != "http1" && proto != "h2c" {
				return fmt.Errorf("%q is not a backend protocol: platform https:backend http1|h2c (h2c for gRPC servers)", args[0])
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.step("Setting the backend protocol of "+app+" to "+proto, func() (string, error) {
				_, err := cl.UpdateHTTPS(cmd.Context(), app, api.UpdateHTTPSRequest{BackendProtocol: &proto})
				return "", err
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	return cmd
}

func (c *cli) newHTTPSHSTSCmd() *cobra.Command {
	var (
		appFlag    string
		maxAge     int
		subdomains bool
	)
	cmd := &cobra.Command{
		Use:   "https:hsts on|off",
		Short: "Turn Strict-Transport-Security on or off",
		Long: `https:hsts on adds a Strict-Transport-Security header to an app's HTTPS
responses, so that browsers use only HTTPS for its domains for --max-age
seconds (default a year). Turn it on only once HTTPS works on every domain
of the app: browsers that saw it refuse plain HTTP until it expires.
It returns once the router applies it.`,
		Example: `  platform https:hsts on --max-age 300 -a shop
  platform https:hsts off -a shop`,
		GroupID: "apps",
		Args:    wantArgs("on|off"),
		RunE: func(cmd *cobra.Command, args []string) error {
			on, err := onOff(args[0], "https:hsts")
			if err != nil {
				return err
			}
			req := api.UpdateHTTPSRequest{}
			if on {
				if maxAge < 1 {
					return fmt.Errorf("--max-age %d is too short: give the seconds browsers keep to HTTPS, at least 1 (a year is 31536000)", maxAge)
				}
				req.HSTSMaxAge, req.HSTSIncludeSubdomains = &maxAge, &subdomains
			} else {
				if cmd.Flags().Changed("max-age") || subdomains {
					return errors.New("--max-age and --include-subdomains go with on: platform https:hsts off takes neither")
				}
				zero, no := 0, false
				req.HSTSMaxAge, req.HSTSIncludeSubdomains = &zero, &no
			}
			app, cl, err := c.appClient(cmd.Context(), appFlag)
			if err != nil {
				return err
			}
			return c.step("Turning HSTS of "+app+" "+strings.ToLower(args[0]), func() (string, error) {
				_, err := cl.UpdateHTTPS(cmd.Context(), app, req)
				return "", err
			})
		},
	}
	addAppFlag(cmd, &appFlag)
	cmd.Flags().IntVar(&maxAge, "max-age", defaultHSTSMaxAge, "seconds browsers keep to HTTPS after seeing the header")
	cmd.Flags().BoolVar(&subdomains, "include-subdomains", false, "ask browsers to use HTTPS for every subdomain of the app's domains too")
	return cmd
}
