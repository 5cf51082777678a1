package builder

import "fmt"

// StackImages are the two images of a language stack: the build stage runs
// on Build (compilers, package managers), the image an app ships is Run
// plus what the build stage made.
type StackImages struct {
	Build string
	Run   string
}

// Images names the images each stack builds from. A field left empty in
// Config takes the value from DefaultImages.
type Images struct {
	Go     StackImages
	Node   StackImages
	Python StackImages
	Ruby   StackImages
	// Static builds the static file server on Static.Build (a Go image) and
	// ships it with the site on Static.Run.
	Static StackImages
}

// DefaultImages returns the official Docker Hub images, which suit a
// cluster whose BuildKit can pull from Docker Hub.
func DefaultImages() Images {
	const debianSlim = "docker.io/library/debian:bookworm-slim"
	golang := "docker.io/library/golang:1.26-bookworm"
	return Images{
		Go:     StackImages{Build: golang, Run: debianSlim},
		Node:   StackImages{Build: "docker.io/library/node:20-bookworm", Run: "docker.io/library/node:20-bookworm-slim"},
		Python: StackImages{Build: "docker.io/library/python:3.11-bookworm", Run: "docker.io/library/python:3.11-slim-bookworm"},
		Ruby:   StackImages{Build: "docker.io/library/ruby:3.1-bookworm", Run: "docker.io/library/ruby:3.1-slim-bookworm"},
		Static: StackImages{Build: golang, Run: debianSlim},
	}
}

// LocalStackImages returns the stack images `make up` pushes to the local
// stack's registry (host:port), which need no public registry.
func LocalStackImages(registry string) Images {
	img := func(name string) string { return fmt.Sprintf("%s/platform/%s:bookworm", registry, name) }
	return Images{
		Go:     StackImages{Build: img("stack-go"), Run: img("run")},
		Node:   StackImages{Build: img("stack-node"), Run: img("run-node")},
		Python: StackImages{Build: img("stack-python"), Run: img("run-python")},
		Ruby:   StackImages{Build: img("stack-ruby"), Run: img("run-ruby")},
		Static: StackImages{Build: img("stack-go"), Run: img("run")},
	}
}

// withDefaults fills empty fields from DefaultImages.
func (im Images) withDefaults() Images {
	def := DefaultImages()
	fill := func(s *StackImages, d StackImages) {
		if s.Build == "" {
			s.Build = d.Build
		}
		if s.Run == "" {
			s.Run = d.Run
		}
	}
	fill(&im.Go, def.Go)
	fill(&im.Node, def.Node)
	fill(&im.Python, def.Python)
	fill(&im.Ruby, def.Ruby)
	fill(&im.Static, def.Static)
	return im
}

func (im Images) all() []string {
	return []string{im.Go.Build, im.Go.Run, im.Node.Build, im.Node.Run, im.Python.Build, im.Python.Run, im.Ruby.Build, im.Ruby.Run, im.Static.Build, im.Static.Run}
}
