package builder

import (
	"context"

	"github.com/moby/buildkit/session/secrets"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// secretStore hands a build's secrets to BuildKit over the build's
// session. (BuildKit's secretsprovider does the same but would add a
// module to go.mod for its file-backed store, which is not needed here.)
type secretStore struct {
	secrets.UnimplementedSecretsServer
	m map[string][]byte
}

// Register implements session.Attachable.
func (s *secretStore) Register(server *grpc.Server) {
	secrets.RegisterSecretsServer(server, s)
}

// GetSecret implements secrets.SecretsServer. An unknown id is NotFound,
// which BuildKit treats as a missing optional secret.
func (s *secretStore) GetSecret(_ context.Context, req *secrets.GetSecretRequest) (*secrets.GetSecretResponse, error) {
	v, ok := s.m[req.ID]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "secret %s not found", req.ID)
	}
	return &secrets.GetSecretResponse{Data: v}, nil
}
