package runtime

import (
	goruntime "runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Linux values the profile needs, spelled out so that the profile (a plain
// value) builds on every platform.
const (
	linuxEPERM          = 1
	linuxENOSYS         = 38
	linuxAFALG          = 38
	linuxAFVSOCK        = 40
	linuxCloneNamespace = 0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000 // NEWNS|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP
)

// DefaultSeccomp returns Docker's default seccomp profile for a container
// holding the capabilities caps ("CAP_SYS_ADMIN", …): an allow list whose
// default action is EPERM. Namespace creation (clone with CLONE_NEW* flags,
// unshare, setns), mount, keyctl, bpf, ptrace of other processes and the
// other kernel-wide operations stay denied unless the matching capability is
// granted, as Docker does. Syscall names unknown on the running architecture
// are skipped when the filter is compiled.
func DefaultSeccomp(caps []string) *specs.LinuxSeccomp {
	has := func(c string) bool { return slices.Contains(caps, c) }
	allow := func(names ...string) specs.LinuxSyscall {
		return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
	}
	eperm := uint(linuxEPERM)
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &eperm,
		Syscalls:        []specs.LinuxSyscall{allow(seccompAllowed()...)},
	}
	add := func(rules ...specs.LinuxSyscall) { s.Syscalls = append(s.Syscalls, rules...) }

	// ptrace of one's own children is fine on kernels ≥ 4.8 (the only ones
	// tabula supports), where seccomp is re-checked after a tracer acts.
	add(allow("process_vm_readv", "process_vm_writev", "ptrace"))
	// socket for every address family but AF_ALG (38) and AF_VSOCK (40).
	for _, a := range []specs.LinuxSeccompArg{
		{Index: 0, Value: linuxAFALG, Op: specs.OpLessThan},
		{Index: 0, Value: linuxAFALG + 1, Op: specs.OpEqualTo},
		{Index: 0, Value: linuxAFVSOCK, Op: specs.OpGreaterThan},
	} {
		add(specs.LinuxSyscall{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{a}})
	}
	// personality: only the harmless personas.
	for _, p := range []uint64{0x0, 0x0008, 0x20000, 0x20008, 0xffffffff} {
		add(specs.LinuxSyscall{Names: []string{"personality"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: p, Op: specs.OpEqualTo}}})
	}
	switch goruntime.GOARCH {
	case "amd64":
		add(allow("arch_prctl", "modify_ldt"))
	case "386":
		add(allow("modify_ldt"))
	case "arm64", "arm":
		add(allow("arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"))
	case "ppc64le":
		add(allow("sync_file_range2", "swapcontext"))
	case "s390x":
		add(allow("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"))
	case "riscv64":
		add(allow("riscv_flush_icache"))
	}
	if has("CAP_DAC_READ_SEARCH") {
		add(allow("open_by_handle_at"))
	}
	if has("CAP_SYS_ADMIN") {
		add(allow("bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
			"lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
			"mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
			"setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare"))
	} else {
		// clone without any CLONE_NEW* flag; clone3 hides its flags in
		// memory seccomp cannot read, so it answers ENOSYS and libc falls
		// back to clone.
		nsFlags := uint64(linuxCloneNamespace)
		arg := uint(0)
		if goruntime.GOARCH == "s390x" {
			arg = 1
		}
		add(specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActAllow,
			Args: []specs.LinuxSeccompArg{{Index: arg, Value: nsFlags, ValueTwo: 0, Op: specs.OpMaskedEqual}}})
		enosys := uint(linuxENOSYS)
		add(specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	}
	for _, c := range []struct {
		cap   string
		names []string
	}{
		{"CAP_SYS_BOOT", []string{"reboot"}},
		{"CAP_SYS_CHROOT", []string{"chroot"}},
		{"CAP_SYS_MODULE", []string{"delete_module", "init_module", "finit_module"}},
		{"CAP_SYS_PACCT", []string{"acct"}},
		{"CAP_SYS_PTRACE", []string{"kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"}},
		{"CAP_SYS_RAWIO", []string{"iopl", "ioperm"}},
		{"CAP_SYS_TIME", []string{"settimeofday", "stime", "clock_settime", "clock_settime64"}},
		{"CAP_SYS_TTY_CONFIG", []string{"vhangup"}},
		{"CAP_SYS_NICE", []string{"get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"}},
		{"CAP_SYSLOG", []string{"syslog"}},
		{"CAP_BPF", []string{"bpf"}},
		{"CAP_PERFMON", []string{"perf_event_open"}},
	} {
		if has(c.cap) {
			add(allow(c.names...))
		}
	}
	return s
}

// seccompAllowed are the syscalls every container may make (Docker's
// default allow list, all architectures together).
func seccompAllowed() []string {
	return []string{
		"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
		"capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
		"clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
		"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
		"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
		"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
		"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
		"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
		"fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
		"fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
		"ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
		"futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
		"geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
		"getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
		"getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage", "getsid",
		"getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32",
		"getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
		"inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
		"io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
		"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32",
		"lgetxattr", "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr",
		"_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise",
		"map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat",
		"mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr",
		"mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend",
		"mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd",
		"msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
		"_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe",
		"pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
		"pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64",
		"pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
		"recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
		"removexattrat", "rename", "renameat", "renameat2", "restart_syscall", "riscv_hwprobe", "rmdir",
		"rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn",
		"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo",
		"sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
		"sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval",
		"sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr", "sched_setparam",
		"sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget", "semop",
		"semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg", "sendmsg",
		"sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups",
		"setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
		"setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
		"set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
		"setuid32", "setxattr", "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown",
		"sigaltstack", "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair",
		"splice", "stat", "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat",
		"sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
		"timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
		"timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
		"timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname",
		"unlink", "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
		"vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
	}
}
