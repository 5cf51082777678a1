package deployer

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Release is what Apply runs: one version of an app, its image, config and
// formation.
type Release struct {
	Tenant  string
	App     string
	Version int // >= 1
	// Image is the image every process runs, by digest:
	// registry/tenant/app@sha256:...
	Image string
	// Config is the app's config vars, given to every process as
	// environment variables.
	Config map[string]string
	// Processes is the formation; a process type not in it is stopped.
	Processes []Process
	// ReleaseCommand, when not empty, runs once on the new image with the
	// new config before any process is changed; its failure stops the
	// release.
	ReleaseCommand string
	// Domains are custom host names the web process answers on besides
	// <app>.<apps domain>.
	Domains []string
	// Certificates are the app's uploaded certificates; each serves the
	// app's hosts it covers (see tlsEntries).
	Certificates []Certificate
	// HTTPS is how the app answers plain HTTP and HTTPS.
	HTTPS HTTPS
	// HealthPath, when not empty, is an HTTP path on PORT that answers
	// 2xx or 3xx once a web process is ready; empty means ready once PORT
	// accepts connections.
	HealthPath string
	// Commit is the source commit, recorded in an annotation.
	Commit string
}

// Process is one process type of a formation.
type Process struct {
	Type string // "web", "worker", ...; only web receives HTTP
	// Command is run as `/bin/sh -c <Command>` in /app; empty means the
	// image's own entrypoint and command.
	Command  string
	Quantity int    // >= 0
	Size     string // one of Sizes; empty means DefaultSize
}

// WebProcess is the process type that receives HTTP, on $PORT.
const WebProcess = "web"

// Port is the port a web process listens on, given to it as $PORT.
const Port = 5000

// Size is a process size: the CPU and memory one process gets, as
// Kubernetes requests and limits.
type Size struct {
	Name               string
	CPURequestMillis   int64
	CPULimitMillis     int64
	MemoryRequestBytes int64
	MemoryLimitBytes   int64
}

const mebibyte = 1 << 20

// Sizes returns every size, smallest first. It mirrors the store's size
// table (server/store/size.go), which this leaf package may not import.
func Sizes() []Size {
	return []Size{
		{Name: "small", CPURequestMillis: 100, CPULimitMillis: 500, MemoryRequestBytes: 256 * mebibyte, MemoryLimitBytes: 256 * mebibyte},
		{Name: "standard", CPURequestMillis: 250, CPULimitMillis: 1000, MemoryRequestBytes: 512 * mebibyte, MemoryLimitBytes: 512 * mebibyte},
		{Name: "large", CPURequestMillis: 500, CPULimitMillis: 2000, MemoryRequestBytes: 1024 * mebibyte, MemoryLimitBytes: 1024 * mebibyte},
	}
}

// DefaultSize is the size of a process with none given.
const DefaultSize = "standard"

// sizeOf returns the size named name ("" meaning DefaultSize) and its rank
// in Sizes.
func sizeOf(name string) (Size, int, error) {
	if name == "" {
		name = DefaultSize
	}
	for i, s := range Sizes() {
		if s.Name == name {
			return s, i, nil
		}
	}
	return Size{}, -1, fmt.Errorf("%w: unknown size %q", ErrInvalid, name)
}

// TenantQuota bounds what a tenant's namespace may run.
type TenantQuota struct {
	// MaxProcesses is the number of processes across all the tenant's
	// apps; 0 runs nothing.
	MaxProcesses int
	// MaxSize is the largest process size; empty means the largest size.
	MaxSize string
	// Headroom is how many pods beyond MaxProcesses the namespace admits
	// while a deploy is under way: the extra pod of each rolling update
	// and the release command's pod. Below 1 means 2.
	Headroom int
}

const defaultHeadroom = 2

// Errors callers may test for with errors.Is.
var (
	// ErrInvalid is a release, name or argument the deployer refuses.
	ErrInvalid = errors.New("invalid")
	// ErrNotFound is a tenant, app or process type with no objects.
	ErrNotFound = errors.New("not found")
	// ErrConflict is an object of the name the deployer needs that
	// belongs to something else.
	ErrConflict = errors.New("conflict")
	// ErrQuota is a formation the tenant's quota does not admit.
	ErrQuota = errors.New("tenant quota exceeded")
)

// Names. Tenants, apps and process types follow the store's rules, which
// keep every derived object name within Kubernetes' limits.
var (
	tenantRE  = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`)
	appRE     = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$`)
	processRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$`)
	envKeyRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

const maxTenantLen = 40

func validTenant(tenant string) error {
	if !tenantRE.MatchString(tenant) {
		return fmt.Errorf("%w: tenant name %q", ErrInvalid, tenant)
	}
	return nil
}

func validApp(tenant, app string) error {
	if err := validTenant(tenant); err != nil {
		return err
	}
	if !appRE.MatchString(app) {
		return fmt.Errorf("%w: app name %q", ErrInvalid, app)
	}
	return nil
}

func validProcessType(t string) error {
	if !processRE.MatchString(t) {
		return fmt.Errorf("%w: process type %q", ErrInvalid, t)
	}
	return nil
}

// Validate reports the first thing wrong with r that Apply would refuse
// (names, version, image, config var names, formation, domains, health
// path), as an error wrapping ErrInvalid.
func (r Release) Validate() error {
	if err := validApp(r.Tenant, r.App); err != nil {
		return err
	}
	if r.Version < 1 {
		return fmt.Errorf("%w: release version %d", ErrInvalid, r.Version)
	}
	if r.Image == "" || strings.ContainsAny(r.Image, " \t\n") {
		return fmt.Errorf("%w: image %q", ErrInvalid, r.Image)
	}
	for k := range r.Config {
		if !envKeyRE.MatchString(k) {
			return fmt.Errorf("%w: config var name %q", ErrInvalid, k)
		}
	}
	seen := map[string]bool{}
	for _, p := range r.Processes {
		if err := validProcessType(p.Type); err != nil {
			return err
		}
		if seen[p.Type] {
			return fmt.Errorf("%w: process type %q twice", ErrInvalid, p.Type)
		}
		seen[p.Type] = true
		if p.Quantity < 0 {
			return fmt.Errorf("%w: %s quantity %d", ErrInvalid, p.Type, p.Quantity)
		}
		if _, _, err := sizeOf(p.Size); err != nil {
			return err
		}
	}
	for _, h := range r.Domains {
		if errs := validation.IsDNS1123Subdomain(strings.TrimPrefix(h, "*.")); len(errs) > 0 {
			return fmt.Errorf("%w: domain %q: %s", ErrInvalid, h, errs[0])
		}
	}
	for _, c := range r.Certificates {
		if c.ID <= 0 || c.ChainPEM == "" || c.KeyPEM == "" || len(c.Names) == 0 {
			return fmt.Errorf("%w: certificate %d lacks its chain, key or names", ErrInvalid, c.ID)
		}
	}
	if r.HTTPS.HSTSMaxAge < 0 {
		return fmt.Errorf("%w: HSTS max-age %d", ErrInvalid, r.HTTPS.HSTSMaxAge)
	}
	if r.HealthPath != "" && !strings.HasPrefix(r.HealthPath, "/") {
		return fmt.Errorf("%w: health path %q does not start with /", ErrInvalid, r.HealthPath)
	}
	return nil
}

func (r Release) process(t string) (Process, bool) {
	i := slices.IndexFunc(r.Processes, func(p Process) bool { return p.Type == t })
	if i < 0 {
		return Process{}, false
	}
	return r.Processes[i], true
}

// formation renders the formation as "web=2 worker=1".
// Formation returns the release's processes as "web=2 worker=1", or "no
// processes".
func (r Release) Formation() string {
	parts := make([]string, 0, len(r.Processes))
	for _, p := range r.Processes {
		parts = append(parts, p.Type+"="+strconv.Itoa(p.Quantity))
	}
	if len(parts) == 0 {
		return "no processes"
	}
	return strings.Join(parts, " ")
}

// hosts returns the Ingress hosts of the release, default host first,
// without duplicates.
func (d *Deployer) hosts(r Release) []string {
	var hosts []string
	if d.cfg.AppsDomain != "" {
		hosts = append(hosts, r.App+"."+d.cfg.AppsDomain)
	}
	for _, h := range r.Domains {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

// Labels and annotations.
const (
	labelTenant    = "platform.io/tenant"
	labelApp       = "platform.io/app"
	labelProcess   = "platform.io/process-type"
	labelRelease   = "platform.io/release"
	labelRole      = "platform.io/role"
	labelManagedBy = "app.kubernetes.io/managed-by"
	managedBy      = "platformd"

	roleProcess = "process"
	roleConfig  = "config"
	roleRelease = "release-command"
	roleWeb     = "web"

	annRelease     = "platform.io/release"
	annCommit      = "platform.io/commit"
	annSize        = "platform.io/size"
	annRestartedAt = "platform.io/restarted-at"
	// annDyno is the number of a process's dyno name (the 2 of web.2),
	// given to its pod when platformd first names it and kept for the
	// pod's life.
	annDyno     = "platform.io/dyno"
	annMaxProcs = "platform.io/max-processes"
	annMaxSize  = "platform.io/max-size"

	// fieldManager owns what Apply and EnsureTenant write; Scale and
	// Restart write under their own names so that a forced Apply takes
	// replicas and resources back, while a restart stays.
	fieldManager        = "platformd"
	fieldManagerScale   = "platformd-scale"
	fieldManagerRestart = "platformd-restart"

	quotaName = "platform"
)

func (d *Deployer) namespace(tenant string) string { return d.cfg.NamespacePrefix + tenant }

func deploymentName(app, ptype string) string { return app + "-" + ptype }
func serviceName(app string) string           { return app + "-" + WebProcess }
func ingressName(app string) string           { return app }
func secretName(app string, v int) string     { return fmt.Sprintf("%s-v%d-config", app, v) }
func jobName(app string, v int) string        { return fmt.Sprintf("%s-release-v%d", app, v) }

func appSelector(app string) string { return labelApp + "=" + app }

func appLabels(tenant, app, role string) map[string]string {
	return map[string]string{
		labelTenant:    tenant,
		labelApp:       app,
		labelRole:      role,
		labelManagedBy: managedBy,
	}
}
