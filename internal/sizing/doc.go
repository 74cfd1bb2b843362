// Package sizing holds the CPU topology rule and the VirtualMachineClass
// sizing-policy checks. Admission uses them to refuse a VM that does not fit
// its class; the VM controller uses them for the SizingPolicyMatched condition
// of VMs whose class changed under them.
package sizing
