// Package version reports the build version of the project's binaries.
package version

// Version is set at link time (-X github.com/virtlab/dvp/internal/version.Version=...).
var Version = "dev"
