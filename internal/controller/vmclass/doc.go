// Package vmclass reconciles VirtualMachineClasses: a class is Ready once
// some node can run its machines, lists those nodes (for classes with a
// node selector), and is kept while machines use it.
package vmclass
