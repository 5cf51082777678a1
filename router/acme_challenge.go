package router

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// challengePath is where an ACME CA fetches an HTTP-01 challenge's key
// authorization: /.well-known/acme-challenge/TOKEN over plain HTTP.
const challengePath = "/.well-known/acme-challenge/"

// challengeStore holds the key authorizations of the pending HTTP-01
// challenges in ConfigMaps of the router's namespace, one per token,
// which every replica watches: the CA may ask any replica. Its methods
// are safe for concurrent use.
type challengeStore struct {
	kube      kubernetes.Interface
	namespace string
	factory   informers.SharedInformerFactory
	lister    corelisters.ConfigMapLister
	synced    cache.InformerSynced
}

const challengeTokenKey, challengeKeyAuthKey = "token", "keyAuthorization"

func newChallengeStore(kube kubernetes.Interface, namespace string) *challengeStore {
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.SelectorFromSet(labels.Set{LabelACMEChallenge: "true"}).String()
		}))
	inf := f.Core().V1().ConfigMaps()
	return &challengeStore{kube: kube, namespace: namespace, factory: f, lister: inf.Lister(), synced: inf.Informer().HasSynced}
}

// start watches the challenges until ctx is done; wait waits for the
// watch to end after that.
func (s *challengeStore) start(ctx context.Context) { s.factory.Start(ctx.Done()) }
func (s *challengeStore) wait()                     { s.factory.Shutdown() }

// challengeName is the ConfigMap of a token: tokens are base64url, not
// DNS names.
func challengeName(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "acme-http01-" + hex.EncodeToString(sum[:10])
}

// keyAuthorization returns what to answer for token, if it is pending.
func (s *challengeStore) keyAuthorization(token string) (string, bool) {
	cm, err := s.lister.ConfigMaps(s.namespace).Get(challengeName(token))
	if err != nil || cm.Data[challengeTokenKey] != token {
		return "", false
	}
	return cm.Data[challengeKeyAuthKey], true
}

// put stores a challenge's key authorization and waits until this
// replica's watch has it (the others' see it about as soon). The returned
// function removes it.
func (s *challengeStore) put(ctx context.Context, token, keyAuth string) (remove func(), err error) {
	name := challengeName(token)
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.namespace, Labels: map[string]string{LabelACMEChallenge: "true"}},
		Data:       map[string]string{challengeTokenKey: token, challengeKeyAuthKey: keyAuth},
	}
	_, err = s.kube.CoreV1().ConfigMaps(s.namespace).Create(ctx, cm, metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		_, err = s.kube.CoreV1().ConfigMaps(s.namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager})
	}
	if err != nil {
		return nil, fmt.Errorf("storing the HTTP-01 challenge in configmap %s/%s: %w", s.namespace, name, err)
	}
	remove = func() {
		// The challenge is over whether or not the caller's ctx is.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = s.kube.CoreV1().ConfigMaps(s.namespace).Delete(dctx, name, metav1.DeleteOptions{})
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ka, ok := s.keyAuthorization(token); ok && ka == keyAuth {
			return remove, nil
		}
		select {
		case <-ctx.Done():
			remove()
			return nil, fmt.Errorf("waiting for the HTTP-01 challenge to be served: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// sweep deletes the challenges older than age: those a replica elected
// before left behind when it died mid-order.
func (s *challengeStore) sweep(ctx context.Context, age time.Duration, now time.Time) {
	cms, err := s.lister.ConfigMaps(s.namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, cm := range cms {
		if now.Sub(cm.CreationTimestamp.Time) > age {
			_ = s.kube.CoreV1().ConfigMaps(s.namespace).Delete(ctx, cm.Name, metav1.DeleteOptions{}) // gone already, or swept next time
		}
	}
}

// withChallenges is the plain HTTP handler of a router that obtains
// certificates: it answers the CA's HTTP-01 requests for pending
// challenges, for any host, before routing and before the redirect to
// HTTPS. Other requests, and tokens it does not know (an app may answer
// its own), go to the router.
type withChallenges struct{ rt *Router }

func (h withChallenges) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if token, ok := strings.CutPrefix(r.URL.Path, challengePath); ok && r.TLS == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		if ka, ok := h.rt.challenges.keyAuthorization(token); ok {
			h.rt.log.Debug("answering ACME challenge", "host", r.Host, "client", r.RemoteAddr)
			hdr := w.Header()
			hdr["Content-Type"] = []string{"text/plain"}
			hdr["Cache-Control"] = []string{"no-store"}
			_, _ = w.Write([]byte(ka)) // the CA went away: it retries or fails the challenge
			return
		}
	}
	h.rt.ServeHTTP(w, r)
}

// fieldManager names the router's writes in the objects' managedFields.
const fieldManager = "platform-router"
