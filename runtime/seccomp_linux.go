package runtime

import (
	"fmt"
	goruntime "runtime"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/seccomp"
)

// compileSeccomp turns a profile into the raw BPF program the spawning
// thread or the init loads (struct sock_filter, 8 bytes an instruction).
// Errors name the profile's field.
func compileSeccomp(s *specs.LinuxSeccomp) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	prog, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	return seccomp.Encode(prog), nil
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
	p, err := seccomp.Decode(prog)
	if err != nil || len(p) == 0 {
		return false
	}
	vm, err := seccomp.NewVM(p, goruntime.GOARCH)
	if err != nil {
		return false
	}
	for _, c := range calls {
		ret, err := vm.Run(uint32(c[0]), c[1])
		if err != nil || ret&unix.SECCOMP_RET_ACTION_FULL != unix.SECCOMP_RET_ALLOW {
			return false
		}
	}
	return true
}
