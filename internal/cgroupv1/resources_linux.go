package cgroupv1

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/cgroupfs"
)

// limits writes every limit of r into the new cgroup.
func (c *creation) limits(r *specs.LinuxResources) error {
	if len(r.Devices) > 0 {
		if err := c.devices(r.Devices); err != nil {
			return err
		}
	}
	if r.Memory != nil {
		if err := c.memory(r.Memory); err != nil {
			return err
		}
	}
	if r.CPU != nil {
		if err := c.cpu(r.CPU); err != nil {
			return err
		}
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		v := []byte("max")
		if *r.Pids.Limit > 0 {
			v = appendInt(c.buf[:0], *r.Pids.Limit)
		}
		if err := c.set("pids", "pids.max", "linux.resources.pids.limit", v); err != nil {
			return err
		}
	}
	if r.BlockIO != nil {
		if err := c.blockIO(r.BlockIO); err != nil {
			return err
		}
	}
	if err := c.hugepages(r.HugepageLimits); err != nil {
		return err
	}
	if r.Network != nil {
		if err := c.network(r.Network); err != nil {
			return err
		}
	}
	return c.rdma(r.Rdma)
}

// devices writes the device rules in their order, allow rules to
// devices.allow and deny rules to devices.deny, each file opened once.
// A rule of type "a" (or none) for every device with full access
// replaces the whole list (the kernel's "a"); one naming a major or minor
// number, or less than rwm, stands for both a "c" and a "b" rule, since
// the kernel would read any "a …" rule as the whole list.
func (c *creation) devices(rules []specs.LinuxDeviceCgroup) error {
	const field = "linux.resources.devices"
	dir, err := c.dir("devices", field)
	if err != nil {
		return err
	}
	fds := [2]int{-1, -1} // deny, allow
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	for i := range rules {
		d := &rules[i]
		typ, access := d.Type, d.Access
		if typ == "" {
			typ = "a"
		}
		if access == "" {
			access = "rwm"
		}
		if typ != "a" && typ != "b" && typ != "c" {
			return fmt.Errorf("%s[%d]: type %q is not a, b or c: %w", field, i, d.Type, errdefs.ErrInvalidArgument)
		}
		if strings.Trim(access, "rwm") != "" {
			return fmt.Errorf("%s[%d]: access %q has letters other than r, w and m: %w", field, i, d.Access, errdefs.ErrInvalidArgument)
		}
		k, name := 0, "devices.deny"
		if d.Allow {
			k, name = 1, "devices.allow"
		}
		if fds[k] < 0 {
			if fds[k], err = cgroupfs.Open(dir + "/" + name); err != nil {
				return cgroupfs.FileError(fmt.Sprintf("%s[%d]", field, i), dir+"/"+name, err)
			}
		}
		var b []byte
		switch {
		case typ == "a" && wildcard(d.Major) && wildcard(d.Minor) && fullAccess(access):
			b = append(c.buf[:0], 'a')
		case typ == "a":
			b = appendDevice(c.buf[:0], 'c', d.Major, d.Minor, access)
			if err := cgroupfs.Write(fds[k], b); err != nil {
				return cgroupfs.FileError(fmt.Sprintf("%s[%d] (%q)", field, i, b), dir+"/"+name, err)
			}
			b = appendDevice(c.buf[:0], 'b', d.Major, d.Minor, access)
		default:
			b = appendDevice(c.buf[:0], typ[0], d.Major, d.Minor, access)
		}
		if err := cgroupfs.Write(fds[k], b); err != nil {
			return cgroupfs.FileError(fmt.Sprintf("%s[%d] (%q)", field, i, b), dir+"/"+name, err)
		}
	}
	return nil
}

// fullAccess reports whether access has all of r, w and m.
func fullAccess(access string) bool {
	return strings.IndexByte(access, 'r') >= 0 && strings.IndexByte(access, 'w') >= 0 && strings.IndexByte(access, 'm') >= 0
}

// wildcard reports whether a device number means every number.
func wildcard(n *int64) bool { return n == nil || *n == -1 }

// appendDevice formats the rule "type major:minor access".
func appendDevice(b []byte, typ byte, major, minor *int64, access string) []byte {
	b = append(b, typ, ' ')
	b = appendDeviceNumber(b, major)
	b = append(b, ':')
	b = appendDeviceNumber(b, minor)
	b = append(b, ' ')
	return append(b, access...)
}

// appendDeviceNumber formats a device number, "*" for every number.
func appendDeviceNumber(b []byte, n *int64) []byte {
	if wildcard(n) {
		return append(b, '*')
	}
	return strconv.AppendInt(b, *n, 10)
}

// memory writes the memory controller's limits; the limit before
// memory+swap, which the kernel keeps at least as high.
func (c *creation) memory(m *specs.LinuxMemory) error {
	const f = "linux.resources.memory."
	if m.Limit != nil && *m.Limit != 0 {
		if err := c.setInt("memory", "memory.limit_in_bytes", f+"limit", *m.Limit); err != nil {
			return err
		}
	}
	// Kernels without swap accounting have no memsw files; the swap
	// limit is then moot.
	if m.Swap != nil && *m.Swap != 0 {
		if _, err := c.setOptional("memory", "memory.memsw.limit_in_bytes", f+"swap", appendInt(c.buf[:0], *m.Swap)); err != nil {
			return err
		}
	}
	if m.Reservation != nil && *m.Reservation != 0 {
		if err := c.setInt("memory", "memory.soft_limit_in_bytes", f+"reservation", *m.Reservation); err != nil {
			return err
		}
	}
	// Kernel memory limits are deprecated (and a no-op since Linux 5.16);
	// kernels that dropped the file are fine.
	if kernel := m.Kernel; kernel != nil && *kernel != 0 { //nolint:staticcheck // deprecated, but specs still ask for it
		if _, err := c.setOptional("memory", "memory.kmem.limit_in_bytes", f+"kernel", appendInt(c.buf[:0], *kernel)); err != nil {
			return err
		}
	}
	if m.KernelTCP != nil && *m.KernelTCP != 0 {
		if err := c.setInt("memory", "memory.kmem.tcp.limit_in_bytes", f+"kernelTCP", *m.KernelTCP); err != nil {
			return err
		}
	}
	if m.Swappiness != nil && *m.Swappiness != math.MaxUint64 {
		if err := c.setUint("memory", "memory.swappiness", f+"swappiness", *m.Swappiness); err != nil {
			return err
		}
	}
	if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
		if err := c.set("memory", "memory.oom_control", f+"disableOOMKiller", []byte{'1'}); err != nil {
			return err
		}
	}
	if m.UseHierarchy != nil {
		v := byte('0')
		if *m.UseHierarchy {
			v = '1'
		}
		if err := c.set("memory", "memory.use_hierarchy", f+"useHierarchy", []byte{v}); err != nil {
			return err
		}
	}
	// CheckBeforeUpdate concerns updates only: a new cgroup uses nothing.
	return nil
}

// cpu writes the cpu controller's limits, the CFS period before the quota
// and the quota before the burst it bounds, then the cpuset's cpus and
// mems.
func (c *creation) cpu(p *specs.LinuxCPU) error {
	const f = "linux.resources.cpu."
	for _, v := range []struct {
		name, field string
		u           *uint64
		i           *int64
	}{
		{"cpu.shares", f + "shares", p.Shares, nil},
		{"cpu.cfs_period_us", f + "period", p.Period, nil},
		{"cpu.cfs_quota_us", f + "quota", nil, p.Quota},
		{"cpu.cfs_burst_us", f + "burst", p.Burst, nil},
		{"cpu.rt_period_us", f + "realtimePeriod", p.RealtimePeriod, nil},
		{"cpu.rt_runtime_us", f + "realtimeRuntime", nil, p.RealtimeRuntime},
		{"cpu.idle", f + "idle", nil, p.Idle},
	} {
		var err error
		switch {
		case v.u != nil && *v.u != 0:
			err = c.setUint("cpu", v.name, v.field, *v.u)
		case v.i != nil && *v.i != 0:
			err = c.setInt("cpu", v.name, v.field, *v.i)
		}
		if err != nil {
			return err
		}
	}
	if p.Cpus != "" {
		if err := c.set("cpuset", "cpuset.cpus", f+"cpus", []byte(p.Cpus)); err != nil {
			return err
		}
	}
	if p.Mems != "" {
		if err := c.set("cpuset", "cpuset.mems", f+"mems", []byte(p.Mems)); err != nil {
			return err
		}
	}
	return nil
}

// blockIO writes the blkio controller's weights and throttles. Kernels
// without CFQ (5.0 and later) have BFQ's blkio.bfq.weight and
// blkio.bfq.weight_device in place of blkio.weight and blkio.weight_device,
// and no leaf weights.
func (c *creation) blockIO(b *specs.LinuxBlockIO) error {
	const f = "linux.resources.blockIO."
	if b.Weight != nil && *b.Weight != 0 {
		v := appendUint(c.buf[:0], uint64(*b.Weight))
		ok, err := c.setOptional("blkio", "blkio.weight", f+"weight", v)
		if err == nil && !ok {
			err = c.set("blkio", "blkio.bfq.weight", f+"weight", v)
		}
		if err != nil {
			return err
		}
	}
	if b.LeafWeight != nil && *b.LeafWeight != 0 {
		if err := c.setUint("blkio", "blkio.leaf_weight", f+"leafWeight", uint64(*b.LeafWeight)); err != nil {
			return err
		}
	}
	wd := b.WeightDevice
	err := c.rules("blkio", []string{"blkio.weight_device", "blkio.bfq.weight_device"}, len(wd), indexed(f+"weightDevice", ".weight"),
		func(buf []byte, i int) ([]byte, error) {
			if wd[i].Weight == nil {
				return nil, nil
			}
			return appendDeviceValue(buf, wd[i].Major, wd[i].Minor, uint64(*wd[i].Weight)), nil
		})
	if err != nil {
		return err
	}
	err = c.rules("blkio", []string{"blkio.leaf_weight_device"}, len(wd), indexed(f+"weightDevice", ".leafWeight"),
		func(buf []byte, i int) ([]byte, error) {
			if wd[i].LeafWeight == nil {
				return nil, nil
			}
			return appendDeviceValue(buf, wd[i].Major, wd[i].Minor, uint64(*wd[i].LeafWeight)), nil
		})
	if err != nil {
		return err
	}
	for _, t := range []struct {
		name, field string
		list        []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", f + "throttleReadBpsDevice", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", f + "throttleWriteBpsDevice", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", f + "throttleReadIOPSDevice", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", f + "throttleWriteIOPSDevice", b.ThrottleWriteIOPSDevice},
	} {
		err := c.rules("blkio", []string{t.name}, len(t.list), indexed(t.field, ""), func(buf []byte, i int) ([]byte, error) {
			return appendDeviceValue(buf, t.list[i].Major, t.list[i].Minor, t.list[i].Rate), nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// appendDeviceValue formats the rule "major:minor value".
func appendDeviceValue(b []byte, major, minor int64, v uint64) []byte {
	b = strconv.AppendInt(b, major, 10)
	b = append(b, ':')
	b = strconv.AppendInt(b, minor, 10)
	b = append(b, ' ')
	return strconv.AppendUint(b, v, 10)
}

// hugepages writes each page size's limit to hugetlb.<size>.limit_in_bytes
// and, where the kernel has reservation accounting (5.7 and later), to
// hugetlb.<size>.rsvd.limit_in_bytes too, as the spec asks ("reservations
// if supported").
func (c *creation) hugepages(limits []specs.LinuxHugepageLimit) error {
	for i, l := range limits {
		field := "linux.resources.hugepageLimits[" + strconv.Itoa(i) + "]"
		if l.Pagesize == "" || strings.TrimFunc(l.Pagesize, isAlnum) != "" {
			return fmt.Errorf("%s: page size %q is not like 2MB or 1GB: %w", field, l.Pagesize, errdefs.ErrInvalidArgument)
		}
		v := appendUint(c.buf[:0], l.Limit)
		if err := c.set("hugetlb", "hugetlb."+l.Pagesize+".limit_in_bytes", field, v); err != nil {
			return err
		}
		if _, err := c.setOptional("hugetlb", "hugetlb."+l.Pagesize+".rsvd.limit_in_bytes", field, v); err != nil {
			return err
		}
	}
	return nil
}

// network writes the net_cls class ID and the net_prio priorities.
func (c *creation) network(n *specs.LinuxNetwork) error {
	const f = "linux.resources.network."
	if n.ClassID != nil && *n.ClassID != 0 {
		if err := c.setUint("net_cls", "net_cls.classid", f+"classID", uint64(*n.ClassID)); err != nil {
			return err
		}
	}
	return c.rules("net_prio", []string{"net_prio.ifpriomap"}, len(n.Priorities), indexed(f+"priorities", ""),
		func(b []byte, i int) ([]byte, error) { return appendPriority(b, n.Priorities[i]) })
}

// rdma writes one rdma.max rule per device, in the order of the device
// names; a device with neither limit is left alone.
func (c *creation) rdma(m map[string]specs.LinuxRdma) error {
	if len(m) == 0 {
		return nil
	}
	names := make([]string, 0, len(m))
	for name, l := range m {
		if l.HcaHandles != nil || l.HcaObjects != nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return c.rules("rdma", []string{"rdma.max"}, len(names),
		func(i int) string { return fmt.Sprintf("linux.resources.rdma[%q]", names[i]) },
		func(b []byte, i int) ([]byte, error) { return appendRdma(b, names[i], m[names[i]]) })
}

// appendPriority formats the net_prio.ifpriomap rule "interface priority".
func appendPriority(b []byte, p specs.LinuxInterfacePriority) ([]byte, error) {
	if !isName(p.Name) {
		return nil, fmt.Errorf("interface name %q is empty or has a blank or slash: %w", p.Name, errdefs.ErrInvalidArgument)
	}
	b = append(append(b, p.Name...), ' ')
	return strconv.AppendUint(b, uint64(p.Priority), 10), nil
}

// appendRdma formats the rdma.max rule "device hca_handle=N hca_object=M",
// with the limits the spec sets.
func appendRdma(b []byte, device string, l specs.LinuxRdma) ([]byte, error) {
	if !isName(device) {
		return nil, fmt.Errorf("device name %q is empty or has a blank or slash: %w", device, errdefs.ErrInvalidArgument)
	}
	b = append(b, device...)
	if l.HcaHandles != nil {
		b = strconv.AppendUint(append(b, " hca_handle="...), uint64(*l.HcaHandles), 10)
	}
	if l.HcaObjects != nil {
		b = strconv.AppendUint(append(b, " hca_object="...), uint64(*l.HcaObjects), 10)
	}
	return b, nil
}

// isName reports whether s can stand as one word of a rule: an interface
// or device name.
func isName(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '/' || r == 0x7f
	})
}

// isAlnum reports whether r is an ASCII letter or digit.
func isAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
}

// appendInt formats v in decimal.
func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// appendUint formats v in decimal.
func appendUint(b []byte, v uint64) []byte { return strconv.AppendUint(b, v, 10) }
