// Package vmop reconciles VirtualMachineOperations: Start, Stop and Restart
// of a VirtualMachine. An operation checks that it applies to the machine's
// run policy and phase, sends its signal once (the machine's power intent,
// or the deletion of its launcher pod), and completes when the machine
// reaches the state it asked for. One operation acts on a machine at a
// time; a newer compatible one supersedes the older.
package vmop
