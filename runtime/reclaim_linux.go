package runtime

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/reclaim"
)

// stateEntries are what a container's state directory may hold.
var stateEntries = []string{stateFile, heldName, fifoName, tracedMark}

// Reclaim removes container id, whose processes have all exited, from this
// runtime at once, and adds to l the removal of what is left of it: its
// state directory, renamed away, and its cgroup; and the mount namespace
// this process holds when it created the container and waited for its
// program, for l to let go of last. It returns false, having
// changed nothing, when the container has a process still (or no state);
// the caller then deletes it with Delete.
func (r *Runtime) Reclaim(id string, l *reclaim.List) bool {
	st, err := r.loadState(id)
	if err != nil {
		return false
	}
	if pidfd, err := st.openLive(); err == nil {
		unix.Close(pidfd)
		return false
	}
	var dirs []string
	if st.Cgroup != "" {
		// A container's processes are in every hierarchy it joined on a
		// v1 host: one tells.
		if dirs, err = cgroupDirs(st.Cgroup); err != nil || len(dirs) == 0 || len(cgroupPids(dirs[:1])) > 0 {
			return false // Delete kills them
		}
	}
	gone := filepath.Join(r.StateDir, removingPrefix+id)
	if os.Rename(st.dir, gone) != nil {
		return false
	}
	if f := takeMntns(st.dir); f != nil {
		l.Hold(f)
	}
	for _, d := range dirs {
		l.Rmdir(d)
	}
	for _, e := range stateEntries {
		l.Unlink(filepath.Join(gone, e))
	}
	l.Rmdir(gone)
	return true
}
