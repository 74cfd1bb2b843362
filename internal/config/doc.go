// Package config reads and validates the settings file of `dvp server`.
//
// The file is the all-in-one counterpart of the upstream module configuration:
// VM address ranges, StorageClasses of the local provisioner, simulated nodes and
// the accelerator choice. Parsing is strict: an unknown key or a bad value stops
// start-up with an error that names the key, because a typo silently ignored
// would show up much later as a VM without an address or a missing class.
package config
