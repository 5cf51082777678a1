# The platform's build, local stack and tests. See README.md.
GO      ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build up down clean test vet image manifests bench-router bench-deploy

all: build

## build: bin/platformd (the server) and bin/platform (the CLI)
build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/platformd ./cmd/platformd
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/platform ./cmd/platform

## up: install what is missing, start the local stack, write .platform/env
up:
	./deploy/local/up.sh

## image: the platformd image (deploy/image), pushed to the local stack's registry (make up does it too)
image:
	./deploy/local/images.sh

## manifests: deploy/kubernetes/platform.yaml, rendered from the Helm chart with its default values
manifests:
	./deploy/helm/render.sh

## bench-router: the router (platformd --mode=router) against nginx on the local stack (see router/bench/deployed.sh)
bench-router:
	./router/bench/deployed.sh

## bench-deploy: how fast pushes, config changes, scaling and rollbacks go live on the local stack (see release/bench); WRITE=1 puts the table into BENCHMARKS.md
bench-deploy:
	./release/bench/deploy.sh

## down: stop every process of the local stack; data stays
down:
	./deploy/local/down.sh

## clean: stop the stack and remove its state
clean:
	./deploy/local/clean.sh
	rm -rf bin

## vet: static checks
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	cd deploy/local/tools/buildkit && $(GO) vet ./...

## test: every test, unit and integration, against the local stack (started if needed)
test:
	./deploy/local/test.sh
