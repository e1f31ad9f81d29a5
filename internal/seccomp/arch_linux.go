package seccomp

import "golang.org/x/sys/unix"

// arch is what the compiler needs to know of one architecture.
type arch struct {
	audit     uint32   // AUDIT_ARCH_* value the kernel puts in seccomp_data.arch
	bigEndian bool     // seccomp_data's 64-bit words are big-endian
	names     []string // system call names, sorted
	numbers   []uint32 // numbers[i] is the number of names[i]
	slots     []uint16 // hash table of names: 1 + an index, 0 for none
}

// Arches are the GOARCH names CompileArch and NewVM accept.
func Arches() []string {
	return []string{"386", "amd64", "arm", "arm64", "ppc64le", "riscv64", "s390x"}
}

// archOf returns the architecture of a GOARCH name, or nil when the
// package has no table for it. It builds nothing: the tables are static.
func archOf(goarch string) *arch {
	switch goarch {
	case "386":
		return &arch{audit: unix.AUDIT_ARCH_I386, names: i386Names, numbers: i386Numbers, slots: i386Slots}
	case "amd64":
		return &arch{audit: unix.AUDIT_ARCH_X86_64, names: amd64Names, numbers: amd64Numbers, slots: amd64Slots}
	case "arm":
		return &arch{audit: unix.AUDIT_ARCH_ARM, names: armNames, numbers: armNumbers, slots: armSlots}
	case "arm64":
		return &arch{audit: unix.AUDIT_ARCH_AARCH64, names: arm64Names, numbers: arm64Numbers, slots: arm64Slots}
	case "ppc64le":
		return &arch{audit: unix.AUDIT_ARCH_PPC64LE, names: ppc64leNames, numbers: ppc64leNumbers, slots: ppc64leSlots}
	case "riscv64":
		return &arch{audit: unix.AUDIT_ARCH_RISCV64, names: riscv64Names, numbers: riscv64Numbers, slots: riscv64Slots}
	case "s390x":
		return &arch{audit: unix.AUDIT_ARCH_S390X, bigEndian: true, names: s390xNames, numbers: s390xNumbers, slots: s390xSlots}
	}
	return nil
}

// number returns the number of the system call name, and whether the
// architecture has it. It looks the name up in the generated hash table
// (open addressing, linear probing), about one string comparison.
func (a *arch) number(name string) (uint32, bool) {
	mask := uint32(len(a.slots) - 1)
	for h := hash(name) & mask; a.slots[h] != 0; h = (h + 1) & mask {
		if i := a.slots[h] - 1; a.names[i] == name {
			return a.numbers[i], true
		}
	}
	return 0, false
}

// hash is the hash of a system call name the tables are built with
// (32-bit FNV-1a, as gen.go computes it).
func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// Syscall returns the number of the system call name on the architecture
// goarch, and whether that architecture has it (and is one of Arches).
func Syscall(goarch, name string) (uint32, bool) {
	a := archOf(goarch)
	if a == nil {
		return 0, false
	}
	return a.number(name)
}

// AuditArch returns the AUDIT_ARCH_* value the kernel reports in
// seccomp_data.arch for programs of goarch, and whether goarch is one of
// Arches.
func AuditArch(goarch string) (uint32, bool) {
	a := archOf(goarch)
	if a == nil {
		return 0, false
	}
	return a.audit, true
}

// argOffsets returns where the low and the high 32-bit words of argument
// i lie in struct seccomp_data.
func (a *arch) argOffsets(i uint32) (lo, hi uint32) {
	base := 16 + 8*i
	if a.bigEndian {
		return base + 4, base
	}
	return base, base + 4
}
