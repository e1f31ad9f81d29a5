// Package cgroupv2 creates a container's cgroup on a cgroup v2 (unified)
// host with the OCI resource limits of its spec, and its device rules as an
// eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, with one open per file.
// It owns the directories, the controllers enabled above them, the limit
// files and the device program; it does not move or kill processes, or
// drive cgroup v1 (internal/cgroupv1 does) or systemd.
package cgroupv2
