// Command netpol enforces Kubernetes NetworkPolicies on the local stack's
// single node, whose pods sit on one Linux bridge (plat0) with
// br_netfilter on, so that packets bridged between pods traverse the
// iptables FORWARD chain.
//
// It watches Pods, Namespaces and networking.k8s.io/v1 NetworkPolicies
// and, after each change (debounced) and every --resync, computes the
// whole rule set from them and applies it with one iptables-restore
// --noflush to the filter table chains it owns: PLATFORM-NETPOL, jumped to
// from the top of FORWARD for packets that come from the bridge (to a pod,
// or out to another interface) and for packets from another interface to
// the bridge, and a chain per restricted pod and direction,
// PLATFORM-NP-I-* and PLATFORM-NP-E-*. It owns those chains and the jumps
// to them and touches nothing else.
//
// # Semantics
//
// Those of NetworkPolicy: a pod selected by no policy of a type is not
// restricted in that direction; a pod selected by one gets only what some
// rule of some policy selecting it allows (the union). Peers are pod
// selectors (in the policy's namespace), namespace selectors, both, and
// ipBlocks with exceptions; ports are TCP, UDP or SCTP, a number, a range
// (endPort) or a name, resolved against the destination pod's container
// ports. Packets of connections already allowed (conntrack ESTABLISHED or
// RELATED) pass; a policy change does not cut them. What no rule allows is
// rejected (ICMP port unreachable: the client sees "connection refused").
// An allowed packet is never accepted outright: it returns to FORWARD, so
// the stack's own rules after the jump (PLATFORM-ISOLATE keeps pods from
// reaching beyond the machine) still hold; a policy narrows what they let
// through, never widens it.
//
// Pods count when they are Pending or Running, not on the host network,
// and hold an IPv4 address in --pod-cidr other than --node-ip. Others
// (no address yet, finished, host network) have no chain and are no peer.
//
// # What it does not police
//
// Traffic the node itself originates or receives takes OUTPUT and INPUT,
// not FORWARD: kubelet probes and the platform's router, which runs on the
// host and reaches pods from the node's address, are let through, as most
// CNI plugins let node-local traffic through; pods' traffic to the node is
// the stack's static INPUT rules' to police. The pod network is IPv4 only,
// so are the rules (an IPv6 ipBlock matches nothing). A pod that forges
// another pod's source address is judged as that pod on egress: the rules
// match addresses, not bridge ports.
//
// # Lifecycle
//
// It is safe to restart: every apply declares the chains it fills (which
// empties them), deletes chains of its own it no longer needs, and puts
// its jumps back first in FORWARD if something moved them. On SIGTERM or
// SIGINT it exits leaving the rules in place: a pod that a policy isolates
// stays isolated while netpol is down (changes wait for its return).
// --cleanup removes every chain and jump it owns and exits. Once the first
// apply has succeeded, GET /healthz on --health-addr answers 200.
package main

import (
	"context"
	"fmt"
	"os"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "netpol:", err)
		os.Exit(1)
	}
}
