package seccomp

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Data is the struct seccomp_data a filter is run on.
type Data struct {
	Nr                 uint32 // system call number
	Arch               uint32 // AUDIT_ARCH_* value of the calling ABI
	InstructionPointer uint64
	Args               [6]uint64
}

// VM runs a filter as the kernel would, in golang.org/x/net/bpf's
// interpreter, to check what a compiled profile does without loading it.
type VM struct {
	vm   *bpf.VM
	arch *arch
}

// NewVM returns a VM running prog on calls of goarch, one of Arches.
func NewVM(prog []unix.SockFilter, goarch string) (*VM, error) {
	a := archOf(goarch)
	if a == nil {
		return nil, fmt.Errorf("seccomp: architecture %q has no system call table here", goarch)
	}
	insts := make([]bpf.Instruction, len(prog))
	for i, f := range prog {
		insts[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}.Disassemble()
	}
	vm, err := bpf.NewVM(insts)
	if err != nil {
		return nil, fmt.Errorf("seccomp: the filter does not run: %w", err)
	}
	return &VM{vm: vm, arch: a}, nil
}

// Run returns the filter's verdict (a SECCOMP_RET_* action with its data)
// for the system call nr with the arguments args made in the VM's
// architecture's native ABI.
func (v *VM) Run(nr uint32, args ...uint64) (uint32, error) {
	d := Data{Nr: nr, Arch: v.arch.audit}
	copy(d.Args[:], args)
	return v.RunData(d)
}

// RunData returns the filter's verdict for the call d, laid out in memory
// as the VM's architecture does.
func (v *VM) RunData(d Data) (uint32, error) {
	// The interpreter loads words big-endian; each 32-bit word of the
	// kernel's layout is written so at the offset it has there.
	var b [64]byte
	put64 := func(off uint32, x uint64) {
		lo, hi := off, off+4
		if v.arch.bigEndian {
			lo, hi = off+4, off
		}
		binary.BigEndian.PutUint32(b[lo:], uint32(x))
		binary.BigEndian.PutUint32(b[hi:], uint32(x>>32))
	}
	binary.BigEndian.PutUint32(b[offNr:], d.Nr)
	binary.BigEndian.PutUint32(b[offArch:], d.Arch)
	put64(8, d.InstructionPointer)
	for i, a := range d.Args {
		put64(16+8*uint32(i), a)
	}
	ret, err := v.vm.Run(b[:])
	if err != nil {
		return 0, fmt.Errorf("seccomp: run the filter: %w", err)
	}
	return uint32(ret), nil
}

// Encode returns prog as the kernel reads it: an array of struct
// sock_filter, 8 bytes an instruction in the native byte order.
func Encode(prog []unix.SockFilter) []byte {
	out := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		out = binary.NativeEndian.AppendUint16(out, f.Code)
		out = append(out, f.Jt, f.Jf)
		out = binary.NativeEndian.AppendUint32(out, f.K)
	}
	return out
}

// Decode is the inverse of Encode.
func Decode(b []byte) ([]unix.SockFilter, error) {
	if len(b)%8 != 0 {
		return nil, fmt.Errorf("seccomp: a program of %d bytes is not a whole number of 8-byte instructions", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		r := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.NativeEndian.Uint16(r), Jt: r[2], Jf: r[3], K: binary.NativeEndian.Uint32(r[4:])}
	}
	return prog, nil
}
