package seccomp

import (
	"errors"
	"fmt"
	"math/bits"

	"golang.org/x/sys/unix"
)

// label names a place in the program a jump goes to.
type label int32

// next is the instruction right after a jump.
const next label = -1

// inst is an instruction whose jump targets are labels.
type inst struct {
	code   uint16
	jt, jf label // targets of a conditional jump; jt alone for BPF_JA
	k      uint32
}

// asm builds a program of forward jumps to labels and resolves them,
// adding trampolines where a conditional jump, which reaches at most 255
// instructions, must go further.
type asm struct {
	insts  []inst
	labels []int32 // the instruction each label is placed at, -1 until placed

	trampolines int // how many assemble added
}

// newLabel returns a label to place later.
func (a *asm) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// place puts l at the next instruction emitted.
func (a *asm) place(l label) { a.labels[l] = int32(len(a.insts)) }

// emit appends in and returns its index.
func (a *asm) emit(in inst) int {
	a.insts = append(a.insts, in)
	return len(a.insts) - 1
}

// ld loads the 32-bit word at off of seccomp_data into A.
func (a *asm) ld(off uint32) { a.emit(inst{code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, k: off}) }

// jump emits a conditional jump comparing A with k (op is BPF_JEQ, BPF_JGT,
// BPF_JGE or BPF_JSET) and returns its index.
func (a *asm) jump(op uint16, k uint32, jt, jf label) int {
	return a.emit(inst{code: unix.BPF_JMP | op | unix.BPF_K, k: k, jt: jt, jf: jf})
}

// isCond reports whether code is a conditional jump.
func isCond(code uint16) bool {
	return code&0x07 == unix.BPF_JMP && code&0xf0 != unix.BPF_JA
}

// assemble resolves the labels into offsets. A conditional jump whose
// target is too far gets a trampoline right after it: a copy of the
// target when that is a return, else an unconditional jump (which reaches
// anywhere). Trampolines only lengthen jumps, so the far jumps are found
// by a fixed point.
func (a *asm) assemble() ([]unix.SockFilter, error) {
	n := len(a.insts)
	target := func(i int, l label) (int, error) {
		if l == next {
			return i + 1, nil
		}
		t := int(a.labels[l])
		if t <= i || t >= n {
			return 0, fmt.Errorf("seccomp: internal error: instruction %d jumps to %d", i, t)
		}
		return t, nil
	}
	far := make([]uint8, n) // bit 0: jt needs a trampoline, bit 1: jf does
	pos := make([]int32, n+1)
	for {
		p := int32(0)
		for i := range a.insts {
			pos[i] = p
			p += 1 + int32(bits.OnesCount8(far[i]))
		}
		pos[n] = p
		changed := false
		for i := range a.insts {
			in := &a.insts[i]
			if !isCond(in.code) {
				continue
			}
			for bit, l := range [2]label{in.jt, in.jf} {
				t, err := target(i, l)
				if err != nil {
					return nil, err
				}
				if far[i]&(1<<bit) == 0 && pos[t]-pos[i]-1 > 255 {
					far[i] |= 1 << bit
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	a.trampolines = int(pos[n]) - n
	if pos[n] > MaxInstructions {
		return nil, fmt.Errorf("seccomp: the profile compiles to %d instructions, more than the kernel's limit of %d; use fewer rules or conditions", pos[n], MaxInstructions)
	}
	out := make([]unix.SockFilter, 0, pos[n])
	for i := range a.insts {
		in := &a.insts[i]
		f := unix.SockFilter{Code: in.code, K: in.k}
		switch {
		case isCond(in.code):
			t, _ := target(i, in.jt)
			e, _ := target(i, in.jf)
			if far[i]&1 == 0 {
				f.Jt = uint8(pos[t] - pos[i] - 1)
			}
			if far[i]&2 == 0 {
				f.Jf = uint8(pos[e] - pos[i] - 1)
			} else if far[i]&1 != 0 {
				f.Jf = 1
			}
			out = append(out, f)
			if far[i]&1 != 0 {
				out = append(out, a.trampoline(int32(len(out)), t, pos[t]))
			}
			if far[i]&2 != 0 {
				out = append(out, a.trampoline(int32(len(out)), e, pos[e]))
			}
		case in.code == unix.BPF_JMP|unix.BPF_JA:
			t, err := target(i, in.jt)
			if err != nil {
				return nil, err
			}
			f.K = uint32(pos[t] - pos[i] - 1)
			out = append(out, f)
		default:
			out = append(out, f)
		}
	}
	if len(out) == 0 || out[len(out)-1].Code != unix.BPF_RET|unix.BPF_K {
		return nil, errors.New("seccomp: internal error: the program does not end with a return")
	}
	return out, nil
}

// trampoline returns the instruction at position at that continues a far
// jump to instruction t, at position dest.
func (a *asm) trampoline(at int32, t int, dest int32) unix.SockFilter {
	if in := a.insts[t]; in.code == unix.BPF_RET|unix.BPF_K {
		return unix.SockFilter{Code: in.code, K: in.k}
	}
	return unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(dest - at - 1)}
}
