// Package reconcile holds what every reconciler of the platform shares.
package reconcile
