// Package runtime runs OCI runtime bundles on Linux: it turns a config.json
// into a container instance (namespaces, rootfs and the standard mounts,
// pivot_root, devices, capabilities, seccomp, cgroups, rlimits) with the
// process as PID 1, and implements the OCI lifecycle (create, start, state,
// kill, delete) plus exec. It knows nothing of images, Dockerfiles or stores;
// tabula run, build's RUN and the runc-compatible verbs all sit on top of it.
//
// A container's process is started from the calling process itself where
// the host allows (spawn_linux.go: v1 and hybrid cgroup hosts, Linux 6.15 or
// later, a seccomp profile that permits ptrace), and otherwise by starting
// tabula again as an init that sets the container up around itself
// (init_linux.go). Both give the program the same container.
//
// Seccomp profiles compile with internal/seccomp (a binary search over
// system call numbers), cgroups are made with internal/cgroupv1 on v1 and
// hybrid hosts and internal/cgroupv2 (device rules as an eBPF program) on
// v2 hosts, and the small files of the container's path are read and
// written with internal/sysfile: each does with bare system calls what a
// general library did at several times the cost, paid by every container.
package runtime
