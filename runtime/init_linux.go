package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/internal/sysfile"
)

// The init is tabula itself, re-executed by Create or Exec, when they cannot
// spawn the process (spawn_linux.go), with envInit set to "create" or
// "exec". Its fds: 0-2 the process's stdio, 3 the pipe that
// carries the initConfig, 4 the socket it reports on (syncMsg).
const (
	envInit  = "_TABULA_RUNTIME_INIT"
	fdConfig = 3
	fdSync   = 4
	// fd 5 is tabula's protected binary; for exec, fd 6 is the
	// container's mount namespace.
	fdMountNS = 6
)

// initConfig is what the init needs from its parent.
type initConfig struct {
	Spec    *initSpec      `json:"spec"`
	Process *specs.Process `json:"process"`
	// Create only:
	Root   string        `json:"root,omitempty"`
	Bundle string        `json:"bundle,omitempty"`
	Rootfs []specs.Mount `json:"rootfs,omitempty"`
	Fifo   string        `json:"fifo,omitempty"`
	// CgroupTasks are the tasks files of the container's cgroup in each
	// v1 hierarchy, which the init's thread writes itself to.
	CgroupTasks []string `json:"cgroupTasks,omitempty"`
	// CgroupMounts are the mount points of the v1 hierarchies the
	// container's cgroup is in, which its /sys/fs/cgroup shows.
	CgroupMounts []string `json:"cgroupMounts,omitempty"`
	NewCgroupNS  bool     `json:"newCgroupNS,omitempty"`
	// Seccomp is the compiled filter of spec.linux.seccomp (which is not
	// sent), or nil.
	Seccomp []byte `json:"seccomp,omitempty"`
}

// initSpec is the part of the OCI spec that the init applies. It is a type
// of its own because encoding/json takes half a millisecond to learn
// specs.Spec and specs.Linux in a freshly started process, more than all
// the rest of the init's configuration.
type initSpec struct {
	Root              *specs.Root         `json:"root,omitempty"`
	Hostname          string              `json:"hostname,omitempty"`
	Domainname        string              `json:"domainname,omitempty"`
	Mounts            []specs.Mount       `json:"mounts,omitempty"`
	Devices           []specs.LinuxDevice `json:"devices,omitempty"`
	Sysctl            map[string]string   `json:"sysctl,omitempty"`
	RootfsPropagation string              `json:"rootfsPropagation,omitempty"`
	MaskedPaths       []string            `json:"maskedPaths,omitempty"`
	ReadonlyPaths     []string            `json:"readonlyPaths,omitempty"`
}

// syncMsg is a report from the init to its parent. A "console" message
// carries the pty master as SCM_RIGHTS.
type syncMsg struct {
	Type    string        `json:"type"` // "console", "created", "error"
	Error   string        `json:"error,omitempty"`
	Program *ProgramError `json:"program,omitempty"`
}

func reexec() bool {
	mode := os.Getenv(envInit)
	if mode != "create" && mode != "exec" {
		return false
	}
	// Namespaces, credentials, capabilities and the seccomp filter are set
	// on this thread, and execve runs from it.
	goruntime.LockOSThread()
	err := runInit(mode)
	msg := syncMsg{Type: "error", Error: err.Error()}
	code := 1
	var pe *ProgramError
	if errors.As(err, &pe) {
		msg.Program = pe
		code = pe.Code
	}
	b, _ := json.Marshal(msg)
	unix.Write(fdSync, b)
	os.Exit(code)
	return true
}

func runInit(mode string) error {
	cfgFile := os.NewFile(fdConfig, "init-config")
	var cfg initConfig
	err := json.NewDecoder(cfgFile).Decode(&cfg)
	cfgFile.Close()
	if err != nil {
		return fmt.Errorf("read the init's configuration: %w", err)
	}
	if cfg.Process == nil || (mode == "create" && cfg.Spec == nil) {
		return errors.New("init configuration without spec or process")
	}
	if mode == "create" {
		return createInit(&cfg)
	}
	return execInit(&cfg)
}

// createInit builds the container around itself and waits for Start.
func createInit(cfg *initConfig) error {
	spec, p := cfg.Spec, cfg.Process
	// Into the container's cgroup before anything else: the thread moves
	// itself, which spares the kernel the process-wide lock that moving
	// another process takes. The program is execve'd from this thread,
	// and the other threads end with the execve.
	for _, f := range cfg.CgroupTasks {
		if err := sysfile.WriteFile(f, []byte("0"), 0); err != nil {
			return fmt.Errorf("enter the container's cgroup: %w", err)
		}
	}
	if cfg.NewCgroupNS {
		// Born in the container's cgroup: it becomes the namespace's root.
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return fmt.Errorf("create cgroup namespace: %w", err)
		}
	}
	fifo, err := unix.Open(cfg.Fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", cfg.Fifo, err)
	}
	if err := prepareRootfs(cfg); err != nil {
		return err
	}
	if err := finishRootfs(spec); err != nil {
		return err
	}
	if err := setNames(spec); err != nil {
		return err
	}
	if p.Terminal {
		if err := setupTerminal(p, true); err != nil {
			return err
		}
	}
	path, err := prepareProcess(p, cfg.Seccomp)
	if err != nil {
		return err
	}
	if err := send(syncMsg{Type: "created"}, -1); err != nil {
		return err
	}
	// Wait for Start: opening the fifo for writing blocks until Start
	// opens it for reading.
	w, err := unix.Open("/proc/self/fd/"+strconv.Itoa(fifo), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("wait for start: %w", err)
	}
	unix.Close(fifo)
	if _, err := unix.Write(w, []byte{'0'}); err != nil {
		return fmt.Errorf("wait for start: %w", err)
	}
	err = execve(path, p)
	// Start reads the reason from the fifo; the parent may be gone.
	b, _ := json.Marshal(syncMsg{Type: "error", Error: err.Error(), Program: asProgramError(err)})
	unix.Write(w, b)
	os.Exit(exitCodeOf(err))
	return nil
}

// execInit runs a process inside a running container whose namespaces the
// parent already joined, but for the mount namespace.
func execInit(cfg *initConfig) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare filesystem attributes: %w", err)
	}
	if err := unix.Setns(fdMountNS, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join the container's mount namespace: %w", err)
	}
	unix.Close(fdMountNS)
	p := cfg.Process
	if p.Terminal {
		if err := setupTerminal(p, false); err != nil {
			return err
		}
	}
	path, err := prepareProcess(p, cfg.Seccomp)
	if err != nil {
		return err
	}
	return execve(path, p)
}

// setNames sets the container's host and domain names.
func setNames(spec *initSpec) error {
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("set hostname %q: %w", spec.Hostname, err)
		}
	}
	if spec.Domainname != "" {
		if err := unix.Setdomainname([]byte(spec.Domainname)); err != nil {
			return fmt.Errorf("set domainname %q: %w", spec.Domainname, err)
		}
	}
	return nil
}

// prepareProcess does everything between a finished rootfs and execve in
// the init: the process's limits, then prepareThread, then only fds 0-2
// left open across execve. It returns the program's path.
func prepareProcess(p *specs.Process, seccompProg []byte) (string, error) {
	if err := setRlimits(0, p); err != nil {
		return "", err
	}
	if err := setOOMScoreAdj(0, p); err != nil {
		return "", err
	}
	uc, err := planUserAndCaps(p)
	if err != nil {
		return "", err
	}
	path, err := prepareThread(p, uc, seccompProg)
	if err != nil {
		return "", err
	}
	// Only fds 0-2 reach the program: everything else is closed by execve.
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return "", fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	return path, nil
}

// setRlimits gives process pid (0: this one) the process's rlimits.
func setRlimits(pid int, p *specs.Process) error {
	for _, rl := range p.Rlimits {
		res, ok := rlimitResources[rl.Type]
		if !ok {
			return fmt.Errorf("process.rlimits: unknown limit %q", rl.Type)
		}
		if err := unix.Prlimit(pid, res, &unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}, nil); err != nil {
			return fmt.Errorf("process.rlimits %s: %w", rl.Type, err)
		}
	}
	return nil
}

// setOOMScoreAdj gives process pid (0: this one) the process's OOM score
// adjustment.
func setOOMScoreAdj(pid int, p *specs.Process) error {
	if p.OOMScoreAdj == nil {
		return nil
	}
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	if err := sysfile.WriteFile("/proc/"+proc+"/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0); err != nil {
		return fmt.Errorf("process.oomScoreAdj: %w", err)
	}
	return nil
}

// prepareThread readies the calling thread, whose filesystem attributes
// are its own, to execve the program: working directory, the program's
// lookup, credentials and capabilities (planned by uc), no-new-privileges
// and seccomp. Each acts on this thread alone. It returns the program's
// path.
func prepareThread(p *specs.Process, uc *userAndCaps, seccompProg []byte) (string, error) {
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if err := unix.Chdir(cwd); err != nil {
		return "", fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	// No directory outside the container may be the working directory
	// (a leaked host directory would be reachable through "..").
	if wd, err := unix.Getwd(); err != nil || !strings.HasPrefix(wd, "/") {
		return "", fmt.Errorf("process.cwd %s is outside the container", cwd)
	}
	path, err := lookProgram(p)
	if err != nil {
		return "", err
	}
	sc := seccompProg
	// Without no-new-privileges an unprivileged thread may not load a
	// filter: load it while still privileged (the profile allows the
	// capset, setuid and execve that follow).
	if sc != nil && !p.NoNewPrivileges {
		if err := loadSeccomp(sc); err != nil {
			return "", err
		}
	}
	if err := uc.apply(); err != nil {
		return "", err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", fmt.Errorf("set no-new-privileges: %w", err)
		}
		if sc != nil {
			if err := loadSeccomp(sc); err != nil {
				return "", err
			}
		}
	}
	return path, nil
}

func execve(path string, p *specs.Process) error {
	setUmask(p)
	err := syscall.Exec(path, p.Args, p.Env)
	return diagnoseExec(path, p.Args[0], err)
}

// setUmask sets the process's umask (0022 unless the spec says) on the
// calling thread's filesystem attributes.
func setUmask(p *specs.Process) {
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
}

// send reports to the parent, with an fd when fd ≥ 0.
func send(m syncMsg, fd int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if err := unix.Sendmsg(fdSync, b, oob, nil, 0); err != nil {
		return fmt.Errorf("report to tabula: %w", err)
	}
	return nil
}

func asProgramError(err error) *ProgramError {
	var pe *ProgramError
	if errors.As(err, &pe) {
		return pe
	}
	return nil
}

func exitCodeOf(err error) int {
	if pe := asProgramError(err); pe != nil {
		return pe.Code
	}
	return 1
}

var rlimitResources = map[string]int{
	"RLIMIT_CPU":        unix.RLIMIT_CPU,
	"RLIMIT_FSIZE":      unix.RLIMIT_FSIZE,
	"RLIMIT_DATA":       unix.RLIMIT_DATA,
	"RLIMIT_STACK":      unix.RLIMIT_STACK,
	"RLIMIT_CORE":       unix.RLIMIT_CORE,
	"RLIMIT_RSS":        unix.RLIMIT_RSS,
	"RLIMIT_NPROC":      unix.RLIMIT_NPROC,
	"RLIMIT_NOFILE":     unix.RLIMIT_NOFILE,
	"RLIMIT_MEMLOCK":    unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS":         unix.RLIMIT_AS,
	"RLIMIT_LOCKS":      unix.RLIMIT_LOCKS,
	"RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE":   unix.RLIMIT_MSGQUEUE,
	"RLIMIT_NICE":       unix.RLIMIT_NICE,
	"RLIMIT_RTPRIO":     unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME":     unix.RLIMIT_RTTIME,
}
