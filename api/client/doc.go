// Package client is the home of the generated Go clients of the
// virtualization.deckhouse.io API: clientset/versioned is a typed clientset made by
// client-gen from the types in ../v1alpha2 (hack/generate.sh), and
// clientset/versioned/fake is its in-memory double for tests. Nothing here is
// written by hand but this file and the tests that keep the generated code exercised.
package client
