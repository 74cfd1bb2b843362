// Package platform holds the names and built-in objects that several parts of
// the platform share: the module namespace, the API scheme, the `generic`
// VirtualMachineClass. It is small on purpose and links no control plane.
package platform
