package cgroupv2

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
)

// setting is one value for one file of the new cgroup: one write(2).
type setting struct {
	// controller is the controller the file belongs to, which the
	// cgroup's ancestors must enable; "" for the core cgroup.* files.
	controller string
	// field is the spec field the value comes from, for errors.
	field string
	// name is the file, relative to the cgroup's directory.
	name string
	// value is what is written to name.
	value string
	// alt and altValue are written in place of name and value when the
	// kernel has no file name (io.weight for a missing io.bfq.weight).
	alt, altValue string
	// optional settings are dropped when the kernel has no file name.
	optional bool
}

// settings translates the limits of r (nil for none) into the files of a
// new cgroup v2 cgroup and their values, in the order they are written;
// settings for the same file are adjacent, so that it is opened once. The
// device rules are not among them (see compileDevices). It reads nothing:
// a value only a kernel can judge is the kernel's to refuse.
//
// The conversions from the v1-shaped OCI fields are runc's and crun's:
//
//   - memory.limit → memory.max, reservation → memory.low, both "max"
//     for -1; swap (memory+swap in the spec) → memory.swap.max as swap −
//     limit ("max" for -1; swap below the limit is an error, and so is a
//     swap without a limit). disableOOMKiller, swappiness and kernelTCP
//     have no v2 file and are errors when set; kernel is ignored (it is
//     deprecated and a no-op since Linux 5.16), and useHierarchy may only
//     be true.
//   - cpu.shares → cpu.weight by runc's quadratic fit (2 → 1, 1024 → 100,
//     the v2 default, 262144 → 10000); quota and period → cpu.max "quota
//     period" ("max" for a quota ≤ 0, period 100000 when unset); burst →
//     cpu.max.burst, after cpu.max; idle → cpu.idle; cpus and mems →
//     cpuset.cpus and cpuset.mems. The realtime fields are errors: v2 has
//     no realtime bandwidth.
//   - pids.limit → pids.max, "max" for ≤ 0.
//   - blockIO.weight → io.bfq.weight as is (both range over 1…1000) or,
//     without BFQ, io.weight "default W" with W = 1 + (weight−10)·9999/990;
//     weightDevice the same as "MAJ:MIN weight" lines; the throttles →
//     one io.max line per device, "MAJ:MIN rbps=N wbps=N riops=N wiops=N"
//     with the keys the spec sets (a rate of 0 removes the limit, as on
//     v1: "max"). Leaf weights are errors: v2 has none.
//   - hugepageLimits → hugetlb.<size>.max, and hugetlb.<size>.rsvd.max
//     where the kernel has it; rdma → rdma.max lines, in device order;
//     unified → each key written as a file of the cgroup, after the rest,
//     in key order.
//
// A zero memory limit, swap or reservation, cpu shares, quota, period,
// burst or idle, or blkio weight is taken as unset, as internal/cgroupv1
// does; so is a swappiness of -1 (as a uint64).
func settings(r *specs.LinuxResources) ([]setting, error) {
	if r == nil {
		return nil, nil
	}
	var ss []setting
	var err error
	if ss, err = cpuSettings(ss, r.CPU); err != nil {
		return nil, err
	}
	if ss, err = memorySettings(ss, r.Memory); err != nil {
		return nil, err
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		v := "max"
		if *r.Pids.Limit > 0 {
			v = strconv.FormatInt(*r.Pids.Limit, 10)
		}
		ss = append(ss, setting{controller: "pids", field: "linux.resources.pids.limit", name: "pids.max", value: v})
	}
	if ss, err = ioSettings(ss, r.BlockIO); err != nil {
		return nil, err
	}
	if ss, err = hugetlbSettings(ss, r.HugepageLimits); err != nil {
		return nil, err
	}
	if ss, err = rdmaSettings(ss, r.Rdma); err != nil {
		return nil, err
	}
	if r.Network != nil && (r.Network.ClassID != nil && *r.Network.ClassID != 0 || len(r.Network.Priorities) > 0) {
		return nil, fmt.Errorf("linux.resources.network: the net_cls and net_prio controllers exist on cgroup v1 only: %w", errdefs.ErrFailedPrecondition)
	}
	return unifiedSettings(ss, r.Unified)
}

// cpuSettings appends the cpu and cpuset controllers' settings.
func cpuSettings(ss []setting, p *specs.LinuxCPU) ([]setting, error) {
	if p == nil {
		return ss, nil
	}
	const f = "linux.resources.cpu."
	if p.RealtimePeriod != nil && *p.RealtimePeriod != 0 {
		return nil, fmt.Errorf("%srealtimePeriod: cgroup v2 has no realtime CPU bandwidth: %w", f, errdefs.ErrFailedPrecondition)
	}
	if p.RealtimeRuntime != nil && *p.RealtimeRuntime != 0 {
		return nil, fmt.Errorf("%srealtimeRuntime: cgroup v2 has no realtime CPU bandwidth: %w", f, errdefs.ErrFailedPrecondition)
	}
	if p.Shares != nil && *p.Shares != 0 {
		ss = append(ss, setting{controller: "cpu", field: f + "shares", name: "cpu.weight",
			value: strconv.FormatUint(sharesToWeight(*p.Shares), 10)})
	}
	quota := p.Quota != nil && *p.Quota != 0
	period := p.Period != nil && *p.Period != 0
	if quota || period {
		v := "max"
		field := f + "period"
		if quota {
			field = f + "quota"
			if *p.Quota > 0 {
				v = strconv.FormatInt(*p.Quota, 10)
			}
		}
		per := uint64(100000) // the kernel's default period
		if period {
			per = *p.Period
		}
		ss = append(ss, setting{controller: "cpu", field: field, name: "cpu.max", value: v + " " + strconv.FormatUint(per, 10)})
	}
	if p.Burst != nil && *p.Burst != 0 {
		ss = append(ss, setting{controller: "cpu", field: f + "burst", name: "cpu.max.burst", value: strconv.FormatUint(*p.Burst, 10)})
	}
	if p.Idle != nil && *p.Idle != 0 {
		ss = append(ss, setting{controller: "cpu", field: f + "idle", name: "cpu.idle", value: strconv.FormatInt(*p.Idle, 10)})
	}
	if p.Cpus != "" {
		ss = append(ss, setting{controller: "cpuset", field: f + "cpus", name: "cpuset.cpus", value: p.Cpus})
	}
	if p.Mems != "" {
		ss = append(ss, setting{controller: "cpuset", field: f + "mems", name: "cpuset.mems", value: p.Mems})
	}
	return ss, nil
}

// sharesToWeight converts cgroup v1 CPU shares (2…262144, default 1024)
// to a cgroup v2 CPU weight (1…10000, default 100) by the quadratic fit
// in log2(shares) that runc, crun and containerd use since 2025: it maps
// the range's ends and the default onto each other, where the older
// linear 1 + (shares−2)·9999/262142 gave the default 1024 a weight of 39.
func sharesToWeight(shares uint64) uint64 {
	if shares <= 2 {
		return 1
	}
	if shares >= 262144 {
		return 10000
	}
	l := math.Log2(float64(shares))
	exponent := (l*l+125*l)/612.0 - 7.0/34.0
	return uint64(math.Ceil(math.Pow(10, exponent)))
}

// memorySettings appends the memory controller's settings.
func memorySettings(ss []setting, m *specs.LinuxMemory) ([]setting, error) {
	if m == nil {
		return ss, nil
	}
	const f = "linux.resources.memory."
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		return nil, fmt.Errorf("%sdisableOOMKiller: cgroup v2 cannot disable the OOM killer: %w", f, errdefs.ErrFailedPrecondition)
	}
	if m.Swappiness != nil && *m.Swappiness != math.MaxUint64 {
		return nil, fmt.Errorf("%sswappiness: cgroup v2 has no per-cgroup swappiness: %w", f, errdefs.ErrFailedPrecondition)
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		return nil, fmt.Errorf("%skernelTCP: cgroup v2 has no separate TCP memory limit (memory.max counts it): %w", f, errdefs.ErrFailedPrecondition)
	}
	if m.UseHierarchy != nil && !*m.UseHierarchy {
		return nil, fmt.Errorf("%suseHierarchy: cgroup v2 is always hierarchical: %w", f, errdefs.ErrFailedPrecondition)
	}
	limit := int64(0)
	if m.Limit != nil {
		limit = *m.Limit
	}
	if limit < -1 {
		return nil, fmt.Errorf("%slimit: %d is neither a byte count nor -1 (unlimited): %w", f, limit, errdefs.ErrInvalidArgument)
	}
	if limit != 0 {
		ss = append(ss, setting{controller: "memory", field: f + "limit", name: "memory.max", value: maxOr(limit)})
	}
	if m.Swap != nil && *m.Swap != 0 {
		swap := *m.Swap
		var v string
		switch {
		case swap == -1:
			v = "max"
		case swap < -1:
			return nil, fmt.Errorf("%sswap: %d is neither a byte count nor -1 (unlimited): %w", f, swap, errdefs.ErrInvalidArgument)
		case limit == -1:
			v = strconv.FormatInt(swap, 10) // memory unlimited: all of it may be swap
		case limit == 0:
			return nil, fmt.Errorf("%sswap: a memory+swap limit needs a memory limit: %w", f, errdefs.ErrInvalidArgument)
		case swap < limit:
			return nil, fmt.Errorf("%sswap: memory+swap %d is below the memory limit %d: %w", f, swap, limit, errdefs.ErrInvalidArgument)
		default:
			v = strconv.FormatInt(swap-limit, 10)
		}
		// Without swap accounting there is no memory.swap.max: no swap
		// or unlimited swap is then what the cgroup has anyway.
		ss = append(ss, setting{controller: "memory", field: f + "swap", name: "memory.swap.max", value: v, optional: v == "max" || v == "0"})
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		if *m.Reservation < -1 {
			return nil, fmt.Errorf("%sreservation: %d is neither a byte count nor -1 (unlimited): %w", f, *m.Reservation, errdefs.ErrInvalidArgument)
		}
		ss = append(ss, setting{controller: "memory", field: f + "reservation", name: "memory.low", value: maxOr(*m.Reservation)})
	}
	return ss, nil
}

// maxOr formats a byte count, "max" for -1.
func maxOr(v int64) string {
	if v == -1 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// ioSettings appends the io controller's settings: the weights, then one
// io.max line per throttled device.
func ioSettings(ss []setting, b *specs.LinuxBlockIO) ([]setting, error) {
	if b == nil {
		return ss, nil
	}
	const f = "linux.resources.blockIO."
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		return nil, fmt.Errorf("%sleafWeight: cgroup v2 has no leaf weights: %w", f, errdefs.ErrFailedPrecondition)
	}
	if b.Weight != nil && *b.Weight != 0 {
		w := *b.Weight
		if w < 10 || w > 1000 {
			return nil, fmt.Errorf("%sweight: %d is outside 10…1000: %w", f, w, errdefs.ErrInvalidArgument)
		}
		ss = append(ss, setting{controller: "io", field: f + "weight", name: "io.bfq.weight", value: strconv.FormatUint(uint64(w), 10),
			alt: "io.weight", altValue: "default " + strconv.FormatUint(blkioToIOWeight(w), 10)})
	}
	for i, d := range b.WeightDevice {
		field := f + "weightDevice[" + strconv.Itoa(i) + "]"
		if d.LeafWeight != nil && *d.LeafWeight != 0 {
			return nil, fmt.Errorf("%s.leafWeight: cgroup v2 has no leaf weights: %w", field, errdefs.ErrFailedPrecondition)
		}
		if d.Weight == nil {
			continue
		}
		w := *d.Weight
		if w < 10 || w > 1000 {
			return nil, fmt.Errorf("%s.weight: %d is outside 10…1000: %w", field, w, errdefs.ErrInvalidArgument)
		}
		dev, err := deviceNumber(d.Major, d.Minor)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		ss = append(ss, setting{controller: "io", field: field + ".weight", name: "io.bfq.weight", value: dev + " " + strconv.FormatUint(uint64(w), 10),
			alt: "io.weight", altValue: dev + " " + strconv.FormatUint(blkioToIOWeight(w), 10)})
	}
	// One line per device, its keys in the order of the spec's lists.
	type line struct{ dev, value, field string }
	var lines []line
	for _, t := range []struct {
		key, field string
		list       []specs.LinuxThrottleDevice
	}{
		{"rbps", f + "throttleReadBpsDevice", b.ThrottleReadBpsDevice},
		{"wbps", f + "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
		{"riops", f + "throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
		{"wiops", f + "throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
	} {
		for i, d := range t.list {
			field := t.field + "[" + strconv.Itoa(i) + "]"
			dev, err := deviceNumber(d.Major, d.Minor)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			rate := "max"
			if d.Rate != 0 {
				rate = strconv.FormatUint(d.Rate, 10)
			}
			j := slices.IndexFunc(lines, func(l line) bool { return l.dev == dev })
			if j < 0 {
				lines = append(lines, line{dev: dev, value: dev, field: field})
				j = len(lines) - 1
			} else if !strings.Contains(lines[j].field, t.field+"[") {
				lines[j].field += " and " + field
			}
			lines[j].value += " " + t.key + "=" + rate
		}
	}
	for _, l := range lines {
		ss = append(ss, setting{controller: "io", field: l.field, name: "io.max", value: l.value})
	}
	return ss, nil
}

// blkioToIOWeight converts a blkio weight (10…1000) to an io.weight
// (1…10000) linearly, as runc and crun do.
func blkioToIOWeight(w uint16) uint64 {
	return 1 + (uint64(w)-10)*9999/990
}

// deviceNumber formats a block device's "MAJ:MIN".
func deviceNumber(major, minor int64) (string, error) {
	if major < 0 || minor < 0 || major > math.MaxUint32 || minor > math.MaxUint32 {
		return "", fmt.Errorf("device %d:%d is not a device number: %w", major, minor, errdefs.ErrInvalidArgument)
	}
	return strconv.FormatInt(major, 10) + ":" + strconv.FormatInt(minor, 10), nil
}

// hugetlbSettings appends each page size's limit to hugetlb.<size>.max
// and, where the kernel has reservation accounting (5.7 and later), to
// hugetlb.<size>.rsvd.max too, as the spec asks ("reservations if
// supported").
func hugetlbSettings(ss []setting, limits []specs.LinuxHugepageLimit) ([]setting, error) {
	for i, l := range limits {
		field := "linux.resources.hugepageLimits[" + strconv.Itoa(i) + "]"
		if l.Pagesize == "" || strings.TrimFunc(l.Pagesize, isAlnum) != "" {
			return nil, fmt.Errorf("%s: page size %q is not like 2MB or 1GB: %w", field, l.Pagesize, errdefs.ErrInvalidArgument)
		}
		v := strconv.FormatUint(l.Limit, 10)
		ss = append(ss,
			setting{controller: "hugetlb", field: field, name: "hugetlb." + l.Pagesize + ".max", value: v},
			setting{controller: "hugetlb", field: field, name: "hugetlb." + l.Pagesize + ".rsvd.max", value: v, optional: true})
	}
	return ss, nil
}

// rdmaSettings appends one rdma.max line per device, "device
// hca_handle=N hca_object=M" with the limits the spec sets, in the order
// of the device names; a device with neither limit is left alone.
func rdmaSettings(ss []setting, m map[string]specs.LinuxRdma) ([]setting, error) {
	names := make([]string, 0, len(m))
	for name, l := range m {
		if l.HcaHandles != nil || l.HcaObjects != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		field := fmt.Sprintf("linux.resources.rdma[%q]", name)
		if !isName(name) {
			return nil, fmt.Errorf("%s: device name %q is empty or has a blank or slash: %w", field, name, errdefs.ErrInvalidArgument)
		}
		l := m[name]
		v := name
		if l.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		ss = append(ss, setting{controller: "rdma", field: field, name: "rdma.max", value: v})
	}
	return ss, nil
}

// unifiedSettings appends the unified map's files, in key order. A key is
// a file name of the cgroup's directory: no slash, not "." or "..". The
// controller a key needs enabled is its prefix up to the first dot when
// that is a v2 controller's name ("memory.oom.group" needs memory); the
// core "cgroup.*" files need none.
func unifiedSettings(ss []setting, m map[string]string) ([]setting, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		field := fmt.Sprintf("linux.resources.unified[%q]", k)
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") {
			return nil, fmt.Errorf("%s: not a file name of the cgroup's directory: %w", field, errdefs.ErrInvalidArgument)
		}
		ctrl, _, _ := strings.Cut(k, ".")
		if !isController(ctrl) {
			ctrl = ""
		}
		ss = append(ss, setting{controller: ctrl, field: field, name: k, value: m[k]})
	}
	return ss, nil
}

// isController reports whether name is a cgroup v2 controller's, the
// prefix of its files' names.
func isController(name string) bool {
	switch name {
	case "cpu", "cpuset", "memory", "pids", "io", "hugetlb", "rdma", "misc", "dmem":
		return true
	}
	return false
}

// isName reports whether s can stand as one word of a rule: a device
// name.
func isName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '/' || r == 0x7f
	})
}

// isAlnum reports whether r is an ASCII letter or digit.
func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}
