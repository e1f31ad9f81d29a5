// Package errdefs holds the few sentinel errors that every tabula package
// wraps with context, so that callers decide with errors.Is and the command
// line maps them to messages and exit codes in one place.
package errdefs

import "errors"

var (
	// ErrNotFound: an image, container, stage, file or blob does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a name or ID is already taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidArgument: bad input from the user (a flag, a Dockerfile, a tarball).
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrFailedPrecondition: the request is valid but the state does not allow it
	// (a running container cannot be removed without force, say).
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrCorrupt: stored data does not match its digest or size.
	ErrCorrupt = errors.New("corrupt")
	// ErrNotImplemented: a valid request for something tabula does not do (yet).
	ErrNotImplemented = errors.New("not implemented")
)

// IsNotFound reports whether err is, or wraps, ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsInvalidArgument reports whether err is, or wraps, ErrInvalidArgument.
func IsInvalidArgument(err error) bool { return errors.Is(err, ErrInvalidArgument) }
