package main

import (
	"os"
	"path/filepath"

	"github.com/tabula-dev/tabula/container"
)

// containerEntry runs the monitor of a detached container or the --init
// reaper, which tabula starts as itself under another argv[0].
func containerEntry() bool {
	if len(os.Args) == 0 {
		return false
	}
	switch filepath.Base(os.Args[0]) {
	case container.MonitorName:
		os.Exit(container.Monitor(os.Args[1:]))
	case container.StarterName:
		os.Exit(container.Starter(os.Args[1:]))
	case container.ReaperName:
		os.Exit(container.Reaper(os.Args[1:]))
	}
	return false
}

func init() { reexecEntries = append(reexecEntries, containerEntry) }
