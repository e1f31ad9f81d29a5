// Package seccomp compiles OCI seccomp profiles into the classic-BPF
// programs the kernel's seccomp(2) loads, and runs them the way the kernel
// would, for checks and tests. It owns the system call tables of the
// architectures it targets (generated from golang.org/x/sys); loading a
// filter, its flags and the no_new_privs bit belong to the runtime.
package seccomp

//go:generate go run gen.go
