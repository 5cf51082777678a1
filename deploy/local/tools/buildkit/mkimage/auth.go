package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/session/auth"
	"google.golang.org/grpc"
)

// credentialEnv holds the registry credential mkimage presents.
const credentialEnv = "MKIMAGE_REGISTRY_CREDENTIAL"

// registryAuth tells BuildKit the credential of the registries that the
// image names point at, and of no other.
type registryAuth struct {
	auth.UnimplementedAuthServer
	hosts  map[string]bool
	secret string
}

// newRegistryAuth answers for the registry host of each comma-separated
// image name in names.
func newRegistryAuth(names, secret string) (*registryAuth, error) {
	a := &registryAuth{hosts: map[string]bool{}, secret: secret}
	for n := range strings.SplitSeq(names, ",") {
		host, _, ok := strings.Cut(n, "/")
		if !ok || !strings.ContainsAny(host, ".:") {
			return nil, fmt.Errorf("image name %q names no registry host for %s", n, credentialEnv)
		}
		a.hosts[host] = true
	}
	return a, nil
}

func (a *registryAuth) Register(s *grpc.Server) { auth.RegisterAuthServer(s, a) }

func (a *registryAuth) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	resp := &auth.CredentialsResponse{}
	if a.hosts[req.Host] {
		// The registry reads the credential alone; the user name is
		// what platformd's credentials go with.
		resp.Username, resp.Secret = "platform", a.secret
	}
	return resp, nil
}
