// Command platformd is the platform's server.
//
// It owns the process: reading and validating the configuration from flags
// and PLATFORM_* environment variables, building the one logger, migrating
// and opening the database, bootstrapping the first administrator, wiring
// the server, builder, deployer and embedded registry together, serving
// them, and shutting them down gracefully on SIGINT or SIGTERM. With
// --mode=router it runs only the router, the apps' HTTP edge, as its own
// deployment, with its probes and metrics. It holds no logic of its own
// beyond that wiring.
package main

import (
	"context"
	"fmt"
	"os"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "platformd:", err)
		os.Exit(1)
	}
}
