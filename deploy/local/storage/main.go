// Command storage is the local stack's storage provisioner: it gives every
// PersistentVolumeClaim of its StorageClass a directory on the node, as a
// hostPath PersistentVolume pinned to the node, and removes the directory
// when the volume is deleted. It runs on the node itself, as the stack's
// other components do, so it needs no helper pods and no image.
//
// The claims and volumes are watched, and PersistentVolumes written, by the
// Kubernetes storage SIG's provisioner library
// (sigs.k8s.io/sig-storage-lib-external-provisioner), which handles binding
// modes (a WaitForFirstConsumer class is provisioned once the scheduler has
// chosen the node), retries and reclaim policies; this command is the part
// that knows where directories go.
//
// A single-node stack has one node, so every access mode is served
// (ReadWriteMany included: every pod that mounts the volume is on that
// node). Block volumes are refused. Once the controller runs, GET /healthz
// on --health-addr answers 200.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "storage:", err)
		os.Exit(1)
	}
}
