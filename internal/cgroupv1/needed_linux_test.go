package cgroupv1

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestNeeded picks the hierarchies of a typical v1 host that containers
// with various limits join.
func TestNeeded(t *testing.T) {
	var hs []Hierarchy
	for _, cs := range []string{"cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls,net_prio", "hugetlb", "perf_event"} {
		hs = append(hs, Hierarchy{Controllers: strings.Split(cs, ","), Mount: "/sys/fs/cgroup/" + cs})
	}
	base := []string{"memory", "devices", "pids"}
	for name, tc := range map[string]struct {
		res  *specs.LinuxResources
		want []string
	}{
		"none":         {nil, base},
		"memory limit": {&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}}, base},
		"cpus":         {&specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(50000), Period: u64(100000)}}, []string{"cpu,cpuacct", "memory", "devices", "pids"}},
		"zero shares":  {&specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(0)}}, base},
		"cpuset":       {&specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0"}}, []string{"cpuset", "memory", "devices", "pids"}},
		"blkio":        {&specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(100)}}, []string{"memory", "devices", "blkio", "pids"}},
		"class ID":     {&specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(7)}}, []string{"memory", "devices", "pids", "net_cls,net_prio"}},
		"hugetlb":      {&specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 1 << 21}}}, []string{"memory", "devices", "pids", "hugetlb"}},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, h := range Needed(hs, tc.res) {
				got = append(got, strings.Join(h.Controllers, ","))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Needed = %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("none of the three mounted", func(t *testing.T) {
		few := []Hierarchy{{Controllers: []string{"cpu"}, Mount: "/c"}, {Controllers: []string{"freezer"}, Mount: "/f"}}
		if got := Needed(few, nil); !slices.EqualFunc(got, few, func(a, b Hierarchy) bool { return a.Mount == b.Mount }) {
			t.Errorf("Needed = %v, want every hierarchy %v", got, few)
		}
	})
}

// TestCreateInNeeded creates cgroups with limits of each controller every
// v1 host mounts in the hierarchies Needed picks: Create never needs one
// it left out, and makes nothing in the others.
func TestCreateInNeeded(t *testing.T) {
	hs := hostHierarchies(t)
	root := testRoot(t, hs)
	for name, res := range map[string]*specs.LinuxResources{
		"cpu":     {CPU: &specs.LinuxCPU{Shares: u64(512), Period: u64(50000), Quota: i64(25000)}},
		"cpuset":  {CPU: &specs.LinuxCPU{Cpus: "0"}},
		"memory":  {Memory: &specs.LinuxMemory{Limit: i64(64 << 20)}},
		"pids":    {Pids: &specs.LinuxPids{Limit: i64(10)}},
		"devices": {Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}},
		"blkio":   {BlockIO: &specs.LinuxBlockIO{Weight: u16(100)}},
	} {
		t.Run(name, func(t *testing.T) {
			hierarchyOf(t, hs, name)
			p := root + "/" + name
			joined := Needed(hs, res)
			if !slices.ContainsFunc(joined, func(h Hierarchy) bool { return h.has(name) }) {
				t.Fatalf("Needed left out the %s hierarchy: %v", name, joined)
			}
			if err := Create(joined, p, res); err != nil {
				t.Fatal(err)
			}
			for _, h := range hs {
				if in := slices.ContainsFunc(joined, func(j Hierarchy) bool { return j.Mount == h.Mount }); exists(h.Dir(p)) != in {
					t.Errorf("%s exists: %v, want %v", h.Dir(p), !in, in)
				}
			}
		})
	}
}
