// Package vmip reconciles VirtualMachineIPAddresses: it claims an address
// for each by creating the cluster-scoped lease named after the address
// (ip-10-66-10-2), binds the address once the lease is bound to it, and
// reports which machine uses it. The lease's unique name is the lock: two
// addresses can never hold one lease, however stale this controller's cache
// or however many controllers race, so the allocator only has to be right
// most of the time to be fast, never to be safe.
package vmip
