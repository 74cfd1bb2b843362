// Package cli implements the user CLI `d8 v` (alias `d8 virtualization`). Each
// command is one thin file over library code; all of them reach the cluster
// only through the kubeconfig, as kubectl does.
package cli
