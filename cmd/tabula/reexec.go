package main

// reexec runs the hidden entry points that tabula starts as child processes of
// itself (the container init, the monitor of a detached container) before any
// flag parsing. It reports whether it handled the process.
func reexec() bool {
	for _, entry := range reexecEntries {
		if entry() {
			return true
		}
	}
	return false
}

// reexecEntries is filled by init functions of the files that own an entry point.
var reexecEntries []func() bool
