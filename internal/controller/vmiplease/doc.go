// Package vmiplease reconciles VirtualMachineIPAddressLeases: a lease is
// Bound while the address resource it names exists and agrees, Released
// otherwise; a released lease keeps its namespace (the address stays
// reserved for that project) and is deleted after the retention period.
package vmiplease
