package seccomp

import (
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Offsets of the fields of struct seccomp_data a filter reads.
const (
	offNr   = 0 // int nr
	offArch = 4 // __u32 arch
)

// MaxInstructions is the longest program the kernel loads (BPF_MAXINSNS).
const MaxInstructions = 4096

// Compile compiles the seccomp profile p into a classic-BPF filter for the
// running architecture. See CompileArch.
func Compile(p *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return CompileArch(p, goruntime.GOARCH)
}

// CompileArch compiles the seccomp profile p into a classic-BPF filter for
// goarch, one of Arches. A nil profile compiles to no filter (nil).
//
// The filter gives a system call the action of the first rule of
// p.Syscalls, in profile order, that names it and whose args conditions all
// hold (conditions are ANDed, rules are alternatives), and the default
// action when no rule does. Rules whose action is the default action are
// left out first (libseccomp refuses them, runc skips them), so a later
// rule decides where such a rule would have. Names goarch does not have are
// skipped, as libseccomp does.
//
// Only goarch's own ABI is let through: a call reported with another
// seccomp_data.arch (p.Architectures is not consulted: a 32-bit program on
// a 64-bit kernel gets the default action for every call), and on amd64
// an x32 call (number with bit 0x40000000), gets the default action.
//
// Actions: SCMP_ACT_ERRNO returns errnoRet (EPERM when unset; an explicit
// 0 makes the call return 0 without running), SCMP_ACT_TRACE passes it to
// the tracer (EPERM when unset), the other actions ignore it;
// defaultErrnoRet is the same for the default action. SCMP_ACT_KILL is
// SCMP_ACT_KILL_THREAD. SCMP_ACT_NOTIFY is refused. p.Flags and
// p.ListenerPath are for whoever loads the filter.
//
// The program loads the call's number and finds its verdict by a binary
// search over ranges of numbers: consecutive numbers with the same
// unconditional verdict form one range (numbers the table does not have
// break ranges: they keep the default action). Argument conditions
// compare the full 64-bit value, word by word (on 32-bit architectures
// the kernel zero-extends arguments). Conditional jumps too far for their
// 8-bit offsets go through trampolines.
func CompileArch(p *specs.LinuxSeccomp, goarch string) ([]unix.SockFilter, error) {
	if p == nil {
		return nil, nil
	}
	a := archOf(goarch)
	if a == nil {
		return nil, fmt.Errorf("seccomp: architecture %q has no system call table here (known: %s)", goarch, strings.Join(Arches(), ", "))
	}
	var c compiler
	return c.compile(p, a)
}

// compile compiles p for a.
func (c *compiler) compile(p *specs.LinuxSeccomp, a *arch) ([]unix.SockFilter, error) {
	def, field, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		if field == "errnoRet" {
			return nil, fmt.Errorf("linux.seccomp.defaultErrnoRet: %w", err)
		}
		return nil, fmt.Errorf("linux.seccomp.defaultAction: %w", err)
	}
	c.arch, c.def = a, def
	if err := c.collect(p); err != nil {
		return nil, err
	}
	c.labels = make([]int32, 0, 128)
	c.segment()
	c.insts = make([]inst, 0, 2*len(c.segs)+16)
	if len(c.segs) == 1 {
		// One verdict for every call, from every architecture.
		return []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: c.segs[0].leaf.act}}, nil
	}
	c.ld(offArch)
	c.jump(unix.BPF_JEQ, a.audit, next, c.ret(def))
	c.ld(offNr)
	c.tree(c.segs)
	for i := range c.blocks {
		if !c.blocks[i].emitted {
			c.block(&c.blocks[i])
		}
	}
	for _, r := range c.rets {
		c.place(r.label)
		c.emit(inst{code: unix.BPF_RET | unix.BPF_K, k: r.act})
	}
	return c.assemble()
}

// action returns the value a filter returns for the OCI action a with the
// errno (or trace message) errno, or an error and the field it is about
// ("action" or "errnoRet"). errno is ignored by the actions without data,
// as it is today in the runtime.
func action(a specs.LinuxSeccompAction, errno *uint) (uint32, string, error) {
	data := uint32(unix.EPERM)
	if errno != nil {
		if *errno > 0xffff {
			return 0, "errnoRet", fmt.Errorf("%d does not fit the 16 bits of SECCOMP_RET_DATA", *errno)
		}
		data = uint32(*errno)
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, "", nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, "", nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, "", nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, "", nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, "", nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, "", nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, "", nil
	case specs.ActNotify:
		return 0, "action", errors.New("SCMP_ACT_NOTIFY needs a seccomp agent, which tabula does not support; use another action")
	}
	return 0, "action", fmt.Errorf("%q is not a seccomp action (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL, SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG, SCMP_ACT_TRACE)", a)
}

// cond is one argument condition, reduced: (arg[index] & mask) op value,
// with mask all ones but for SCMP_CMP_MASKED_EQ.
type cond struct {
	op    specs.LinuxSeccompOperator
	index uint32
	mask  uint64
	value uint64
}

// rule is one rule of the profile that the filter keeps.
type rule struct {
	act   uint32
	conds []cond // all must hold; none: the rule is unconditional
}

// leaf is the verdict of a range of system call numbers: ret act when
// block < 0, else the code of blocks[block].
type leaf struct {
	act   uint32
	block int32
}

// segment is a range of numbers, from start to the next segment's start.
type segment struct {
	start uint32
	leaf  leaf
}

// block is the code deciding a call that has conditional rules: each of
// rules (indices into compiler.rules) in turn, then ret fallback.
type block struct {
	rules    []int32
	fallback uint32
	label    label
	refs     int  // segments deciding by it
	emitted  bool // its code is in the program
}

// retLabel is the shared return instruction of one action value.
type retLabel struct {
	act   uint32
	label label
}

// compiler holds the state of one compilation.
type compiler struct {
	asm
	arch   *arch
	def    uint32
	rules  []rule
	keys   []uint64 // number<<32 | rule index, one for each name kept
	segs   []segment
	blocks []block
	rets   []retLabel
}

// collect checks every rule of p and records, for each name goarch has,
// the rules that name it.
func (c *compiler) collect(p *specs.LinuxSeccomp) error {
	n, nargs := 0, 0
	for i := range p.Syscalls {
		n += len(p.Syscalls[i].Names)
		nargs += len(p.Syscalls[i].Args)
	}
	c.keys = make([]uint64, 0, n)
	c.rules = make([]rule, 0, len(p.Syscalls))
	conds := make([]cond, 0, nargs)
	for i := range p.Syscalls {
		sc := &p.Syscalls[i]
		act, field, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return fmt.Errorf("linux.seccomp.syscalls[%d].%s: %w", i, field, err)
		}
		start, never := len(conds), false
		for j, arg := range sc.Args {
			if arg.Index > 5 {
				return fmt.Errorf("linux.seccomp.syscalls[%d].args[%d].index: %d is not an argument of a system call (0 to 5)", i, j, arg.Index)
			}
			cd := cond{op: arg.Op, index: uint32(arg.Index), mask: ^uint64(0), value: arg.Value}
			switch arg.Op {
			case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo, specs.OpGreaterEqual, specs.OpGreaterThan:
			case specs.OpMaskedEqual:
				cd.mask, cd.value = arg.Value, arg.ValueTwo
				switch {
				case cd.value&^cd.mask != 0:
					never = true // bits outside the mask can never be equal
				case cd.mask == 0:
					continue // 0 == 0 always holds
				}
			default:
				return fmt.Errorf("linux.seccomp.syscalls[%d].args[%d].op: %q is not a comparison (SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)", i, j, arg.Op)
			}
			conds = append(conds, cd)
		}
		if act == c.def || never {
			conds = conds[:start]
			continue
		}
		r := uint64(len(c.rules))
		c.rules = append(c.rules, rule{act: act, conds: conds[start:len(conds):len(conds)]})
		for _, name := range sc.Names {
			if nr, ok := c.arch.number(name); ok {
				c.keys = append(c.keys, uint64(nr)<<32|r)
			}
		}
	}
	slices.Sort(c.keys)
	return nil
}

// segment turns the sorted keys into the ranges of numbers the program
// searches, each with its verdict; the ranges cover every number.
func (c *compiler) segment() {
	c.segs = make([]segment, 0, 128)
	add := func(start uint32, l leaf) {
		if n := len(c.segs); n > 0 && c.segs[n-1].leaf == l {
			return
		}
		c.segs = append(c.segs, segment{start: start, leaf: l})
		if l.block >= 0 {
			c.blocks[l.block].refs++
		}
	}
	deflt := leaf{act: c.def, block: -1}
	chains := make([]int32, 0, 16)
	covered := uint32(0) // first number not yet in a segment
	for i := 0; i < len(c.keys); {
		nr := uint32(c.keys[i] >> 32)
		j := i
		for j < len(c.keys) && uint32(c.keys[j]>>32) == nr {
			j++
		}
		// The rules naming nr, in profile order, up to the first
		// unconditional one, which is the fallback.
		start, fallback, prev := len(chains), c.def, int32(-1)
		for _, k := range c.keys[i:j] {
			r := int32(uint32(k))
			if r == prev {
				continue // named twice by one rule
			}
			prev = r
			if len(c.rules[r].conds) == 0 {
				fallback = c.rules[r].act
				break
			}
			chains = append(chains, r)
		}
		// A last rule with the fallback's action decides nothing.
		for len(chains) > start && c.rules[chains[len(chains)-1]].act == fallback {
			chains = chains[:len(chains)-1]
		}
		l := leaf{act: fallback, block: -1}
		if len(chains) > start {
			l = c.blockOf(chains[start:], fallback)
			chains = chains[:start]
		}
		if nr > covered {
			add(covered, deflt)
		}
		add(nr, l)
		covered = nr + 1
		i = j
	}
	if covered != 0 || len(c.segs) == 0 {
		add(covered, deflt)
	}
}

// blockOf returns the leaf running the conditional rules chain then
// returning fallback, shared by every call with the same rules.
func (c *compiler) blockOf(chain []int32, fallback uint32) leaf {
	for i := range c.blocks {
		if b := &c.blocks[i]; b.fallback == fallback && slices.Equal(b.rules, chain) {
			return leaf{block: int32(i)}
		}
	}
	c.blocks = append(c.blocks, block{rules: slices.Clone(chain), fallback: fallback, label: c.newLabel()})
	return leaf{block: int32(len(c.blocks) - 1)}
}

// target returns the label of the code deciding l.
func (c *compiler) target(l leaf) label {
	if l.block >= 0 {
		return c.blocks[l.block].label
	}
	return c.ret(l.act)
}

// ret returns the label of the shared instruction returning act.
func (c *compiler) ret(act uint32) label {
	for _, r := range c.rets {
		if r.act == act {
			return r.label
		}
	}
	l := c.newLabel()
	c.rets = append(c.rets, retLabel{act: act, label: l})
	return l
}

// tree emits the binary search over segs with the number in A, and
// returns the label of its first instruction. The code of a block that
// decides one segment only goes in the search's place; shared blocks go
// after the search (jumps only go forward).
func (c *compiler) tree(segs []segment) label {
	if len(segs) == 1 {
		if b := segs[0].leaf.block; b >= 0 && c.blocks[b].refs == 1 {
			c.block(&c.blocks[b])
		}
		return c.target(segs[0].leaf)
	}
	l := c.newLabel()
	c.place(l)
	mid := len(segs) / 2
	at := c.jump(unix.BPF_JGE, segs[mid].start, next, next)
	lo := c.tree(segs[:mid])
	hi := c.tree(segs[mid:])
	c.insts[at].jt, c.insts[at].jf = hi, lo
	return l
}

// block emits the code of b: each rule's conditions in turn, the first
// rule whose conditions all hold returning its action.
func (c *compiler) block(b *block) {
	b.emitted = true
	c.place(b.label)
	for i, r := range b.rules {
		var fail label
		if i == len(b.rules)-1 {
			fail = c.ret(b.fallback)
		} else {
			fail = c.newLabel()
		}
		conds := c.rules[r].conds
		pass := c.ret(c.rules[r].act)
		for j := range conds {
			ok := pass
			if j < len(conds)-1 {
				ok = c.newLabel()
			}
			c.cond(&conds[j], ok, fail)
			if j < len(conds)-1 {
				c.place(ok)
			}
		}
		if i < len(b.rules)-1 {
			c.place(fail)
		}
	}
}

// cond emits the test of one 64-bit condition, going to pass when it
// holds and to fail when not. The high words decide unless they are
// equal; then the low words do.
func (c *compiler) cond(cd *cond, pass, fail label) {
	lo, hi := c.arch.argOffsets(cd.index)
	vlo, vhi := uint32(cd.value), uint32(cd.value>>32)
	switch cd.op {
	case specs.OpEqualTo:
		c.ld(hi)
		c.jump(unix.BPF_JEQ, vhi, next, fail)
		c.ld(lo)
		c.jump(unix.BPF_JEQ, vlo, pass, fail)
	case specs.OpNotEqual:
		c.ld(hi)
		c.jump(unix.BPF_JEQ, vhi, next, pass)
		c.ld(lo)
		c.jump(unix.BPF_JEQ, vlo, fail, pass)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		c.ld(hi)
		c.jump(unix.BPF_JGT, vhi, pass, next)
		c.jump(unix.BPF_JEQ, vhi, next, fail)
		c.ld(lo)
		if cd.op == specs.OpGreaterThan {
			c.jump(unix.BPF_JGT, vlo, pass, fail)
		} else {
			c.jump(unix.BPF_JGE, vlo, pass, fail)
		}
	case specs.OpLessThan, specs.OpLessEqual:
		c.ld(hi)
		c.jump(unix.BPF_JGE, vhi, next, pass)
		c.jump(unix.BPF_JEQ, vhi, next, fail)
		c.ld(lo)
		if cd.op == specs.OpLessThan {
			c.jump(unix.BPF_JGE, vlo, fail, pass)
		} else {
			c.jump(unix.BPF_JGT, vlo, fail, pass)
		}
	case specs.OpMaskedEqual:
		// collect has dropped conditions with a mask of 0, and rules
		// with a value outside the mask; a word of mask 0 is not tested.
		mlo, mhi := uint32(cd.mask), uint32(cd.mask>>32)
		if mhi != 0 {
			then := next
			if mlo == 0 {
				then = pass
			}
			c.maskedWord(hi, mhi, vhi, then, fail)
		}
		if mlo != 0 {
			c.maskedWord(lo, mlo, vlo, pass, fail)
		}
	}
}

// maskedWord emits (word at off & mask) == value, going to pass or fail.
func (c *compiler) maskedWord(off, mask, value uint32, pass, fail label) {
	c.ld(off)
	switch {
	case value == 0:
		c.jump(unix.BPF_JSET, mask, fail, pass)
	case value == mask && mask&(mask-1) == 0:
		c.jump(unix.BPF_JSET, mask, pass, fail)
	default:
		if mask != ^uint32(0) {
			c.emit(inst{code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, k: mask})
		}
		c.jump(unix.BPF_JEQ, value, pass, fail)
	}
}
