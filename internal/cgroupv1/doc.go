// Package cgroupv1 creates a container's cgroup on a cgroup v1 (or hybrid)
// host with the OCI resource limits of its spec, in every mounted v1
// hierarchy, with one open per file and one write(2) per value or rule.
// It owns finding the hierarchies, the directories and the limit files; it
// does not remove cgroups, kill or move processes, or drive cgroup v2.
package cgroupv1
