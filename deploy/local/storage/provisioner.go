package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"
)

// hostPath provisions volumes as directories under root on node.
type hostPath struct {
	root string
	node string
}

var _ controller.Provisioner = (*hostPath)(nil)

// dir is where the volume named pvName lives.
func (p *hostPath) dir(pvName string) string { return filepath.Join(p.root, pvName) }

// Provision makes the claim's directory and returns its PersistentVolume.
func (p *hostPath) Provision(_ context.Context, o controller.ProvisionOptions) (*corev1.PersistentVolume, controller.ProvisioningState, error) {
	claim := o.PVC
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s asks for a block volume; this provisioner makes file system volumes only: leave volumeMode out or set it to Filesystem", claim.Namespace, claim.Name)
	}
	if o.SelectedNode != nil && o.SelectedNode.Name != p.node {
		return nil, controller.ProvisioningFinished, fmt.Errorf("claim %s/%s is for node %q; this provisioner serves node %q", claim.Namespace, claim.Name, o.SelectedNode.Name, p.node)
	}
	if o.PVName == "" || strings.ContainsAny(o.PVName, "/\\") || o.PVName == "." || o.PVName == ".." {
		return nil, controller.ProvisioningFinished, fmt.Errorf("volume name %q cannot be a directory name", o.PVName)
	}
	dir := p.dir(o.PVName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("making %s: %w", dir, err)
	}
	// Whatever user the pod runs as writes to it, as on a cloud disk
	// formatted for the pod.
	if err := os.Chmod(dir, 0o777); err != nil {
		return nil, controller.ProvisioningFinished, fmt.Errorf("opening %s to the pod's user: %w", dir, err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if o.StorageClass.ReclaimPolicy != nil {
		reclaim = *o.StorageClass.ReclaimPolicy
	}
	dirType := corev1.HostPathDirectory
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: o.PVName},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: reclaim,
			AccessModes:                   claim.Spec.AccessModes,
			MountOptions:                  o.StorageClass.MountOptions,
			VolumeMode:                    claim.Spec.VolumeMode,
			Capacity: corev1.ResourceList{
				corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage],
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{p.node},
				}}}},
			}},
		},
	}
	return pv, controller.ProvisioningFinished, nil
}

// Delete removes the volume's directory. A volume whose path is not one of
// this provisioner's directories is left alone: its PersistentVolume may
// have been edited, and nothing outside root is ever removed.
func (p *hostPath) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath == nil {
		return &controller.IgnoredError{Reason: "not a hostPath volume"}
	}
	path := filepath.Clean(pv.Spec.HostPath.Path)
	if path != p.dir(pv.Name) {
		return fmt.Errorf("volume %s points at %s, not at %s: not removing it", pv.Name, path, p.dir(pv.Name))
	}
	if err := os.RemoveAll(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
