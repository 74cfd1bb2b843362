// Package webhook holds the admission rules that the CRD schema and CEL cannot
// express: rules that compare with the stored object in ways CEL transition
// rules cannot (a disk may only grow), that read other objects (one default
// class, sizing policies of the VM's class), or that read platform settings
// (static addresses inside virtualMachineCIDRs).
//
// Every rejection is a field error: it names the field and says what is
// allowed, and the apiserver stores nothing.
package webhook
