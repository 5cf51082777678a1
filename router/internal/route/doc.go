// Package route is the router's routing table and where it comes from:
// the watch of a cluster's Ingresses of one class, and of the Services and
// EndpointSlices they name, and the routes computed from them (host, then
// longest path, then a Service port resolved to the ready,
// non-terminating pod endpoints of its EndpointSlices), as plain values.
// A Table finds the route of a request.
//
// It does not own what a route leads to (connection pools, metrics: the
// router keeps those by route), nor the Ingresses themselves (the deployer
// writes them). It takes a Kubernetes clientset and gives out plain
// values. It imports nothing of the platform's.
package route
