// Command probe checks, from inside a container, what the kernel lets it
// do; built statically by runtime's tests.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

func main() {
	switch os.Args[1] {
	case "keyctl":
		// KEYCTL_GET_KEYRING_ID (0) of the session keyring (-3), create.
		_, _, e := syscall.RawSyscall(syscall.SYS_KEYCTL, 0, ^uintptr(2), 1)
		fmt.Printf("keyctl: %v\n", errnoText(e))
	case "unshare-user":
		fmt.Printf("unshare: %v\n", errnoText(syscall.Unshare(syscall.CLONE_NEWUSER)))
	case "mount":
		fmt.Printf("mount: %v\n", errnoText(syscall.Mount("none", "/tmp", "tmpfs", 0, "")))
	case "fds":
		dir, err := os.Open("/proc/self/fd")
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		names, _ := dir.Readdirnames(-1)
		self := fmt.Sprint(dir.Fd())
		for _, n := range names {
			if n == self {
				continue
			}
			target, _ := os.Readlink(filepath.Join("/proc/self/fd", n))
			fmt.Printf("fd %s -> %s\n", n, target)
		}
		cwd, err := os.Getwd()
		fmt.Printf("cwd %s %v\n", cwd, err)
	}
}

func errnoText(err error) string {
	if err == nil {
		return "allowed"
	}
	if e, ok := err.(syscall.Errno); ok && e == 0 {
		return "allowed"
	}
	return err.Error()
}
