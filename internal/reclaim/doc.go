// Package reclaim removes files and directories from a detached process, so
// that a command can return before they are gone.
//
// Removing a directory on ext4 waits for the disk (a discard, on a disk
// mounted with discard), and a container leaves a dozen: its writable
// layer, its work directory and the entries overlayfs puts there, its
// state and its cgroup. After `tabula run --rm` the container must be gone
// from every listing at once, which renaming its directories away does;
// their removal can follow, as containerd's collector removes a snapshot's
// files after the snapshot itself is gone.
//
// Detach hands a List to a process that shares the caller's memory and
// runs nothing but the list's system calls: it needs no Go runtime, no
// copy of the address space, and no new program, so it costs tens of
// microseconds to start. A caller that exits right after leaves that
// process to unmap the memory they share, which spares the caller's own
// exit most of its cost too.
package reclaim
