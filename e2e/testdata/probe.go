// probe is the test program of the container tests: each subcommand reports
// one fact about the container it runs in.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Println("probe: uid | env | pwd | cat FILE | write FILE | ls DIR | exit N | count FILE | trap | alloc MB | spawn N | sleep")
		return
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "uid":
		fmt.Printf("%d:%d\n", os.Getuid(), os.Getgid())
	case "env":
		for _, e := range os.Environ() {
			fmt.Println(e)
		}
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
	case "cat":
		b, err := os.ReadFile(args[0])
		check(err)
		os.Stdout.Write(b)
	case "readlink":
		l, err := os.Readlink(args[0])
		check(err)
		fmt.Println(l)
	case "mount":
		check(syscall.Mount("tmpfs", "/", "tmpfs", 0, ""))
		fmt.Println("mounted")
	case "unshare-user":
		check(syscall.Unshare(syscall.CLONE_NEWUSER))
		fmt.Println("unshared")
	case "keyctl":
		// KEYCTL_GET_KEYRING_ID of the session keyring.
		_, _, errno := syscall.Syscall(syscall.SYS_KEYCTL, 0, ^uintptr(2), 0)
		if errno != 0 {
			check(errno)
		}
		fmt.Println("keyctl allowed")
	case "fds":
		// Raw system calls: os.ReadDir would open Go's poller fds first.
		fd, err := syscall.Open("/proc/self/fd", syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
		check(err)
		buf := make([]byte, 4096)
		n, err := syscall.ReadDirent(fd, buf)
		check(err)
		_, _, names := syscall.ParseDirent(buf[:n], -1, nil)
		if len(args) > 0 {
			for _, n := range names {
				l, _ := os.Readlink("/proc/self/fd/" + n)
				fmt.Println(n, l)
			}
			return
		}
		fmt.Println(strings.Join(names, " "))
	case "pids":
		ents, err := os.ReadDir("/proc")
		check(err)
		var pids []string
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil {
				pids = append(pids, e.Name())
			}
		}
		fmt.Println(strings.Join(pids, " "))
	case "write":
		check(os.WriteFile(args[0], []byte("written\n"), 0o644))
		fmt.Println("ok")
	case "ls":
		ents, err := os.ReadDir(args[0])
		check(err)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		fmt.Println(strings.Join(names, " "))
	case "cpu-max":
		// The CPU quota and period of the container's cgroup, v2 or v1.
		if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
			os.Stdout.Write(b)
			return
		}
		quota, err := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
		check(err)
		period, err := os.ReadFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
		check(err)
		fmt.Println(strings.TrimSpace(string(quota)), strings.TrimSpace(string(period)))
	case "print":
		// print OUT ERR: OUT on stdout, then ERR on stderr, then a line
		// left unended on stdout.
		fmt.Println(args[0])
		fmt.Fprintln(os.Stderr, args[1])
		fmt.Print("unended")
	case "exit":
		n, _ := strconv.Atoi(args[0])
		os.Exit(n)
	case "count":
		// count FILE: the number in FILE (0 when missing) plus one, written
		// back, printed and the exit code: which run of the container this is.
		b, _ := os.ReadFile(args[0])
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		n++
		check(os.WriteFile(args[0], []byte(strconv.Itoa(n)), 0o644))
		fmt.Printf("run %d\n", n)
		os.Exit(n)
	case "trap":
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		fmt.Println("ready")
		s := <-c
		fmt.Printf("got %v\n", s)
		os.Exit(42)
	case "alloc":
		mb, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for i := 0; i < mb; i++ {
			b := make([]byte, 1<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
		}
		fmt.Printf("allocated %d MB\n", len(keep))
	case "spawn":
		n, _ := strconv.Atoi(args[0])
		started := 0
		for i := 0; i < n; i++ {
			cmd := exec.Command("/proc/self/exe", "sleep")
			if err := cmd.Start(); err != nil {
				break
			}
			started++
		}
		fmt.Printf("started %d\n", started)
	case "sleep":
		time.Sleep(time.Hour)
	case "log":
		for i := 0; ; i++ {
			fmt.Printf("line %d\n", i)
			fmt.Fprintf(os.Stderr, "err %d\n", i)
			time.Sleep(50 * time.Millisecond)
		}
	default:
		fmt.Fprintf(os.Stderr, "probe: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}
