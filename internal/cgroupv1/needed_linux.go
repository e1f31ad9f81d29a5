package cgroupv1

import (
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// always are the controllers every container's cgroup is in: its memory
// limit and OOM kills, its pids limit, and its device rules.
var always = []string{"memory", "pids", "devices"}

// Needed are the hierarchies of hs a container with resources res (nil
// for none) joins: those of the memory, pids and devices controllers, and
// those of the controllers res sets a limit in. Joining a hierarchy is a
// directory to make and to remove, a tasks file to write and a filesystem
// to mount in the container, on the path of every run; the other
// hierarchies (cpuacct's accounting alone, freezer, perf_event, …) are
// left alone, as systemd leaves a unit out of the hierarchy of a
// controller that none of its settings uses. A host where none of the
// three is mounted has its container join every hierarchy.
func Needed(hs []Hierarchy, res *specs.LinuxResources) []Hierarchy {
	want := append(slices.Clone(always), limited(res)...)
	var out []Hierarchy
	for _, h := range hs {
		if slices.ContainsFunc(h.Controllers, func(c string) bool { return slices.Contains(want, c) }) {
			out = append(out, h)
		}
	}
	if !slices.ContainsFunc(out, func(h Hierarchy) bool {
		return slices.ContainsFunc(always, h.has)
	}) {
		return hs
	}
	return out
}

// limited are the controllers other than memory, pids and devices whose
// files Create writes for res: what creation.limits takes as set.
func limited(res *specs.LinuxResources) []string {
	if res == nil {
		return nil
	}
	var cs []string
	if p := res.CPU; p != nil {
		if nonzero(p.Shares) || nonzero(p.Period) || nonzero(p.Quota) || nonzero(p.Burst) ||
			nonzero(p.RealtimePeriod) || nonzero(p.RealtimeRuntime) || nonzero(p.Idle) {
			cs = append(cs, "cpu")
		}
		if p.Cpus != "" || p.Mems != "" {
			cs = append(cs, "cpuset")
		}
	}
	if res.BlockIO != nil {
		cs = append(cs, "blkio")
	}
	if len(res.HugepageLimits) > 0 {
		cs = append(cs, "hugetlb")
	}
	if n := res.Network; n != nil {
		if nonzero(n.ClassID) {
			cs = append(cs, "net_cls")
		}
		if len(n.Priorities) > 0 {
			cs = append(cs, "net_prio")
		}
	}
	if len(res.Rdma) > 0 {
		cs = append(cs, "rdma")
	}
	return cs
}

// nonzero reports whether a spec field is set to something other than 0.
func nonzero[T int64 | uint64 | uint32](v *T) bool { return v != nil && *v != 0 }
