// Package virtualmachine reconciles VirtualMachines: it waits for the
// machine's class, disks and images, runs every start of the machine as a
// new launcher pod (virt-launcher-<vm>-xxxxx, container d8v-compute) and
// applies the run policy to the way each launcher pod ended. The launcher
// reports the guest's fate (powered off, rebooted, crashed) in its
// termination message; the decision to start again lives here, not in a
// loop inside the launcher, so every restart is a fresh pod with its own
// UID and pending spec changes apply.
//
// A reconcile is a plain list of phases (controller.go) that act and record
// what they found in a plan (plan.go); the status is computed from the plan
// once, at the end, by the pure functions of status.go.
package virtualmachine
