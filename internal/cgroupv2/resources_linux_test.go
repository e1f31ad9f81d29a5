package cgroupv2

import (
	"errors"
	"math"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
)

// i64 points to v, for spec fields.
func i64(v int64) *int64 { return &v }

// u64 points to v, for spec fields.
func u64(v uint64) *uint64 { return &v }

// u16 points to v, for spec fields.
func u16(v uint16) *uint16 { return &v }

// u32 points to v, for spec fields.
func u32(v uint32) *uint32 { return &v }

// boolp points to v, for spec fields.
func boolp(v bool) *bool { return &v }

// show formats settings one a line: "controller file=value", then
// " or alt=value" and " (optional)" where they apply.
func show(ss []setting) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(s.controller + " " + s.name + "=" + s.value)
		if s.alt != "" {
			b.WriteString(" or " + s.alt + "=" + s.altValue)
		}
		if s.optional {
			b.WriteString(" (optional)")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// TestSettings checks every conversion from the OCI fields to v2 files and values.
func TestSettings(t *testing.T) {
	dev := func(major, minor int64) specs.LinuxBlockIODevice {
		return specs.LinuxBlockIODevice{Major: major, Minor: minor}
	}
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		want string
	}{
		{name: "nil"},
		{name: "empty", res: &specs.LinuxResources{}},
		{
			name: "memory",
			res: &specs.LinuxResources{Memory: &specs.LinuxMemory{
				Limit: i64(64 << 20), Swap: i64(96 << 20), Reservation: i64(32 << 20),
				Swappiness: u64(math.MaxUint64), DisableOOMKiller: boolp(false), Kernel: i64(1 << 20), UseHierarchy: boolp(true),
			}},
			want: "memory memory.max=67108864\nmemory memory.swap.max=33554432\nmemory memory.low=33554432\n",
		},
		{
			name: "memory unlimited",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(-1), Reservation: i64(-1)}},
			want: "memory memory.max=max\nmemory memory.swap.max=max (optional)\nmemory memory.low=max\n",
		},
		{
			name: "swap equal to the limit: no swap",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(64 << 20)}},
			want: "memory memory.max=67108864\nmemory memory.swap.max=0 (optional)\n",
		},
		{
			name: "swap with unlimited memory",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-1), Swap: i64(1 << 30)}},
			want: "memory memory.max=max\nmemory memory.swap.max=1073741824\n",
		},
		{
			name: "zero memory fields are unset",
			res:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(0), Swap: i64(0), Reservation: i64(0)}},
		},
		{
			name: "cpu",
			res: &specs.LinuxResources{CPU: &specs.LinuxCPU{
				Shares: u64(512), Quota: i64(50000), Period: u64(200000), Burst: u64(10000), Idle: i64(1), Cpus: "0-1", Mems: "0",
			}},
			want: "cpu cpu.weight=59\ncpu cpu.max=50000 200000\ncpu cpu.max.burst=10000\ncpu cpu.idle=1\ncpuset cpuset.cpus=0-1\ncpuset cpuset.mems=0\n",
		},
		{
			name: "quota without period",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(25000)}},
			want: "cpu cpu.max=25000 100000\n",
		},
		{
			name: "period without quota",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: u64(50000)}},
			want: "cpu cpu.max=max 50000\n",
		},
		{
			name: "unlimited quota",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: i64(-1), Period: u64(100000)}},
			want: "cpu cpu.max=max 100000\n",
		},
		{
			name: "zero cpu fields are unset",
			res:  &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: u64(0), Quota: i64(0), Period: u64(0), Burst: u64(0), Idle: i64(0), RealtimePeriod: u64(0), RealtimeRuntime: i64(0)}},
		},
		{
			name: "pids",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(100)}},
			want: "pids pids.max=100\n",
		},
		{
			name: "pids unlimited",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(0)}},
			want: "pids pids.max=max\n",
		},
		{
			name: "pids negative",
			res:  &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: i64(-1)}},
			want: "pids pids.max=max\n",
		},
		{
			name: "block io",
			res: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight: u16(500),
				WeightDevice: []specs.LinuxWeightDevice{
					{LinuxBlockIODevice: dev(8, 0), Weight: u16(10)},
					{LinuxBlockIODevice: dev(8, 16)}, // no weight: nothing
					{LinuxBlockIODevice: dev(8, 32), Weight: u16(1000)},
				},
				ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 1 << 20}, {LinuxBlockIODevice: dev(253, 1), Rate: 0}},
				ThrottleWriteBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 2 << 20}},
				ThrottleReadIOPSDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 16), Rate: 100}},
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: dev(8, 0), Rate: 300}},
			}},
			want: "io io.bfq.weight=500 or io.weight=default 4950\n" +
				"io io.bfq.weight=8:0 10 or io.weight=8:0 1\n" +
				"io io.bfq.weight=8:32 1000 or io.weight=8:32 10000\n" +
				"io io.max=8:0 rbps=1048576 wbps=2097152 wiops=300\n" +
				"io io.max=253:1 rbps=max\n" +
				"io io.max=8:16 riops=100\n",
		},
		{
			name: "hugetlb",
			res:  &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4 << 21}, {Pagesize: "1GB", Limit: 1 << 30}}},
			want: "hugetlb hugetlb.2MB.max=8388608\nhugetlb hugetlb.2MB.rsvd.max=8388608 (optional)\n" +
				"hugetlb hugetlb.1GB.max=1073741824\nhugetlb hugetlb.1GB.rsvd.max=1073741824 (optional)\n",
		},
		{
			name: "rdma",
			res: &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{
				"mlx5_1": {HcaObjects: u32(100)},
				"mlx5_0": {HcaHandles: u32(2), HcaObjects: u32(2000)},
				"none":   {},
			}},
			want: "rdma rdma.max=mlx5_0 hca_handle=2 hca_object=2000\nrdma rdma.max=mlx5_1 hca_object=100\n",
		},
		{
			name: "unified, after the rest",
			res: &specs.LinuxResources{
				Pids:    &specs.LinuxPids{Limit: i64(7)},
				Unified: map[string]string{"memory.oom.group": "1", "cgroup.max.depth": "2", "io.latency": "8:0 target=10", "foo.bar": "x"},
			},
			want: "pids pids.max=7\n cgroup.max.depth=2\n foo.bar=x\nio io.latency=8:0 target=10\nmemory memory.oom.group=1\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ss, err := settings(tc.res)
			if err != nil {
				t.Fatal(err)
			}
			if got := show(ss); got != tc.want {
				t.Errorf("settings:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestSettingsErrors checks that fields with no v2 file, and values no kernel takes, are refused naming the field.
func TestSettingsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  *specs.LinuxResources
		want string
		is   error
	}{
		{"oom killer", &specs.LinuxResources{Memory: &specs.LinuxMemory{DisableOOMKiller: boolp(true)}}, "linux.resources.memory.disableOOMKiller: ", errdefs.ErrFailedPrecondition},
		{"swappiness", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: u64(0)}}, "linux.resources.memory.swappiness: ", errdefs.ErrFailedPrecondition},
		{"kernel tcp", &specs.LinuxResources{Memory: &specs.LinuxMemory{KernelTCP: i64(1 << 20)}}, "linux.resources.memory.kernelTCP: ", errdefs.ErrFailedPrecondition},
		{"use hierarchy", &specs.LinuxResources{Memory: &specs.LinuxMemory{UseHierarchy: boolp(false)}}, "linux.resources.memory.useHierarchy: ", errdefs.ErrFailedPrecondition},
		{"swap below limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(64 << 20), Swap: i64(32 << 20)}}, "linux.resources.memory.swap: memory+swap 33554432 is below", errdefs.ErrInvalidArgument},
		{"swap without limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: i64(32 << 20)}}, "linux.resources.memory.swap: ", errdefs.ErrInvalidArgument},
		{"negative limit", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: i64(-2)}}, "linux.resources.memory.limit: ", errdefs.ErrInvalidArgument},
		{"realtime period", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimePeriod: u64(1000000)}}, "linux.resources.cpu.realtimePeriod: ", errdefs.ErrFailedPrecondition},
		{"realtime runtime", &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: i64(950000)}}, "linux.resources.cpu.realtimeRuntime: ", errdefs.ErrFailedPrecondition},
		{"leaf weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{LeafWeight: u16(100)}}, "linux.resources.blockIO.leafWeight: ", errdefs.ErrFailedPrecondition},
		{"device leaf weight", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{WeightDevice: []specs.LinuxWeightDevice{{Weight: u16(100)}, {LeafWeight: u16(100)}}}}, "linux.resources.blockIO.weightDevice[1].leafWeight: ", errdefs.ErrFailedPrecondition},
		{"weight range", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: u16(5)}}, "linux.resources.blockIO.weight: ", errdefs.ErrInvalidArgument},
		{"throttle device", &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: -1}}}}}, "linux.resources.blockIO.throttleWriteBpsDevice[0]: ", errdefs.ErrInvalidArgument},
		{"page size", &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB"}}}, "linux.resources.hugepageLimits[0]: ", errdefs.ErrInvalidArgument},
		{"rdma device", &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"a b": {HcaHandles: u32(1)}}}, `linux.resources.rdma["a b"]: `, errdefs.ErrInvalidArgument},
		{"network", &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: u32(0x100001)}}, "linux.resources.network: ", errdefs.ErrFailedPrecondition},
		{"unified slash", &specs.LinuxResources{Unified: map[string]string{"../cgroup.procs": "1"}}, `linux.resources.unified["../cgroup.procs"]: `, errdefs.ErrInvalidArgument},
		{"unified dot dot", &specs.LinuxResources{Unified: map[string]string{"..": "1"}}, `linux.resources.unified[".."]: `, errdefs.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := settings(tc.res)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, tc.is) {
				t.Errorf("error %q: want it to start with %q and be %v", err, tc.want, tc.is)
			}
		})
	}
}

// TestSharesToWeight checks runc's conversion at the ends of the range, at the defaults, and around them.
func TestSharesToWeight(t *testing.T) {
	for shares, want := range map[uint64]uint64{
		1: 1, 2: 1, 3: 2, 512: 59, 1024: 100, 2048: 174, 262143: 10000, 262144: 10000, 1 << 20: 10000,
	} {
		if got := sharesToWeight(shares); got != want {
			t.Errorf("sharesToWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	prev := uint64(0)
	for s := uint64(2); s <= 262144; s += 97 {
		w := sharesToWeight(s)
		if w < prev || w < 1 || w > 10000 {
			t.Fatalf("sharesToWeight(%d) = %d after %d: not monotonic in 1…10000", s, w, prev)
		}
		prev = w
	}
}

// TestBlkioToIOWeight checks the linear map of 10…1000 onto 1…10000.
func TestBlkioToIOWeight(t *testing.T) {
	for w, want := range map[uint16]uint64{10: 1, 100: 910, 500: 4950, 1000: 10000} {
		if got := blkioToIOWeight(w); got != want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", w, got, want)
		}
	}
}
