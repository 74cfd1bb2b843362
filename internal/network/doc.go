// Package network is the node side of VM networking, the part a CNI plugin
// would own on a real node: a Linux bridge holding the gateway address of
// each virtualMachineCIDR, one persistent tap per launcher pod plugged into
// it, a DHCP server that answers each VM's MAC with exactly its leased
// address, and an nftables ruleset that keeps guests to their own MAC and
// IP, masquerades their outbound traffic and keeps the host itself out of
// their reach.
//
// A Manager works in the network namespace it was created in. Its state
// (which pod has which tap, MAC and address) lives in the kernel: each tap
// carries an alias naming its node, pod, MAC, address and hostname, so a
// Manager started after a crash answers DHCP and filters exactly as before
// even before the node runtime has told it what it wants. Sync then makes
// the kernel match the node's pods: it creates missing taps, deletes ours
// that no pod wants, and rebuilds the rules in one netlink batch; a tap a
// running QEMU holds is never recreated.
//
// The package returns errors and does not log. docs/design/networking.md
// has the model and the reasons.
package network
