package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/sig-storage-lib-external-provisioner/v11/controller"
)

func claim(mode *corev1.PersistentVolumeMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeMode:  mode,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceStorage: resource.MustParse("2Gi"),
			}},
		},
	}
}

func TestProvisionAndDelete(t *testing.T) {
	root := t.TempDir()
	p := &hostPath{root: root, node: "node-a"}
	retain := corev1.PersistentVolumeReclaimRetain
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, ReclaimPolicy: &retain}

	pv, state, err := p.Provision(context.Background(), controller.ProvisionOptions{
		StorageClass: class, PVName: "pvc-123", PVC: claim(nil),
		SelectedNode: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}},
	})
	require.NoError(t, err)
	assert.Equal(t, controller.ProvisioningFinished, state)
	dir := filepath.Join(root, "pvc-123")
	info, err := os.Stat(dir)
	require.NoError(t, err, "the volume's directory is made")
	assert.Equal(t, os.FileMode(0o777), info.Mode().Perm(), "any pod user may write to it")

	assert.Equal(t, dir, pv.Spec.HostPath.Path)
	assert.Equal(t, "pvc-123", pv.Name)
	assert.Equal(t, corev1.PersistentVolumeReclaimRetain, pv.Spec.PersistentVolumeReclaimPolicy, "the class's reclaim policy")
	assert.Equal(t, []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, pv.Spec.AccessModes)
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	assert.Equal(t, "2Gi", size.String())
	term := pv.Spec.NodeAffinity.Required.NodeSelectorTerms[0].MatchExpressions[0]
	assert.Equal(t, corev1.LabelHostname, term.Key)
	assert.Equal(t, []string{"node-a"}, term.Values, "pinned to the node its directory is on")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "file"), []byte("data"), 0o600))
	require.NoError(t, p.Delete(context.Background(), pv))
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "deleting the volume removes its directory and what is in it")
	assert.NoError(t, p.Delete(context.Background(), pv), "deleting twice is not an error")
}

func TestProvisionRefuses(t *testing.T) {
	root := t.TempDir()
	p := &hostPath{root: root, node: "node-a"}
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}}
	block := corev1.PersistentVolumeBlock

	_, state, err := p.Provision(context.Background(), controller.ProvisionOptions{StorageClass: class, PVName: "pvc-b", PVC: claim(&block)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "leave volumeMode out or set it to Filesystem")
	assert.Equal(t, controller.ProvisioningFinished, state, "retrying cannot help")

	_, _, err = p.Provision(context.Background(), controller.ProvisionOptions{
		StorageClass: class, PVName: "pvc-c", PVC: claim(nil),
		SelectedNode: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `serves node "node-a"`)

	for _, name := range []string{"..", "a/b", ""} {
		_, _, err = p.Provision(context.Background(), controller.ProvisionOptions{StorageClass: class, PVName: name, PVC: claim(nil)})
		assert.Error(t, err, "volume name %q", name)
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing is made for a refused claim")
}

func TestDeleteStaysUnderRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	p := &hostPath{root: root, node: "node-a"}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pvc-x"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: outside},
		}},
	}
	err := p.Delete(context.Background(), pv)
	require.Error(t, err, "a volume edited to point elsewhere is not removed")
	_, err = os.Stat(outside)
	assert.NoError(t, err)

	nfs := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-y"}}
	var ignored *controller.IgnoredError
	assert.ErrorAs(t, p.Delete(context.Background(), nfs), &ignored, "someone else's kind of volume")
}

func TestLoadConfig(t *testing.T) {
	none := func(string) string { return "" }
	_, err := loadConfig([]string{"--root=relative", "--node-name=n"}, none, os.Stderr)
	assert.ErrorContains(t, err, "want an absolute directory")
	_, err = loadConfig([]string{"--root=/v"}, none, os.Stderr)
	assert.ErrorContains(t, err, "--node-name is required")
	_, err = loadConfig([]string{"--root=/v", "--node-name=n", "--health-addr=0.0.0.0:1"}, none, os.Stderr)
	assert.ErrorContains(t, err, "want a loopback host:port")
	c, err := loadConfig([]string{"--root=/v/", "--node-name=n"}, func(k string) string { return map[string]string{"KUBECONFIG": "/k"}[k] }, os.Stderr)
	require.NoError(t, err)
	assert.Equal(t, config{Kubeconfig: "/k", Root: "/v", Node: "n", Provisioner: "platform.local/hostpath", HealthAddr: "127.0.0.1:7893"}, c)
}
