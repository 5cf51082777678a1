package deployer

import (
	"net/http"
	"os"
	"runtime"
	"testing"

	"go.uber.org/goleak"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// rollout's informers, a log follower, a release command's watches must
// all stop when the call that started them returns. What the process
// keeps for itself is released first (see withPoolsReleased). One
// goroutine is ignored, and it is not the deployer's: the event
// broadcaster of the registry that TestTenantPullCredential serves, which
// the distribution library starts and its App.Shutdown never stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withPoolsReleased{m},
		goleak.IgnoreTopFunction("github.com/docker/go-events.(*Broadcaster).run"))
}

// withPoolsReleased runs the tests, then releases what outlives them in
// process-wide pools rather than in the deployer, so that goleak sees only
// real leaks:
//
//   - the connections left idle in http.DefaultTransport, by the tests' own
//     requests to pods and to the registry;
//   - the connections left idle in client-go's transport for the stack's
//     kubeconfig. client-go keeps one transport per TLS configuration for
//     the process; holding it from the start makes every client of the
//     tests share it, so that it can be reached at the end;
//   - the client-certificate rotation that client-go runs for that
//     transport (the stack's kubeconfig names certificate files). It stops
//     when the transport is garbage collected, hence the GC once nothing
//     holds it.
type withPoolsReleased struct{ m *testing.M }

// Run runs the tests and returns their exit code.
func (r withPoolsReleased) Run() int {
	stack := stackTransport()
	code := r.m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if stack != nil {
		utilnet.CloseIdleConnectionsFor(stack)
	}
	runtime.GC()
	return code
}

// stackTransport returns client-go's shared transport for the cluster
// KUBECONFIG names, or nil without one.
func stackTransport() http.RoundTripper {
	kubeconfig := os.Getenv("KUBECONFIG")
	if kubeconfig == "" {
		return nil
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil // the tests that need it say why
	}
	rt, err := rest.TransportFor(rc)
	if err != nil {
		return nil
	}
	return rt
}
