// Package compose holds what the repository's docker-compose.yml builds:
// the Dockerfiles of its Postgres, BuildKit and platformd images and the
// health check program they share (healthcheck), and the test that does
// what README.md's "Try it with Docker" tells a person to, against the
// local stack's Kubernetes. It has no code of its own: the platform is
// platformd's.
package compose
