package registry

import "errors"

var (
	// ErrInvalidOptions is wrapped by New for options it cannot run with.
	ErrInvalidOptions = errors.New("invalid registry options")
	// ErrAlreadyRunning is returned by a second call of Run.
	ErrAlreadyRunning = errors.New("registry is already running")
)
