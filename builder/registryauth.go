package builder

import (
	"context"

	"github.com/moby/buildkit/session/auth"
	"google.golang.org/grpc"
)

// Credentials are what a build presents to the platform's registry: a
// user name and a password (the build's registry credential).
type Credentials struct {
	Username string
	Password string
}

// registryAuth answers BuildKit's requests for registry credentials over
// the build's session: the build's own, for the platform's registry only.
// BuildKit asks by the host it sends the request to, so an image named on
// Docker Hub and pulled through the registry as a mirror gets them too.
// BuildKit's authprovider would also read the docker config of the user
// platformd runs as, which a build must not be handed.
//
// Token requests are left to BuildKit (FetchToken and the token
// authority methods are unimplemented, as BuildKit expects of a session
// that only has credentials): it asks the registry's realm with these.
type registryAuth struct {
	auth.UnimplementedAuthServer
	host  string
	creds Credentials
}

// Register implements session.Attachable.
func (a *registryAuth) Register(server *grpc.Server) {
	auth.RegisterAuthServer(server, a)
}

// Credentials implements auth.AuthServer. Any other host gets none: its
// pulls are anonymous.
func (a *registryAuth) Credentials(_ context.Context, req *auth.CredentialsRequest) (*auth.CredentialsResponse, error) {
	if req.Host != a.host {
		return &auth.CredentialsResponse{}, nil
	}
	return &auth.CredentialsResponse{Username: a.creds.Username, Secret: a.creds.Password}, nil
}
