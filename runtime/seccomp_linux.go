package runtime

import (
	"encoding/binary"
	"fmt"
	goruntime "runtime"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// seccompFilter compiles an OCI seccomp profile into a BPF filter for the
// running architecture. Syscalls the architecture does not have are left
// out, as libseccomp does.
func seccompFilter(s *specs.LinuxSeccomp) (seccomp.Filter, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return seccomp.Filter{}, fmt.Errorf("seccomp: %w", err)
	}
	def, err := seccompAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return seccomp.Filter{}, fmt.Errorf("seccomp defaultAction: %w", err)
	}
	if def&^0xffff == seccomp.ActionErrno && def != seccomp.ActionErrno {
		return seccomp.Filter{}, fmt.Errorf("seccomp defaultErrnoRet %d: only EPERM is supported as the default errno", def&0xffff)
	}
	policy := seccomp.Policy{DefaultAction: def}
	for i, rule := range s.Syscalls {
		act, err := seccompAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return seccomp.Filter{}, fmt.Errorf("seccomp syscalls[%d]: %w", i, err)
		}
		if act == def {
			continue
		}
		g := seccomp.SyscallGroup{Action: act}
		var conds seccomp.ArgumentConditions
		for _, a := range rule.Args {
			c, err := seccompCondition(a)
			if err != nil {
				return seccomp.Filter{}, fmt.Errorf("seccomp syscalls[%d]: %w", i, err)
			}
			conds = append(conds, c)
		}
		for _, name := range rule.Names {
			if _, ok := info.SyscallNames[name]; !ok {
				continue
			}
			if len(conds) == 0 {
				g.Names = append(g.Names, name)
			} else {
				g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{Name: name, Conditions: conds})
			}
		}
		if len(g.Names)+len(g.NamesWithCondtions) > 0 {
			policy.Syscalls = append(policy.Syscalls, g)
		}
	}
	if len(policy.Syscalls) == 0 {
		// The library refuses empty policies; a rule that never matches
		// keeps the default action for everything.
		policy.Syscalls = []seccomp.SyscallGroup{{Names: []string{"getpid"}, Action: def}}
	}
	return seccomp.Filter{Policy: policy}, nil
}

func seccompAction(a specs.LinuxSeccompAction, errno *uint) (seccomp.Action, error) {
	switch a {
	case specs.ActAllow:
		return seccomp.ActionAllow, nil
	case specs.ActErrno:
		if errno == nil || *errno == uint(unix.EPERM) {
			return seccomp.ActionErrno, nil // the library adds EPERM
		}
		return seccomp.ActionErrno | seccomp.Action(*errno&0xffff), nil
	case specs.ActKill, specs.ActKillThread:
		return seccomp.ActionKillThread, nil
	case specs.ActKillProcess:
		return seccomp.ActionKillProcess, nil
	case specs.ActTrap:
		return seccomp.ActionTrap, nil
	case specs.ActLog:
		return seccomp.ActionLog, nil
	case specs.ActTrace:
		e := uint(unix.EPERM)
		if errno != nil {
			e = *errno
		}
		return seccomp.ActionTrace | seccomp.Action(e&0xffff), nil
	}
	return 0, fmt.Errorf("action %q is not supported", a)
}

func seccompCondition(a specs.LinuxSeccompArg) (seccomp.Condition, error) {
	c := seccomp.Condition{Argument: uint32(a.Index), Value: a.Value}
	switch a.Op {
	case specs.OpEqualTo:
		c.Operation = seccomp.Equal
	case specs.OpNotEqual:
		c.Operation = seccomp.NotEqual
	case specs.OpLessThan:
		c.Operation = seccomp.LessThan
	case specs.OpLessEqual:
		c.Operation = seccomp.LessOrEqual
	case specs.OpGreaterThan:
		c.Operation = seccomp.GreaterThan
	case specs.OpGreaterEqual:
		c.Operation = seccomp.GreaterOrEqual
	case specs.OpMaskedEqual:
		// (arg & Value) == ValueTwo, for the two forms profiles use.
		switch a.ValueTwo {
		case 0:
			c.Operation = seccomp.BitsNotSet
		case a.Value:
			if a.Value&(a.Value-1) != 0 {
				return c, fmt.Errorf("SCMP_CMP_MASKED_EQ needing all of the bits %#x is not supported", a.Value)
			}
			c.Operation = seccomp.BitsSet
		default:
			return c, fmt.Errorf("SCMP_CMP_MASKED_EQ with value %#x and valueTwo %#x is not supported", a.Value, a.ValueTwo)
		}
	default:
		return c, fmt.Errorf("operator %q is not supported", a.Op)
	}
	return c, nil
}

// compileSeccomp turns a profile into the raw BPF program the init loads
// (struct sock_filter, 8 bytes an instruction). The parent compiles it
// while the init starts, so the init only makes one system call.
func compileSeccomp(s *specs.LinuxSeccomp) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	f, err := seccompFilter(s)
	if err != nil {
		return nil, err
	}
	insts, err := f.Policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.NativeEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.NativeEndian.AppendUint32(out, r.K)
	}
	return out, nil
}

// loadSeccomp installs a compiled program on the calling thread.
func loadSeccomp(prog []byte) error {
	if len(prog) == 0 || len(prog)%8 != 0 || len(prog)/8 > 0xffff {
		return fmt.Errorf("seccomp: malformed program of %d bytes", len(prog))
	}
	fprog := unix.SockFprog{Len: uint16(len(prog) / 8), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: load the filter: %w", e)
	}
	goruntime.KeepAlive(prog)
	return nil
}

// seccompAllows reports whether a compiled program lets every one of calls
// through, as the kernel would run it. calls are a system call number and
// its first argument.
func seccompAllows(prog []byte, calls [][2]uint64) bool {
	info, err := arch.GetInfo("")
	if err != nil || len(prog) == 0 || len(prog)%8 != 0 {
		return false
	}
	insts := make([]bpf.Instruction, 0, len(prog)/8)
	for i := 0; i < len(prog); i += 8 {
		raw := bpf.RawInstruction{
			Op: binary.NativeEndian.Uint16(prog[i:]),
			Jt: prog[i+2], Jf: prog[i+3],
			K: binary.NativeEndian.Uint32(prog[i+4:]),
		}
		insts = append(insts, raw.Disassemble())
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		return false
	}
	for _, c := range calls {
		// struct seccomp_data: nr, arch, instruction pointer, args. The VM
		// loads words big-endian, so each 32-bit word is written that
		// way at the offset the kernel's (little-endian) layout puts it.
		var data [64]byte
		binary.BigEndian.PutUint32(data[0:], uint32(c[0]))
		binary.BigEndian.PutUint32(data[4:], uint32(info.ID))
		binary.BigEndian.PutUint32(data[16:], uint32(c[1]))
		binary.BigEndian.PutUint32(data[20:], uint32(c[1]>>32))
		ret, err := vm.Run(data[:])
		if err != nil || uint32(ret)&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ALLOW {
			return false
		}
	}
	return true
}
