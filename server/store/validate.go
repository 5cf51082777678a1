package store

import (
	"regexp"
	"strings"
)

// The same rules are CHECK constraints in the schema; checking here first
// gives the user a message that says what is wrong.
var (
	tenantNameRE  = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`)
	appNameRE     = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$`)
	processTypeRE = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,14}[a-z0-9])?$`)
	healthPathRE  = regexp.MustCompile(`^/[!-~]{0,199}$`)
	configKeyRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostLabelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	emailRE       = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
)

const (
	maxConfigKeyLen   = 255
	maxConfigValueLen = 32 << 10
	// maxConfigTotal bounds an app's config vars together (names and
	// values), well within what an environment and a Secret hold.
	maxConfigTotal = 64 << 10
	maxNameLen     = 100 // SSH key and token names
)

func validateTenantName(name string) error {
	if !tenantNameRE.MatchString(name) {
		return invalidf("tenant name %q is invalid: use 1 to 40 lower-case letters, digits and dashes, starting with a letter and not ending with a dash", name)
	}
	return nil
}

// ValidateAppName reports, as an ErrInvalid error, why name cannot be an app
// name: a lower-case DNS label of 1 to 30 characters starting with a letter.
func ValidateAppName(name string) error {
	if !appNameRE.MatchString(name) {
		return invalidf("app name %q is invalid: use 1 to 30 lower-case letters, digits and dashes, starting with a letter and not ending with a dash", name)
	}
	return nil
}

// ValidateProcessType reports, as an ErrInvalid error, why t cannot be a
// process type: 1 to 16 lower-case letters, digits and dashes, starting with
// a letter, so that "<app>-<type>" stays a valid Kubernetes name.
func ValidateProcessType(t string) error {
	if !processTypeRE.MatchString(t) {
		return invalidf("process type %q is invalid: use 1 to 16 lower-case letters, digits and dashes, starting with a letter", t)
	}
	return nil
}

// ValidateConfigKey reports, as an ErrInvalid error, why key cannot be a
// config var name: an environment variable name [A-Za-z_][A-Za-z0-9_]*.
func ValidateConfigKey(key string) error {
	if len(key) > maxConfigKeyLen || !configKeyRE.MatchString(key) {
		return invalidf("config var name %q is invalid: use letters, digits and underscores, not starting with a digit, at most %d characters", key, maxConfigKeyLen)
	}
	if reservedConfigKey(key) {
		return invalidf("config var %s is set by the platform and cannot be changed: PORT, DYNO and names starting with PLATFORM_ or KUBERNETES_ are reserved", key)
	}
	return nil
}

// reservedConfigKey reports whether the platform, or Kubernetes under it
// (KUBERNETES_SERVICE_HOST, ...), sets key in every process's environment
// itself.
func reservedConfigKey(key string) bool {
	return key == "PORT" || key == "DYNO" || strings.HasPrefix(key, "PLATFORM_") || strings.HasPrefix(key, "KUBERNETES_")
}

// NormalizeHost lower-cases host, drops one trailing dot and checks that
// the result is a host name of at least two labels.
func NormalizeHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	labels := strings.Split(h, ".")
	ok := len(h) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && hostLabelRE.MatchString(l)
	}
	if !ok {
		return "", invalidf("domain %q is invalid: use a host name such as www.example.com", host)
	}
	return h, nil
}

func validateEmail(email string) error {
	if len(email) > 254 || !emailRE.MatchString(email) {
		return invalidf("email %q is invalid", email)
	}
	return nil
}

func validateLabel(what, name string) error {
	if name == "" || len(name) > maxNameLen {
		return invalidf("%s name must be 1 to %d characters", what, maxNameLen)
	}
	return nil
}
