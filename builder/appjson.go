package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// An app declares how the platform tells that its web process is ready in
// app.json at the root of its repository, in the shape Dokku reads:
//
//	{"healthchecks": {"web": [{"type": "startup", "path": "/healthz"}]}}
//
// The first web check with a path is used: a new web process gets requests
// once GET <path> on $PORT answers 2xx or 3xx. Without one, a web process
// is ready once $PORT accepts connections. Other keys of app.json are left
// alone, so a file written for other platforms works as it is.

// maxHealthPath bounds a declared health check path.
const maxHealthPath = 200

type appJSON struct {
	Healthchecks map[string][]struct {
		Type string `json:"type"`
		Path string `json:"path"`
	} `json:"healthchecks"`
}

// parseAppJSON returns the health check path app.json declares for web, or
// "" if it declares none.
func parseAppJSON(data []byte) (string, error) {
	var a appJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&a); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return "", fmt.Errorf("app.json: %s has the wrong type: use {\"healthchecks\": {\"web\": [{\"type\": \"startup\", \"path\": \"/healthz\"}]}}", te.Field)
		}
		return "", fmt.Errorf("app.json is not valid JSON: %v", err)
	}
	for i, c := range a.Healthchecks["web"] {
		switch strings.ToLower(c.Type) {
		case "", "startup", "readiness":
		default:
			continue // liveness checks and others are not readiness
		}
		if c.Path == "" {
			continue
		}
		if err := validHealthPath(c.Path); err != nil {
			return "", fmt.Errorf("app.json: healthchecks.web[%d].path: %w", i, err)
		}
		return c.Path, nil
	}
	return "", nil
}

func validHealthPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("%q must start with /, such as /healthz", p)
	}
	if len(p) > maxHealthPath {
		return fmt.Errorf("%q is longer than %d characters", p[:40]+"...", maxHealthPath)
	}
	for _, r := range p {
		if r > unicode.MaxASCII || unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%q must be printable ASCII without spaces (percent-encode the rest)", p)
		}
	}
	return nil
}
