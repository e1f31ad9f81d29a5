package seccomp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
)

func errno(e uint) *uint { return &e }

// vmFor compiles p for goarch and returns a VM running the result.
func vmFor(t *testing.T, p *specs.LinuxSeccomp, goarch string) (*VM, []unix.SockFilter) {
	t.Helper()
	prog, err := CompileArch(p, goarch)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := NewVM(prog, goarch)
	if err != nil {
		t.Fatal(err)
	}
	return vm, prog
}

// verdict runs vm on the call name of goarch with args.
func verdict(t *testing.T, vm *VM, goarch, name string, args ...uint64) uint32 {
	t.Helper()
	nr, ok := Syscall(goarch, name)
	if !ok {
		t.Fatalf("%s has no %s", goarch, name)
	}
	v, err := vm.Run(nr, args...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// holds is the reference for one 64-bit comparison.
func holds(op specs.LinuxSeccompOperator, x, v, v2 uint64) bool {
	switch op {
	case specs.OpEqualTo:
		return x == v
	case specs.OpNotEqual:
		return x != v
	case specs.OpLessThan:
		return x < v
	case specs.OpLessEqual:
		return x <= v
	case specs.OpGreaterThan:
		return x > v
	case specs.OpGreaterEqual:
		return x >= v
	case specs.OpMaskedEqual:
		return x&v == v2
	}
	panic(op)
}

// around returns values next to v in both of its 32-bit halves.
func around(v uint64) []uint64 {
	var out []uint64
	for _, dh := range []uint64{0, 1 << 32, ^uint64(1<<32) + 1} { // +0, +2^32, -2^32
		for _, dl := range []uint64{0, 1, ^uint64(0)} { // +0, +1, -1
			out = append(out, v+dh+dl)
		}
	}
	return append(out, 0, ^uint64(0), v&0xffffffff, v&^0xffffffff, v^1<<63, uint64(uint32(v))<<32|v>>32)
}

// Every comparison holds exactly where the 64-bit comparison does, at
// and around the boundaries of both halves, on little- and big-endian
// architectures and for every argument.
func TestComparisons(t *testing.T) {
	ops := []specs.LinuxSeccompOperator{specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual}
	values := []uint64{0, 5, 0xffffffff, 1 << 32, 1<<32 | 5, 0x80000000, 0xfffffffe_00000001, ^uint64(0)}
	for _, goarch := range []string{"amd64", "arm64", "386", "s390x"} {
		for _, op := range ops {
			for _, v := range values {
				for idx := range uint(6) {
					p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
						Names: []string{"getpid"}, Action: specs.ActAllow,
						Args: []specs.LinuxSeccompArg{{Index: idx, Value: v, Op: op}},
					}}}
					vm, _ := vmFor(t, p, goarch)
					for _, x := range around(v) {
						var args [6]uint64
						args[idx] = x
						want := retEPERM
						if holds(op, x, v, 0) {
							want = retAllow
						}
						if got := verdict(t, vm, goarch, "getpid", args[:]...); got != want {
							t.Fatalf("%s: arg%d=%#x %s %#x: verdict %#x, want %#x", goarch, idx, x, op, v, got, want)
						}
					}
				}
			}
		}
	}
	// A few written out, where a 32-bit comparison would be wrong.
	for _, c := range []struct {
		op   specs.LinuxSeccompOperator
		v, x uint64
		want bool
	}{
		{specs.OpLessThan, 5, 1<<32 | 4, false},
		{specs.OpGreaterThan, 5, 1 << 32, true},
		{specs.OpLessEqual, 1<<32 | 5, 2 << 32, false},
		{specs.OpGreaterEqual, 1<<32 | 5, 6, false},
		{specs.OpEqualTo, 1<<32 | 5, 5, false},
		{specs.OpNotEqual, 1<<32 | 5, 5, true},
		{specs.OpNotEqual, 1<<32 | 5, 1<<32 | 5, false},
	} {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
			Names: []string{"read"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: c.v, Op: c.op}}}}}
		vm, _ := vmFor(t, p, "amd64")
		if got := verdict(t, vm, "amd64", "read", 0, c.x) == retAllow; got != c.want {
			t.Errorf("%#x %s %#x: %v, want %v", c.x, c.op, c.v, got, c.want)
		}
	}
}

// SCMP_CMP_MASKED_EQ is (arg & value) == valueTwo in general: any mask,
// any expected bits, in either half; bits expected outside the mask never
// match, and a mask of 0 with 0 expected always does.
func TestMaskedEqual(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	cases := [][2]uint64{
		{0xff00ff00_0000ffff, 0x12003400_00001234},
		{0x0000ffff, 0x1234},
		{0xffffffff_00000000, 0x00000001_00000000},
		{1 << 40, 1 << 40},
		{1 << 40, 0},
		{0x7e000000, 0},          // clone's CLONE_NEW* test form
		{0x10000000, 0x10000000}, // one bit set
		{0x30000000, 0x30000000}, // all of two bits set
		{0x30000000, 0x10000000}, // one of two set, the other not
		{^uint64(0), 42},
		{0xff, 0x100}, // expects a bit outside the mask: never
		{0, 0},        // always
		{0, 1},        // never
	}
	for _, goarch := range []string{"amd64", "s390x", "arm"} {
		for _, c := range cases {
			p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{
				Names: []string{"ioctl"}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: 1, Value: c[0], ValueTwo: c[1], Op: specs.OpMaskedEqual}},
			}}}
			vm, _ := vmFor(t, p, goarch)
			xs := append(around(c[1]), c[1]|^c[0], c[1]&0xffffffff, c[1]&^0xffffffff)
			for range 200 {
				xs = append(xs, rng.Uint64(), c[1]|rng.Uint64()&^c[0], c[1]^1<<rng.IntN(64))
			}
			for _, x := range xs {
				want := retEPERM
				if x&c[0] == c[1] {
					want = retAllow
				}
				if got := verdict(t, vm, goarch, "ioctl", 0, x); got != want {
					t.Fatalf("%s: (%#x & %#x) == %#x: verdict %#x, want %#x", goarch, x, c[0], c[1], got, want)
				}
			}
		}
	}
}

// Each action returns its kernel value; errnoRet sets the errno of
// SCMP_ACT_ERRNO and the message of SCMP_ACT_TRACE (EPERM when unset,
// and 0 when set so), and defaultErrnoRet that of an ERRNO default.
func TestActions(t *testing.T) {
	for _, c := range []struct {
		action specs.LinuxSeccompAction
		errno  *uint
		want   uint32
	}{
		{specs.ActAllow, nil, 0x7fff0000},
		{specs.ActErrno, nil, 0x00050001},
		{specs.ActErrno, errno(38), 0x00050026},
		{specs.ActErrno, errno(0), 0x00050000},
		{specs.ActErrno, errno(4095), 0x00050fff},
		{specs.ActKill, nil, 0},
		{specs.ActKillThread, nil, 0},
		{specs.ActKillProcess, nil, 0x80000000},
		{specs.ActTrap, nil, 0x00030000},
		{specs.ActLog, nil, 0x7ffc0000},
		{specs.ActTrace, nil, 0x7ff00001},
		{specs.ActTrace, errno(1234), 0x7ff004d2},
		{specs.ActAllow, errno(5), 0x7fff0000}, // errnoRet means nothing to ALLOW
	} {
		name := fmt.Sprintf("%s/%v", c.action, c.errno != nil)
		if c.errno != nil {
			name = fmt.Sprintf("%s/%d", c.action, *c.errno)
		}
		t.Run(name, func(t *testing.T) {
			// As a rule's action, with another default.
			def := specs.ActErrno
			if c.action == specs.ActErrno {
				def = specs.ActAllow
			}
			p := &specs.LinuxSeccomp{DefaultAction: def, Syscalls: []specs.LinuxSyscall{{Names: []string{"kill"}, Action: c.action, ErrnoRet: c.errno}}}
			vm, _ := vmFor(t, p, "arm64")
			if got := verdict(t, vm, "arm64", "kill"); got != c.want {
				t.Errorf("rule: verdict %#x, want %#x", got, c.want)
			}
			// As the default action.
			p = &specs.LinuxSeccomp{DefaultAction: c.action, DefaultErrnoRet: c.errno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActLog}}}
			if c.action == specs.ActLog {
				p.Syscalls[0].Action = specs.ActAllow
			}
			vm, _ = vmFor(t, p, "arm64")
			if got := verdict(t, vm, "arm64", "kill"); got != c.want {
				t.Errorf("default: verdict %#x, want %#x", got, c.want)
			}
		})
	}
}

// Mistakes in a profile are errors naming the field to fix.
func TestErrorsNameTheField(t *testing.T) {
	ok := specs.LinuxSyscall{Names: []string{"read"}, Action: specs.ActAllow}
	for _, c := range []struct {
		p     specs.LinuxSeccomp
		field string
	}{
		{specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, "linux.seccomp.defaultAction: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(1 << 16)}, "linux.seccomp.defaultErrnoRet: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, ok, {Names: []string{"read"}, Action: "SCMP_ACT_NOPE"}}}, "linux.seccomp.syscalls[2].action: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"read"}, Action: specs.ActNotify}}}, "linux.seccomp.syscalls[1].action: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: errno(70000)}}}, "linux.seccomp.syscalls[0].errnoRet: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Op: specs.OpEqualTo}, {Index: 1, Op: "SCMP_CMP_LIKE"}}}}}, "linux.seccomp.syscalls[0].args[1].op: "},
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{ok, {Names: []string{"read"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "linux.seccomp.syscalls[1].args[0].index: "},
		// A rule with the default action is checked all the same.
		{specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 9, Op: specs.OpEqualTo}}}}}, "linux.seccomp.syscalls[0].args[0].index: "},
	} {
		_, err := CompileArch(&c.p, "amd64")
		if err == nil || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("profile %+v: error %v, want one starting %q", c.p, err, c.field)
		}
	}
	if _, err := CompileArch(&specs.LinuxSeccomp{DefaultAction: specs.ActAllow}, "sparc64"); err == nil || !strings.Contains(err.Error(), `"sparc64"`) {
		t.Errorf("an architecture without a table: error %v", err)
	}
}

// A profile of no rules, or of rules that change nothing, is its default
// action alone, for every call from every architecture; a nil profile is
// no filter.
func TestDefaultOnly(t *testing.T) {
	for _, p := range []*specs.LinuxSeccomp{
		{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(38)},
		{DefaultAction: specs.ActErrno, DefaultErrnoRet: errno(38), Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_call", "arch_prctl"}, Action: specs.ActAllow}, // arch_prctl: amd64 only
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: errno(38)},
			{Names: []string{"write"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, ValueTwo: 2, Op: specs.OpMaskedEqual}}},
		}},
	} {
		vm, prog := vmFor(t, p, "arm64")
		if len(prog) != 1 {
			t.Errorf("%d instructions, want one", len(prog))
		}
		for _, d := range []Data{{Nr: 0}, {Nr: 63, Arch: unix.AUDIT_ARCH_AARCH64}, {Nr: 1 << 31, Arch: unix.AUDIT_ARCH_X86_64}} {
			if got, _ := vm.RunData(d); got != unix.SECCOMP_RET_ERRNO|38 {
				t.Errorf("call %+v: verdict %#x, want ENOSYS", d, got)
			}
		}
	}
	if prog, err := Compile(nil); prog != nil || err != nil {
		t.Errorf("nil profile: %v, %v", prog, err)
	}
}

// A call's verdict is the action of its first rule whose conditions all
// hold: an unconditional rule ends the list, and rules with the default
// action are left out before (so the rule after one decides).
func TestRuleOrder(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"getpid", "gettid"}, Action: specs.ActErrno, ErrnoRet: errno(5), Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.OpEqualTo}}},
		{Names: []string{"getpid"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 2, Op: specs.OpEqualTo}}}, // default: left out
		{Names: []string{"getpid"}, Action: specs.ActLog, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 3, Op: specs.OpGreaterEqual}, {Index: 1, Value: 7, Op: specs.OpEqualTo}}},
		{Names: []string{"getpid"}, Action: specs.ActAllow},
		{Names: []string{"getpid", "gettid"}, Action: specs.ActTrap, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 4, Op: specs.OpEqualTo}}},
	}}
	vm, _ := vmFor(t, p, "amd64")
	for _, c := range []struct {
		name string
		args []uint64
		want uint32
	}{
		{"getpid", []uint64{1}, unix.SECCOMP_RET_ERRNO | 5},
		{"getpid", []uint64{2}, retAllow},
		{"getpid", []uint64{3, 7}, unix.SECCOMP_RET_LOG},
		{"getpid", []uint64{9, 7}, unix.SECCOMP_RET_LOG},
		{"getpid", []uint64{3, 8}, retAllow},
		{"getpid", []uint64{4}, retAllow},
		{"getpid", nil, retAllow},
		{"gettid", []uint64{1}, unix.SECCOMP_RET_ERRNO | 5},
		{"gettid", []uint64{4}, unix.SECCOMP_RET_TRAP},
		{"gettid", []uint64{5}, retEPERM},
		{"getppid", []uint64{1}, retEPERM},
	} {
		if got := verdict(t, vm, "amd64", c.name, c.args...); got != c.want {
			t.Errorf("%s%v: verdict %#x, want %#x", c.name, c.args, got, c.want)
		}
	}
}

// A call reported for another architecture, and on amd64 an x32 call
// (number with bit 30 set, even that of an allowed call), gets the
// default action; so do numbers past the table.
func TestOtherABIs(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "getpid", "exit_group"}, Action: specs.ActAllow}}}
	vm, _ := vmFor(t, p, "amd64")
	for _, d := range []Data{
		{Nr: 39, Arch: unix.AUDIT_ARCH_I386},
		{Nr: 0, Arch: unix.AUDIT_ARCH_AARCH64},
		{Nr: 0x40000000, Arch: unix.AUDIT_ARCH_X86_64},
		{Nr: 0x40000000 | 39, Arch: unix.AUDIT_ARCH_X86_64},
		{Nr: 0x40000000 | 231, Arch: unix.AUDIT_ARCH_X86_64},
		{Nr: 0xffffffff, Arch: unix.AUDIT_ARCH_X86_64},
		{Nr: 2000, Arch: unix.AUDIT_ARCH_X86_64},
	} {
		if got, _ := vm.RunData(d); got != unix.SECCOMP_RET_KILL_PROCESS {
			t.Errorf("call %#x of arch %#x: verdict %#x, want KILL_PROCESS", d.Nr, d.Arch, got)
		}
	}
	if got, _ := vm.Run(39); got != retAllow {
		t.Errorf("getpid: verdict %#x", got)
	}
}

// modelVerdict is the reference semantics for profiles without rules
// that have the default action.
func modelVerdict(p *specs.LinuxSeccomp, goarch string, nr uint32, args [6]uint64) uint32 {
	def, _, _ := action(p.DefaultAction, p.DefaultErrnoRet)
	for _, r := range p.Syscalls {
		for _, name := range r.Names {
			if n, ok := Syscall(goarch, name); !ok || n != nr {
				continue
			}
			all := true
			for _, a := range r.Args {
				all = all && holds(a.Op, args[a.Index], a.Value, a.ValueTwo)
			}
			if all {
				act, _, _ := action(r.Action, r.ErrnoRet)
				return act
			}
		}
	}
	return def
}

// Programs longer than a conditional jump reaches (255) are resolved with
// trampolines: long binary searches and long rule lists for one call give
// the same verdicts as short ones.
func TestLongJumps(t *testing.T) {
	arch := archOf("amd64")
	rng := rand.New(rand.NewPCG(5, 6))
	// Every other call allowed only with one argument, a third of them
	// with two rules: many ranges, and blocks far from the search.
	big := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i, name := range arch.names {
		switch i % 3 {
		case 0:
			big.Syscalls = append(big.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow,
				Args: []specs.LinuxSeccompArg{{Index: uint(i % 6), Value: uint64(i), Op: specs.OpEqualTo}}})
		case 1:
			big.Syscalls = append(big.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActTrap,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(i) << 32, Op: specs.OpGreaterThan}, {Index: 1, Value: 0xff, ValueTwo: 3, Op: specs.OpMaskedEqual}}},
				specs.LinuxSyscall{Names: []string{name}, Action: specs.ActLog})
		}
	}
	// One call with 120 alternatives: the rules' returns lie further
	// than 255 instructions from the first ones.
	long := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write"}, Action: specs.ActAllow}}}
	for i := range 120 {
		long.Syscalls = append(long.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(i*i) | uint64(i)<<40, Op: specs.OpEqualTo}}})
	}
	long.Syscalls = append(long.Syscalls, specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActTrace})
	for name, p := range map[string]*specs.LinuxSeccomp{"many ranges": big, "many rules": long} {
		t.Run(name, func(t *testing.T) {
			var c compiler
			prog, err := c.compile(p, arch)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := NewVM(prog, "amd64")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d instructions, %d of them trampolines", len(prog), c.trampolines)
			if c.trampolines == 0 {
				t.Fatalf("%d instructions and no trampoline: the test does not need long jumps", len(prog))
			}
			for nr := uint32(0); nr < 600; nr++ {
				for k := range 40 {
					var args [6]uint64
					switch {
					case k < 6:
						args[k] = uint64(nr) // hits the EQ of "many ranges" for some
					case k < 30:
						j := uint64(rng.IntN(125))
						args[0] = j*j | j<<40
					default:
						args[0], args[1] = rng.Uint64(), 3|uint64(rng.IntN(2))<<8
					}
					for i := range args {
						if args[i] == 0 && rng.IntN(2) == 0 {
							args[i] = uint64(rng.IntN(int(len(arch.names))))
						}
					}
					if got, want := mustRun(t, vm, nr, args), modelVerdict(p, "amd64", nr, args); got != want {
						t.Fatalf("call %d args %#x: verdict %#x, want %#x", nr, args, got, want)
					}
				}
			}
		})
	}
}

func mustRun(t *testing.T, vm *VM, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	v, err := vm.Run(nr, args[:]...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A profile too long for the kernel is an error saying so.
func TestTooLong(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
	for i := range 1000 {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{"ioctl"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 1, Value: uint64(i) << 32, Op: specs.OpEqualTo}}})
	}
	if _, err := CompileArch(p, "amd64"); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Errorf("error %v, want one about the kernel's limit", err)
	}
}

// The tables are sorted and map the names profiles use, in the kernel's
// spelling, to the numbers of each architecture.
func TestTables(t *testing.T) {
	for _, goarch := range Arches() {
		a := archOf(goarch)
		if len(a.names) != len(a.numbers) || len(a.names) < 300 || !slices.IsSorted(a.names) {
			t.Errorf("%s: %d names, %d numbers, sorted %v", goarch, len(a.names), len(a.numbers), slices.IsSorted(a.names))
		}
		for i := 1; i < len(a.names); i++ {
			if a.names[i] == a.names[i-1] {
				t.Errorf("%s: %s twice", goarch, a.names[i])
			}
		}
		for i, name := range a.names {
			if nr, ok := a.number(name); !ok || nr != a.numbers[i] {
				t.Errorf("%s: the hash table gives %s %d, %v; the list %d", goarch, name, nr, ok, a.numbers[i])
			}
			if _, ok := a.number(name + "!"); ok {
				t.Errorf("%s: the hash table has %s!", goarch, name)
			}
		}
	}
	for _, c := range []struct {
		arch, name string
		nr         uint32
	}{
		{"amd64", "read", 0}, {"amd64", "clock_gettime", 228}, {"amd64", "newfstatat", 262}, {"amd64", "umount2", 166},
		{"amd64", "arch_prctl", 158}, {"amd64", "clone3", 435}, {"amd64", "epoll_ctl_old", 214}, {"amd64", "uretprobe", 335},
		{"arm64", "newfstatat", 79}, {"arm64", "clone", 220}, {"arm64", "umount2", 39}, {"arm64", "fadvise64", 223},
		{"386", "_llseek", 140}, {"386", "_newselect", 142}, {"386", "fstatat64", 300}, {"386", "clock_gettime64", 403},
		{"386", "socketcall", 102}, {"386", "umount", 22}, {"386", "modify_ldt", 123},
		{"arm", "arm_fadvise64_64", 270}, {"arm", "sync_file_range2", 341}, {"arm", "arm_sync_file_range", 341},
		{"arm", "clock_gettime64", 403}, {"arm", "breakpoint", 0x0f0001}, {"arm", "cacheflush", 0x0f0002}, {"arm", "set_tls", 0x0f0005},
		{"arm", "restart_syscall", 0},
		{"ppc64le", "sync_file_range2", 308}, {"ppc64le", "swapcontext", 249}, {"ppc64le", "_llseek", 140},
		{"riscv64", "riscv_flush_icache", 259}, {"riscv64", "riscv_hwprobe", 258},
		{"s390x", "s390_pci_mmio_read", 353}, {"s390x", "s390_runtime_instr", 342}, {"s390x", "clone", 120},
	} {
		if nr, ok := Syscall(c.arch, c.name); !ok || nr != c.nr {
			t.Errorf("%s %s: %d, %v, want %d", c.arch, c.name, nr, ok, c.nr)
		}
	}
	for _, c := range [][2]string{{"amd64", "_llseek"}, {"amd64", "umount"}, {"arm64", "open"}, {"arm", "syscall_mask"}, {"amd64", "SYS_READ"}, {"amd64", "Read"}} {
		if nr, ok := Syscall(c[0], c[1]); ok {
			t.Errorf("%s has %s (%d)", c[0], c[1], nr)
		}
	}
}

// The first argument's words lie where each byte order puts them.
func TestArgumentLayout(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow,
		Args: []specs.LinuxSeccompArg{{Index: 2, Value: 1<<32 | 2, Op: specs.OpEqualTo}}}}}
	for goarch, want := range map[string][]uint32{"amd64": {36, 32}, "s390x": {32, 36}} {
		prog, err := CompileArch(p, goarch)
		if err != nil {
			t.Fatal(err)
		}
		var loads []uint32
		for _, f := range prog {
			if f.Code == unix.BPF_LD|unix.BPF_W|unix.BPF_ABS && f.K >= 16 {
				loads = append(loads, f.K)
			}
		}
		if !slices.Equal(loads, want) {
			t.Errorf("%s: loads at %v, want the high word then the low: %v", goarch, loads, want)
		}
	}
}

// Encode writes struct sock_filter in the native byte order, and Decode
// reads it back.
func TestEncode(t *testing.T) {
	prog := []unix.SockFilter{{Code: 0x20, K: 4}, {Code: 0x15, Jt: 1, Jf: 2, K: 0xc000003e}, {Code: 0x06, K: 0x7fff0000}}
	b := Encode(prog)
	want := binary.NativeEndian.AppendUint16(nil, 0x15)
	want = append(want, 1, 2)
	want = binary.NativeEndian.AppendUint32(want, 0xc000003e)
	if len(b) != 24 || !bytes.Equal(b[8:16], want) {
		t.Errorf("Encode: % x", b)
	}
	back, err := Decode(b)
	if err != nil || !slices.Equal(back, prog) {
		t.Errorf("Decode: %v, %v", back, err)
	}
	if _, err := Decode(b[:7]); err == nil {
		t.Error("Decode of 7 bytes: no error")
	}
}
