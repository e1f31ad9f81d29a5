package seccomp_test

import (
	goruntime "runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/seccomp"
)

// modelAction is the value a filter returns for an OCI action, written out
// independently of the package.
func modelAction(a specs.LinuxSeccompAction, errno *uint) uint32 {
	e := uint32(unix.EPERM)
	if errno != nil {
		e = uint32(*errno)
	}
	return map[specs.LinuxSeccompAction]uint32{
		specs.ActAllow: 0x7fff0000, specs.ActErrno: 0x00050000 | e, specs.ActKill: 0,
		specs.ActKillThread: 0, specs.ActKillProcess: 0x80000000, specs.ActTrap: 0x00030000,
		specs.ActLog: 0x7ffc0000, specs.ActTrace: 0x7ff00000 | e,
	}[a]
}

// modelHolds reports whether the condition a holds for the arguments args.
func modelHolds(a specs.LinuxSeccompArg, args [6]uint64) bool {
	x := args[a.Index]
	switch a.Op {
	case specs.OpEqualTo:
		return x == a.Value
	case specs.OpNotEqual:
		return x != a.Value
	case specs.OpLessThan:
		return x < a.Value
	case specs.OpLessEqual:
		return x <= a.Value
	case specs.OpGreaterThan:
		return x > a.Value
	case specs.OpGreaterEqual:
		return x >= a.Value
	case specs.OpMaskedEqual:
		return x&a.Value == a.ValueTwo
	}
	panic("unknown operator " + a.Op)
}

// model is the semantics CompileArch documents, for the running
// architecture: the action of the first rule (left out: rules with the
// default action) naming the call whose conditions all hold.
func model(p *specs.LinuxSeccomp, d seccomp.Data) uint32 {
	def := modelAction(p.DefaultAction, p.DefaultErrnoRet)
	if audit, _ := seccomp.AuditArch(goruntime.GOARCH); d.Arch != audit {
		return def
	}
	for _, r := range p.Syscalls {
		act := modelAction(r.Action, r.ErrnoRet)
		if act == def {
			continue
		}
		for _, name := range r.Names {
			if nr, ok := seccomp.Syscall(goruntime.GOARCH, name); !ok || nr != d.Nr {
				continue
			}
			holds := true
			for _, a := range r.Args {
				holds = holds && modelHolds(a, d.Args)
			}
			if holds {
				return act
			}
		}
	}
	return def
}

// oracleModel is what the runtime's old conversion with go-seccomp-bpf
// v1.6.0 does, bug included: its linear chain compares the accumulator
// with each rule's call numbers, but a failed argument condition leaves
// the argument word it last loaded there, so the chain goes on comparing
// that word, not the call number, with the numbers of the later rules.
// Besides, on amd64 it answers ENOSYS to x32 calls.
func oracleModel(p *specs.LinuxSeccomp, d seccomp.Data) uint32 {
	def := modelAction(p.DefaultAction, p.DefaultErrnoRet)
	audit, _ := seccomp.AuditArch(goruntime.GOARCH)
	if d.Arch != audit {
		return def
	}
	if goruntime.GOARCH == "amd64" && d.Nr >= 0x40000000 {
		return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	}
	acc := d.Nr
	for _, r := range p.Syscalls {
		act := modelAction(r.Action, r.ErrnoRet)
		if act == def {
			continue
		}
		for _, name := range r.Names {
			if nr, ok := seccomp.Syscall(goruntime.GOARCH, name); !ok || nr != acc {
				continue
			}
			if len(r.Args) == 0 {
				return act
			}
			holds := true
			for _, a := range r.Args {
				if !modelHolds(a, d.Args) {
					acc = oracleFailWord(a, d.Args[a.Index])
					holds = false
					break
				}
			}
			if holds {
				return act
			}
		}
	}
	return def
}

// oracleFailWord is the word of x go-seccomp-bpf has loaded when the
// condition a fails: it tests the high word first and gives up there
// when that decides.
func oracleFailWord(a specs.LinuxSeccompArg, x uint64) uint32 {
	hi, vhi := uint32(x>>32), uint32(a.Value>>32)
	switch a.Op {
	case specs.OpEqualTo, specs.OpLessThan, specs.OpLessEqual, specs.OpGreaterThan, specs.OpGreaterEqual:
		if hi != vhi {
			return hi
		}
	case specs.OpMaskedEqual:
		if a.ValueTwo == 0 && hi&vhi != 0 {
			return hi
		}
	}
	return uint32(x)
}
