// Package reconcile holds what every reconciler of the platform shares: the
// status written once at the end of a reconcile and only when it changed
// (status.go), conditions set on any kind's condition list (conditions.go),
// finalizers added and removed without losing the status computed so far
// (finalizers.go), and quiet retries of optimistic-lock conflicts
// (conflicts.go). Controllers stay plain code over these few functions; there
// is no handler framework here on purpose.
package reconcile
