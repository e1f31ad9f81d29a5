package container

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
)

// Options are the flags of `tabula run`, as given.
type Options struct {
	Name        string
	Image       string
	Cmd         []string
	Entrypoint  *string // nil: the image's; "" resets it
	Env         []string
	EnvFiles    []string
	User        string
	Workdir     string
	Volumes     []string
	Tmpfs       []string
	ReadOnly    bool
	Hostname    string
	Network     string
	Pid         string
	Ipc         string
	CapAdd      []string
	CapDrop     []string
	Privileged  bool
	SecurityOpt []string
	Init        bool
	Ulimits     []string
	StopSignal  string
	StopTimeout int // seconds; negative: the default (10)
	Memory      string
	CPUs        string
	PidsLimit   int64
	Tty         bool
	Interactive bool
	Detach      bool
	Remove      bool
	// Create makes the container for a later Start (tabula create):
	// Detach too, as a monitor will run it.
	Create bool
	// ConsoleSize is the size of the terminal -t gives, when known.
	ConsoleSize *specs.Box
}

// MinMemory is the smallest --memory Docker accepts.
const MinMemory = 6 << 20

func invalid(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, errdefs.ErrInvalidArgument)...)
}

// isSizeNumber reports whether s is digits with at most one '.' between
// digits: what ParseFloat accepts beyond that (exponents, signs, Inf) is
// no size.
func isSizeNumber(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	digits := func(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
	return digits(whole) && (!dot || digits(frac))
}

// ParseBytes reads a size as Docker writes it: a number with an optional
// b, k, m or g suffix (powers of 1024).
func ParseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if !isSizeNumber(t) || err != nil || f*float64(mult) > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size; write it as 64m, 512k or 1g", s)
	}
	return int64(f * float64(mult)), nil
}

// ParseSignal reads a signal name (TERM, SIGTERM) or number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, invalid("signal %d: want 1 to 64", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, invalid("unknown signal %q: use a name such as SIGTERM or a number", s)
}

// resources are the parsed limits.
type resources struct {
	memory    int64
	nanoCPUs  int64
	pidsLimit int64
	rlimits   []specs.POSIXRlimit
}

func (o *Options) parseResources() (resources, error) {
	var r resources
	if o.Memory != "" {
		m, err := ParseBytes(o.Memory)
		if err != nil {
			return r, invalid("--memory: %v", err)
		}
		if m != 0 && m < MinMemory {
			return r, invalid("--memory %s: the minimum memory limit allowed is 6MB", o.Memory)
		}
		r.memory = m
	}
	if o.CPUs != "" {
		f, err := strconv.ParseFloat(o.CPUs, 64)
		if err != nil || f < 0 || f > 1e6 {
			return r, invalid("--cpus %q: want a number of CPUs such as 0.5 or 2", o.CPUs)
		}
		r.nanoCPUs = int64(f * 1e9)
	}
	if o.PidsLimit < -1 {
		return r, invalid("--pids-limit %d: want a positive number, or -1 for no limit", o.PidsLimit)
	}
	r.pidsLimit = o.PidsLimit
	for _, u := range o.Ulimits {
		rl, err := parseUlimit(u)
		if err != nil {
			return r, err
		}
		r.rlimits = append(r.rlimits, rl)
	}
	return r, nil
}

var rlimitNames = map[string]string{
	"core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
	"locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE",
	"nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC", "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO",
	"rttime": "RLIMIT_RTTIME", "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK", "as": "RLIMIT_AS",
}

// parseUlimit reads NAME=SOFT[:HARD].
func parseUlimit(s string) (specs.POSIXRlimit, error) {
	name, val, ok := strings.Cut(s, "=")
	typ, known := rlimitNames[name]
	if !ok || !known {
		return specs.POSIXRlimit{}, invalid("--ulimit %q: want NAME=SOFT[:HARD] with NAME one of nofile, nproc, core, stack, memlock, …", s)
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	parse := func(v string) (uint64, error) {
		if v == "-1" || v == "unlimited" {
			return math.MaxUint64, nil
		}
		return strconv.ParseUint(v, 10, 64)
	}
	soft, err := parse(softS)
	if err != nil {
		return specs.POSIXRlimit{}, invalid("--ulimit %q: %q is not a number", s, softS)
	}
	hard := soft
	if hasHard {
		if hard, err = parse(hardS); err != nil {
			return specs.POSIXRlimit{}, invalid("--ulimit %q: %q is not a number", s, hardS)
		}
	}
	if soft > hard {
		return specs.POSIXRlimit{}, invalid("--ulimit %q: the soft limit is above the hard limit", s)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// parseVolume reads SRC:DST[:ro|rw] into a bind mount. SRC must be an
// absolute path that exists; named volumes do not exist in tabula.
func parseVolume(v string) (specs.Mount, MountPoint, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return specs.Mount{}, MountPoint{}, invalid("-v %q: want HOST-PATH:CONTAINER-PATH[:ro]", v)
	}
	src, dst := parts[0], parts[1]
	if !filepath.IsAbs(src) {
		return specs.Mount{}, MountPoint{}, invalid("-v %q: the host path %q must be absolute (tabula has no named volumes)", v, src)
	}
	if !path.IsAbs(dst) {
		return specs.Mount{}, MountPoint{}, invalid("-v %q: the container path %q must be absolute", v, dst)
	}
	if _, err := os.Stat(src); err != nil {
		return specs.Mount{}, MountPoint{}, invalid("-v %q: the host path %s does not exist; create it first", v, src)
	}
	opts := []string{"rbind", "rprivate"}
	rw := true
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			rw = false
			opts = append(opts, "ro")
		case "rw":
		default:
			return specs.Mount{}, MountPoint{}, invalid("-v %q: unknown mode %q; use ro or rw", v, parts[2])
		}
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "bind", Source: src, Options: opts},
		MountPoint{Type: "bind", Source: src, Destination: path.Clean(dst), RW: rw}, nil
}

// parseTmpfs reads DST[:OPTIONS].
func parseTmpfs(t string) (specs.Mount, MountPoint, error) {
	dst, optS, _ := strings.Cut(t, ":")
	if !path.IsAbs(dst) {
		return specs.Mount{}, MountPoint{}, invalid("--tmpfs %q: the container path must be absolute", t)
	}
	opts := []string{"nosuid", "nodev", "noexec"}
	if optS != "" {
		opts = append(opts, strings.Split(optS, ",")...)
	}
	return specs.Mount{Destination: path.Clean(dst), Type: "tmpfs", Source: "tmpfs", Options: opts},
		MountPoint{Type: "tmpfs", Destination: path.Clean(dst), RW: true}, nil
}

// readEnvFile reads Docker's env file format: KEY=VALUE lines, KEY alone
// takes the host's value, '#' starts a comment line.
func readEnvFile(name string) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, invalid("--env-file: %v", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kv, err := envValue(line)
		if err != nil {
			return nil, invalid("%s:%d: %v", name, n, err)
		}
		if kv != "" {
			out = append(out, kv)
		}
	}
	return out, nil
}

// envValue turns KEY=VALUE into itself and KEY into KEY=<host value> (or
// nothing when the host does not set it).
func envValue(s string) (string, error) {
	k, _, hasVal := strings.Cut(s, "=")
	if k == "" || strings.ContainsAny(k, " \t") {
		return "", fmt.Errorf("%q is not a KEY=VALUE variable", s)
	}
	if hasVal {
		return s, nil
	}
	if v, ok := os.LookupEnv(k); ok {
		return k + "=" + v, nil
	}
	return "", nil
}

// mergeEnv sets each of over (KEY=VALUE) in base, replacing the same key.
func mergeEnv(base []string, over ...string) []string {
	out := append([]string(nil), base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, e := range out {
			if ek, _, _ := strings.Cut(e, "="); ek == k {
				out[i] = kv
				replaced = true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

func hasEnv(env []string, key string) bool {
	for _, e := range env {
		if k, _, _ := strings.Cut(e, "="); k == key {
			return true
		}
	}
	return false
}

// loadSeccompFile reads a seccomp profile in the OCI form (Docker's profiles
// use the same field names).
func loadSeccompFile(name string) (*specs.LinuxSeccomp, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, invalid("--security-opt seccomp=%s: %v", name, err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, invalid("--security-opt seccomp=%s: not a seccomp profile: %v", name, err)
	}
	if s.DefaultAction == "" {
		return nil, invalid("--security-opt seccomp=%s: the profile has no defaultAction", name)
	}
	return &s, nil
}

// Validate checks every flag that needs neither the image nor other
// containers, so that bad input fails before anything is made.
func (o *Options) Validate() error {
	if _, err := o.parseResources(); err != nil {
		return err
	}
	if o.StopSignal != "" {
		if _, err := ParseSignal(o.StopSignal); err != nil {
			return fmt.Errorf("--stop-signal: %w", err)
		}
	}
	if o.StopTimeout < -1 {
		return invalid("--stop-timeout %d: want seconds, 0 or more", o.StopTimeout)
	}
	for _, v := range o.Volumes {
		if _, _, err := parseVolume(v); err != nil {
			return err
		}
	}
	for _, t := range o.Tmpfs {
		if _, _, err := parseTmpfs(t); err != nil {
			return err
		}
	}
	switch o.Network {
	case "", "none", "host":
	default:
		return invalid("--network %q: tabula supports none and host so far", o.Network)
	}
	if _, err := capabilities(o); err != nil {
		return err
	}
	for _, e := range o.Env {
		if _, err := envValue(e); err != nil {
			return invalid("-e: %v", err)
		}
	}
	for _, so := range o.SecurityOpt {
		k, v, _ := strings.Cut(so, "=")
		switch {
		case k == "no-new-privileges", k == "seccomp" && v == "unconfined":
		case k == "seccomp" && v != "":
			if _, err := loadSeccompFile(v); err != nil {
				return err
			}
		default:
			return invalid("--security-opt %q: tabula knows no-new-privileges, seccomp=unconfined and seccomp=FILE", so)
		}
	}
	if o.Name != "" && !validName(o.Name) {
		return invalid("invalid container name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", o.Name)
	}
	return nil
}
