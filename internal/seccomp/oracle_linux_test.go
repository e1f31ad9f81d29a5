package seccomp_test

import (
	"fmt"

	gsb "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// oracleCompile compiles p for the running architecture the way the
// runtime did before this package (runtime/seccomp_linux.go with
// github.com/elastic/go-seccomp-bpf), to compare verdicts with.
func oracleCompile(s *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, err
	}
	def, err := oracleAction(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	if def&^0xffff == gsb.ActionErrno && def != gsb.ActionErrno {
		return nil, fmt.Errorf("default errno %d: only EPERM is supported", def&0xffff)
	}
	policy := gsb.Policy{DefaultAction: def}
	for i, rule := range s.Syscalls {
		act, err := oracleAction(rule.Action, rule.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
		}
		if act == def {
			continue
		}
		g := gsb.SyscallGroup{Action: act}
		var conds gsb.ArgumentConditions
		for _, a := range rule.Args {
			c, err := oracleCondition(a)
			if err != nil {
				return nil, fmt.Errorf("syscalls[%d]: %w", i, err)
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
				g.NamesWithCondtions = append(g.NamesWithCondtions, gsb.NameWithConditions{Name: name, Conditions: conds})
			}
		}
		if len(g.Names)+len(g.NamesWithCondtions) > 0 {
			policy.Syscalls = append(policy.Syscalls, g)
		}
	}
	if len(policy.Syscalls) == 0 {
		policy.Syscalls = []gsb.SyscallGroup{{Names: []string{"getpid"}, Action: def}}
	}
	return policy.Assemble()
}

// oracleBytes is oracleCompile followed by the runtime's old encoding,
// the whole of what compileSeccomp did.
func oracleBytes(s *specs.LinuxSeccomp) ([]byte, error) {
	insts, err := oracleCompile(s)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, err
	}
	prog := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		prog[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return encodeOld(prog), nil
}

// encodeOld is the runtime's old byte encoding (struct sock_filter).
func encodeOld(prog []unix.SockFilter) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, r := range prog {
		out = append(out, byte(r.Code), byte(r.Code>>8), r.Jt, r.Jf, byte(r.K), byte(r.K>>8), byte(r.K>>16), byte(r.K>>24))
	}
	return out
}

func oracleAction(a specs.LinuxSeccompAction, errno *uint) (gsb.Action, error) {
	switch a {
	case specs.ActAllow:
		return gsb.ActionAllow, nil
	case specs.ActErrno:
		if errno == nil || *errno == uint(unix.EPERM) {
			return gsb.ActionErrno, nil
		}
		return gsb.ActionErrno | gsb.Action(*errno&0xffff), nil
	case specs.ActKill, specs.ActKillThread:
		return gsb.ActionKillThread, nil
	case specs.ActKillProcess:
		return gsb.ActionKillProcess, nil
	case specs.ActTrap:
		return gsb.ActionTrap, nil
	case specs.ActLog:
		return gsb.ActionLog, nil
	case specs.ActTrace:
		e := uint(unix.EPERM)
		if errno != nil {
			e = *errno
		}
		return gsb.ActionTrace | gsb.Action(e&0xffff), nil
	}
	return 0, fmt.Errorf("action %q is not supported", a)
}

func oracleCondition(a specs.LinuxSeccompArg) (gsb.Condition, error) {
	c := gsb.Condition{Argument: uint32(a.Index), Value: a.Value}
	switch a.Op {
	case specs.OpEqualTo:
		c.Operation = gsb.Equal
	case specs.OpNotEqual:
		c.Operation = gsb.NotEqual
	case specs.OpLessThan:
		c.Operation = gsb.LessThan
	case specs.OpLessEqual:
		c.Operation = gsb.LessOrEqual
	case specs.OpGreaterThan:
		c.Operation = gsb.GreaterThan
	case specs.OpGreaterEqual:
		c.Operation = gsb.GreaterOrEqual
	case specs.OpMaskedEqual:
		switch a.ValueTwo {
		case 0:
			c.Operation = gsb.BitsNotSet
		case a.Value:
			if a.Value&(a.Value-1) != 0 {
				return c, fmt.Errorf("SCMP_CMP_MASKED_EQ needing all of the bits %#x is not supported", a.Value)
			}
			c.Operation = gsb.BitsSet
		default:
			return c, fmt.Errorf("SCMP_CMP_MASKED_EQ with value %#x and valueTwo %#x is not supported", a.Value, a.ValueTwo)
		}
	default:
		return c, fmt.Errorf("operator %q is not supported", a.Op)
	}
	return c, nil
}
