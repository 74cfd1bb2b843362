// Package ipam is the pure arithmetic of the machines' address pool: which
// addresses of virtualMachineCIDRs may be handed out, the first free one, and
// the lease name that locks an address ("ip-10-66-10-2"). It does no I/O: the
// controllers give it the set of taken addresses they read from the API, and
// the API's unique object names, not this package, make two claims on one
// address impossible.
package ipam
