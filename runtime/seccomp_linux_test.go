package runtime

import (
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompAllows runs a compiled filter as the kernel would: Docker's
// profile lets through what a spawning thread does; a profile that denies
// ptrace, or that denies everything by default, does not.
func TestSeccompAllows(t *testing.T) {
	compile := func(s *specs.LinuxSeccomp) []byte {
		t.Helper()
		prog, err := compileSeccomp(s)
		if err != nil {
			t.Fatal(err)
		}
		return prog
	}
	def := compile(DefaultSeccomp(nil))
	if !seccompAllows(def, threadCalls) {
		t.Error("Docker's default profile denies a call the spawning thread makes")
	}
	if seccompAllows(def, [][2]uint64{{unix.SYS_KEYCTL, 0}}) {
		t.Error("Docker's default profile allows keyctl")
	}
	if seccompAllows(def, [][2]uint64{{unix.SYS_CLONE, unix.CLONE_NEWUSER}}) {
		t.Error("Docker's default profile allows clone(CLONE_NEWUSER)")
	}
	noPtrace := DefaultSeccomp(nil)
	for i, sc := range noPtrace.Syscalls {
		noPtrace.Syscalls[i].Names = slices.DeleteFunc(slices.Clone(sc.Names), func(n string) bool { return n == "ptrace" })
	}
	if seccompAllows(compile(noPtrace), threadCalls) {
		t.Error("a profile denying ptrace lets the spawning thread through")
	}
	allow := []specs.LinuxSyscall{{Names: []string{"ptrace", "wait4", "kill", "dup3", "prlimit64", "setsid", "ioctl", "execve"}, Action: specs.ActAllow}}
	if seccompAllows(compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: allow}), threadCalls) {
		t.Error("a profile without clone lets the spawning thread through")
	}
	allow[0].Names = append(allow[0].Names, "clone")
	if !seccompAllows(compile(&specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: allow}), threadCalls) {
		t.Error("a profile allowing every call the thread makes stops it")
	}
}

// Spawning is kept from PID namespaces whose processes may trace the fork
// (mayTrace), and makes tabula non-dumpable so that no other can.
func TestSpawnTracers(t *testing.T) {
	if mayTrace(DefaultSpec().Process.Capabilities) {
		t.Error("Docker's default capabilities may trace a spawned fork")
	}
	for _, c := range []string{"CAP_SYS_PTRACE", "sys_ptrace", "SYS_PTRACE"} {
		if !mayTrace(&specs.LinuxCapabilities{Bounding: []string{"CAP_CHOWN", c}}) {
			t.Errorf("a bounding set with %s may not trace", c)
		}
	}
}
