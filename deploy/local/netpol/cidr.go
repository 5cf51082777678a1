package main

import (
	"encoding/binary"
	"net/netip"
	"slices"
)

// subtract returns the IPv4 prefixes that together cover exactly the
// addresses of p that none of except covers, in address order. It is how
// an ipBlock's except list becomes plain iptables matches: one rule a
// prefix, with no marks and no sub-chains.
func subtract(p netip.Prefix, except []netip.Prefix) []netip.Prefix {
	left := []netip.Prefix{p.Masked()}
	for _, e := range except {
		e = e.Masked()
		var next []netip.Prefix
		for _, q := range left {
			next = append(next, subtractOne(q, e)...)
		}
		left = next
	}
	slices.SortFunc(left, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	return left
}

// subtractOne returns q less e: q itself when they do not overlap, nothing
// when e covers q, and otherwise the halves of q that do not hold e, found
// by halving q until the half left is e.
func subtractOne(q, e netip.Prefix) []netip.Prefix {
	if !q.Overlaps(e) {
		return []netip.Prefix{q}
	}
	if e.Bits() <= q.Bits() {
		return nil
	}
	var out []netip.Prefix
	for q.Bits() < e.Bits() {
		lo, hi := halves(q)
		if lo.Contains(e.Addr()) {
			out = append(out, hi)
			q = lo
		} else {
			out = append(out, lo)
			q = hi
		}
	}
	return out
}

// halves splits an IPv4 prefix shorter than /32 into its two halves.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	a := p.Addr().As4()
	n := binary.BigEndian.Uint32(a[:])
	bits := p.Bits() + 1
	lo = netip.PrefixFrom(p.Addr(), bits)
	binary.BigEndian.PutUint32(a[:], n|1<<(32-bits))
	hi = netip.PrefixFrom(netip.AddrFrom4(a), bits)
	return lo, hi
}
