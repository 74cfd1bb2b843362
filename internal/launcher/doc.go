// Package launcher runs one virtual machine: it turns a typed Config into a
// QEMU command line, prepares what QEMU needs (disks resolved or pulled from
// DVCR, the cloud-init seed, the accelerator, EFI firmware), starts QEMU,
// follows it over QMP, reports the guest's state as pod conditions, grows
// disks whose volume grew, shuts the guest down on a stop request and says
// how the run ended. It is the body of `dvp-worker launch`, the compute
// container of a VM's launcher pod, and reads no Kubernetes API: everything
// comes from its Config and RunEnv.
//
// Files by concern: config.go and qemu.go/qemu_devices.go (the Config and
// its argv, checked by golden tests), prepare.go (run directory, disks,
// cloud-init, firmware), process.go (starting and stopping QEMU),
// monitor.go (QMP events to conditions), resize.go (online block_resize),
// outcome.go (how a run ended). The QMP client is package qmp. The design
// is docs/design/launcher.md.
package launcher
