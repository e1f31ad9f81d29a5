//go:build linux && !amd64

package reclaim

// Detach returns 0: it cannot start a detached process here (the entry
// code is written for amd64 alone), and the caller calls Remove.
func (l *List) Detach() int { return 0 }
