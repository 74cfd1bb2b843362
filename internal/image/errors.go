package image

import (
	"errors"
	"net"
)

// Sentinel errors. Errors returned by this package wrap at most one of them;
// Reason maps an error to the short word the controller shows.
var (
	// ErrNotFound: the source does not exist or refuses access (HTTP 404,
	// 410, 401, 403; registry manifest or repository unknown).
	ErrNotFound = errors.New("image not found")
	// ErrDNS: the source's host name does not resolve.
	ErrDNS = errors.New("host name does not resolve")
	// ErrChecksum: the bytes received do not match a checksum given.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsupportedFormat: a format or layout this platform does not import
	// (zstd, a qcow2 with a backing file, a VMDK descriptor, VHDX, ...).
	ErrUnsupportedFormat = errors.New("unsupported image format")
	// ErrCorrupt: the data is not a readable image of the detected format
	// (broken compression, truncated qcow2, qemu-img refuses it).
	ErrCorrupt = errors.New("corrupt image")
	// ErrRegistryAuth: a registry refused the credentials.
	ErrRegistryAuth = errors.New("registry authentication failed")
	// ErrTooSmall: the disk is smaller than the image written onto it.
	ErrTooSmall = errors.New("disk too small for the image")
	// ErrTooLarge: the source sends, or the image unpacks to, more than
	// the platform accepts (Scratch.MaxBytes).
	ErrTooLarge = errors.New("image too large")
	// ErrNoSpace: spooling the image would leave the platform's file
	// system without its reserve (Scratch.KeepFree).
	ErrNoSpace = errors.New("not enough disk space")
	// ErrForbiddenAddress: the source resolves to an address image sources
	// may not reach (AddressPolicy).
	ErrForbiddenAddress = errors.New("address not allowed for image sources")
)

// Reasons returned by Reason.
const (
	ReasonNotFound          = "NotFound"
	ReasonDNS               = "DNS"
	ReasonChecksum          = "Checksum"
	ReasonUnsupportedFormat = "UnsupportedFormat"
	ReasonCorrupt           = "Corrupt"
	ReasonRegistryAuth      = "RegistryAuth"
	ReasonNetwork           = "Network"
	ReasonTooSmall          = "TooSmall"
	ReasonTooLarge          = "TooLarge"
	ReasonNoSpace           = "NoSpace"
	ReasonForbiddenAddress  = "AddressNotAllowed"
)

// Reason classifies err for a termination message. Anything not matched by
// a sentinel error (connection failures, timeouts, registry errors, local
// I/O) is "Network": worth a retry by recreating the importer.
func Reason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, ErrChecksum):
		return ReasonChecksum
	case errors.Is(err, ErrUnsupportedFormat):
		return ReasonUnsupportedFormat
	case errors.Is(err, ErrCorrupt):
		return ReasonCorrupt
	case errors.Is(err, ErrRegistryAuth):
		return ReasonRegistryAuth
	case errors.Is(err, ErrTooSmall):
		return ReasonTooSmall
	case errors.Is(err, ErrTooLarge):
		return ReasonTooLarge
	case errors.Is(err, ErrNoSpace):
		return ReasonNoSpace
	case errors.Is(err, ErrForbiddenAddress):
		return ReasonForbiddenAddress
	case errors.Is(err, ErrDNS), errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return ReasonDNS
	case errors.Is(err, ErrNotFound):
		return ReasonNotFound
	}
	return ReasonNetwork
}
