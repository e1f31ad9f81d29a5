package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
	"github.com/tabula-dev/tabula/runtime"
)

// InitPath is where --init binds tabula's reaper inside the container.
const InitPath = "/sbin/tabula-reaper"

// ReaperName is the argv[0] that makes tabula run as the --init reaper.
const ReaperName = "tabula-reaper"

// Source is what a container's root filesystem is made of: an image, or for
// a debug toolbox a prepared directory with a config of its own.
type Source struct {
	Ref     string // as the user named it
	ID      string // image ID (config digest)
	Config  v1.Config
	Lowers  []string // layer directories, bottom first
	Toolbox bool
	// layers is the shared lock on the unpacked layers (Snapshots.lock)
	// that keeps PruneLayers from removing Lowers before the container's
	// record names them: Create hands it to the record.
	layers *os.File
}

// ImageSource unpacks img's layers and returns them as a Source.
func (c *Containers) ImageSource(ctx context.Context, ref string, img v1.Image) (*Source, error) {
	if err := needRoot("run a container"); err != nil {
		return nil, err // unpacking keeps the layers' owners
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image %s: read its config: %w", ref, err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	snaps := &Snapshots{Root: c.Root}
	lock, err := snaps.lock(ctx, unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	lowers, err := snaps.View(ctx, img)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("image %s: %w", ref, err)
	}
	return &Source{Ref: ref, ID: id.String(), Config: cf.Config, Lowers: lowers, layers: lock}, nil
}

// Joined names the namespaces of a running container a new one shares
// (--pid container:NAME, --ipc container:NAME, debug).
type Joined map[specs.LinuxNamespaceType]int // namespace → PID whose namespace to join

// Create makes a container from src and opts: its directory with the OCI
// spec, the /etc files and the writable layer, and its record in state
// created, which Run stores once the container runs and StartDetached
// before it hands the container over: one state.json write instead of two.
// Until then tabula lists no such container, as when it is killed before
// (Load). Every failure removes what was made, name included.
func (c *Containers) Create(ctx context.Context, src *Source, opts *Options, joined Joined) (_ *Record, retErr error) {
	defer func() {
		if retErr != nil && src.layers != nil {
			src.layers.Close()
			src.layers = nil
		}
	}()
	if err := needRoot("run a container"); err != nil {
		return nil, err
	}
	res, err := opts.parseResources()
	if err != nil {
		return nil, err
	}
	var stopSig string
	if opts.StopSignal != "" {
		if _, err := ParseSignal(opts.StopSignal); err != nil {
			return nil, fmt.Errorf("--stop-signal: %w", err)
		}
		stopSig = opts.StopSignal
	} else if src.Config.StopSignal != "" {
		stopSig = src.Config.StopSignal
	}
	// A foreground run's network namespace is made on another thread while
	// the container is prepared: the kernel takes most of a millisecond.
	var netns *runtime.NetworkNamespace
	if _, join := joined[specs.NetworkNamespace]; !opts.Detach && opts.Network != "host" && !join {
		netns = runtime.NewNetworkNamespace()
		defer func() {
			if retErr != nil {
				netns.Close()
			}
		}()
	}
	id := NewID()
	name := strings.TrimPrefix(opts.Name, "/")
	if name != "" {
		if err := c.reserveName(name, id); err != nil {
			return nil, err
		}
	} else if name, err = c.randomName(id); err != nil {
		return nil, err
	}
	dir := c.Dir(id)
	defer func() {
		if retErr != nil {
			os.RemoveAll(dir)
			c.releaseName(name, id)
		}
	}()
	if !c.takeRecycled(dir) {
		if _, err := os.Lstat(c.dir()); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(c.dir(), 0o711); err != nil {
				return nil, err
			}
			c.spreadContainers()
		}
		if err := os.Mkdir(dir, 0o711); err != nil {
			return nil, err
		}
	}
	spec, rec, err := c.buildSpec(src, opts, joined, id, name, res)
	if err != nil {
		return nil, err
	}
	// Encoding the spec is the dearest part of Create. For a container
	// that another process starts, config.json is written while the rest
	// is made; a foreground run writes it once its program runs
	// (Record.completeSpec), rather than while the runtime makes the
	// container with every processor busy.
	if opts.Detach {
		written := make(chan error, 1)
		go func() { written <- writeSpec(dir, spec) }()
		rec.specWritten = written
	} else {
		rec.specDir = dir
	}
	defer func() {
		if retErr != nil {
			rec.waitSpec() // before the directory goes
		}
	}()
	rec.Config.StopSignal = stopSig
	// The /etc files are written while the rootfs, upper and work
	// directories are made: on ext4 every new inode is dear, and the two
	// overlap.
	etc := make(chan error, 1)
	go func() { etc <- writeEtc(dir, spec, opts.Network == "host") }()
	rootfs, err := c.prepareRootfs(dir, src.Lowers)
	if eerr := <-etc; err == nil {
		err = eerr
	}
	if err != nil {
		return nil, err
	}
	rec.GraphDriver = GraphDriver{Name: "overlay", Data: map[string]string{}}
	for _, o := range rootfs[0].Options {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir":
			rec.GraphDriver.Data["LowerDir"] = v
		case "upperdir":
			rec.GraphDriver.Data["UpperDir"] = v
		case "workdir":
			rec.GraphDriver.Data["WorkDir"] = v
		}
	}
	rec.Monitor, rec.MonitorStart = selfStart()
	rec.spec, rec.netns = spec, netns
	rec.layers, src.layers = src.layers, nil
	return rec, nil
}

// prepareRootfs makes the mount point of the container's root file system
// in dir and its writable layer over lowers.
func (c *Containers) prepareRootfs(dir string, lowers []string) ([]specs.Mount, error) {
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	snaps := &Snapshots{Root: c.Root}
	return snaps.Prepare(dir, lowers)
}

// linuxSpec is a spec as the config.json of tabula's containers holds it.
// The sections for other platforms, which tabula never sets, are
// shadowed: encoding/json then never builds their encoders and decoders,
// a quarter of what encoding a spec costs a fresh process.
type linuxSpec struct {
	*specs.Spec
	Solaris *struct{} `json:"solaris,omitempty"`
	Windows *struct{} `json:"windows,omitempty"`
	VM      *struct{} `json:"vm,omitempty"`
	ZOS     *struct{} `json:"zos,omitempty"`
	FreeBSD *struct{} `json:"freebsd,omitempty"`
}

// writeSpec writes spec as dir/config.json.
func writeSpec(dir string, spec *specs.Spec) error {
	b, err := json.Marshal(linuxSpec{Spec: spec})
	if err != nil {
		return err
	}
	return sysfile.WriteFile(filepath.Join(dir, "config.json"), b, 0o600)
}

// completeSpec writes the config.json Create left to the caller, or waits
// until the one it writes is written, and returns the error writing it, if
// any. Records not made by Create in this process have nothing to write.
func (rec *Record) completeSpec() error {
	if rec.specDir != "" {
		rec.specErr = writeSpec(rec.specDir, rec.spec)
		rec.specDir = ""
	}
	return rec.waitSpec()
}

// waitSpec waits until the config.json that Create writes is written, and
// returns the error writing it, if any: what must happen before the
// container's directory goes.
func (rec *Record) waitSpec() error {
	if rec.specWritten != nil {
		rec.specErr = <-rec.specWritten
		rec.specWritten = nil
	}
	return rec.specErr
}

// rootfs returns the overlay mount of rec's root filesystem, as Create
// recorded it. The writable layer of a container removed when it exits
// is volatile: the overlay never syncs it, unmounting included.
func rootfs(rec *Record) ([]specs.Mount, error) {
	d := rec.GraphDriver.Data
	if rec.GraphDriver.Name != "overlay" || d["LowerDir"] == "" || d["UpperDir"] == "" || d["WorkDir"] == "" {
		return nil, fmt.Errorf("container %s: its state.json names no overlay layers: %w", shortID(rec.ID), errdefs.ErrCorrupt)
	}
	opts := []string{"lowerdir=" + d["LowerDir"], "upperdir=" + d["UpperDir"], "workdir=" + d["WorkDir"]}
	if rec.HostConfig.AutoRemove {
		opts = append(opts, "volatile")
	}
	return []specs.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
}

func (c *Containers) buildSpec(src *Source, opts *Options, joined Joined, id, name string, res resources) (*specs.Spec, *Record, error) {
	cfg := src.Config
	spec := runtime.DefaultSpec()
	rec := &Record{
		ID: id, Name: "/" + name, Created: time.Now().UTC(), Image: src.ID,
		State: State{Status: StatusCreated},
	}

	// The command: Docker's --entrypoint resets the image's CMD too.
	entrypoint, cmd := cfg.Entrypoint, cfg.Cmd
	if opts.Entrypoint != nil {
		entrypoint, cmd = nil, nil
		if *opts.Entrypoint != "" {
			entrypoint = []string{*opts.Entrypoint}
		}
	}
	if len(opts.Cmd) > 0 {
		cmd = opts.Cmd
	}
	args := append(append([]string(nil), entrypoint...), cmd...)
	if len(args) == 0 {
		return nil, nil, invalid("image %s has no ENTRYPOINT or CMD: give a command after the image name", src.Ref)
	}
	rec.Path, rec.Args = args[0], args[1:]
	if len(args) > 2 && args[0] == "/bin/sh" && args[1] == "-c" && !layersHave(src.Lowers, "/bin/sh") {
		return nil, nil, &ExitError{Code: 127, Err: fmt.Errorf(
			"image %s: the command %q is in shell form, but the image has no /bin/sh to run it; write CMD or ENTRYPOINT in exec form ([\"/app\", \"arg\"]) or give the command after the image name",
			src.Ref, strings.Join(args[2:], " "))}
	}
	if opts.Init {
		args = append([]string{InitPath, "--"}, args...)
	}
	spec.Process.Args = args

	// Environment: the image's, PATH when it has none, HOSTNAME, then -e.
	hostname := opts.Hostname
	if hostname == "" {
		hostname = id[:12]
		if opts.Network == "host" {
			hostname, _ = os.Hostname()
		}
	}
	spec.Hostname = hostname
	env := append([]string(nil), cfg.Env...)
	if !hasEnv(env, "PATH") {
		env = append([]string{"PATH=" + runtime.DefaultPath}, env...)
	}
	env = mergeEnv(env, "HOSTNAME="+hostname)
	if opts.Tty {
		env = mergeEnv(env, "TERM=xterm")
	}
	for _, f := range opts.EnvFiles {
		kvs, err := readEnvFile(f)
		if err != nil {
			return nil, nil, err
		}
		env = mergeEnv(env, kvs...)
	}
	for _, e := range opts.Env {
		kv, err := envValue(e)
		if err != nil {
			return nil, nil, invalid("-e: %v", err)
		}
		if kv != "" {
			env = mergeEnv(env, kv)
		}
	}

	userSpec := cfg.User
	if opts.User != "" {
		userSpec = opts.User
	}
	user, home, err := resolveUser(userSpec, layersReader(src.Lowers))
	if err != nil {
		return nil, nil, fmt.Errorf("image %s: %w", src.Ref, err)
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	spec.Process.User = user
	spec.Process.Env = env
	spec.Process.Terminal = opts.Tty
	spec.Process.ConsoleSize = opts.ConsoleSize

	cwd := cfg.WorkingDir
	if opts.Workdir != "" {
		cwd = opts.Workdir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, nil, invalid("-w %q: the working directory must be absolute", cwd)
	}
	spec.Process.Cwd = path.Clean(cwd)
	spec.Root.Readonly = opts.ReadOnly

	// Mounts: the /etc files, then -v and --tmpfs.
	dir := c.Dir(id)
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(dir, f), Options: []string{"rbind", "rprivate"},
		})
	}
	if opts.Init {
		exe, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{
			Destination: InitPath, Type: "bind", Source: exe, Options: []string{"bind", "ro", "nosuid", "nodev"},
		})
	}
	for _, v := range opts.Volumes {
		m, mp, err := parseVolume(v)
		if err != nil {
			return nil, nil, err
		}
		spec.Mounts = append(spec.Mounts, m)
		rec.Mounts = append(rec.Mounts, mp)
	}
	for _, t := range opts.Tmpfs {
		m, mp, err := parseTmpfs(t)
		if err != nil {
			return nil, nil, err
		}
		spec.Mounts = append(spec.Mounts, m)
		rec.Mounts = append(rec.Mounts, mp)
	}

	// Namespaces.
	network := opts.Network
	if network == "" {
		network = "none"
	}
	switch network {
	case "none", "host":
	default:
		return nil, nil, invalid("--network %q: tabula supports none and host so far", network)
	}
	nsJoin := map[specs.LinuxNamespaceType]string{}
	shareHost := map[specs.LinuxNamespaceType]bool{specs.NetworkNamespace: network == "host"}
	for _, m := range []struct {
		flag, val string
		typ       specs.LinuxNamespaceType
	}{{"--pid", opts.Pid, specs.PIDNamespace}, {"--ipc", opts.Ipc, specs.IPCNamespace}} {
		switch {
		case m.val == "" || m.val == "private":
		case m.val == "host":
			shareHost[m.typ] = true
		case strings.HasPrefix(m.val, "container:"):
			pid, ok := joined[m.typ]
			if !ok {
				return nil, nil, invalid("%s %s: the container is not running", m.flag, m.val)
			}
			nsJoin[m.typ] = fmt.Sprintf("/proc/%d/ns/%s", pid, nsFile[m.typ])
		default:
			return nil, nil, invalid("%s %q: want host or container:NAME", m.flag, m.val)
		}
	}
	for typ, pid := range joined {
		nsJoin[typ] = fmt.Sprintf("/proc/%d/ns/%s", pid, nsFile[typ])
	}
	if _, ok := joined[specs.UTSNamespace]; ok {
		spec.Hostname = "" // the joined container's own
	}
	var nss []specs.LinuxNamespace
	for _, ns := range spec.Linux.Namespaces {
		if shareHost[ns.Type] {
			continue
		}
		ns.Path = nsJoin[ns.Type]
		nss = append(nss, ns)
	}
	spec.Linux.Namespaces = nss
	if shareHost[specs.PIDNamespace] {
		// Sharing the host's PID namespace means seeing the host's /proc.
		spec.Linux.MaskedPaths = runtime.DefaultMaskedPaths()
	}

	// Capabilities, seccomp and the rest of the security options.
	caps, err := capabilities(opts)
	if err != nil {
		return nil, nil, err
	}
	spec.Process.Capabilities = &specs.LinuxCapabilities{
		Bounding: caps, Effective: caps, Permitted: caps,
	}
	spec.Linux.Seccomp = runtime.DefaultSeccomp(caps)
	if opts.Privileged {
		spec.Linux.Seccomp = nil
		spec.Linux.MaskedPaths = nil
		spec.Linux.ReadonlyPaths = nil
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i := range spec.Mounts {
			if spec.Mounts[i].Destination == "/sys" || spec.Mounts[i].Destination == "/sys/fs/cgroup" {
				spec.Mounts[i].Options = removeOpt(spec.Mounts[i].Options, "ro")
			}
		}
	}
	for _, so := range opts.SecurityOpt {
		k, v, _ := strings.Cut(so, "=")
		if !strings.Contains(so, "=") {
			k, v, _ = strings.Cut(so, ":")
		}
		switch {
		case k == "no-new-privileges" && (v == "" || v == "true"):
			spec.Process.NoNewPrivileges = true
		case k == "no-new-privileges" && v == "false":
		case k == "seccomp" && v == "unconfined":
			spec.Linux.Seccomp = nil
		case k == "seccomp" && v != "":
			s, err := loadSeccompFile(v)
			if err != nil {
				return nil, nil, err
			}
			spec.Linux.Seccomp = s
		default:
			return nil, nil, invalid("--security-opt %q: tabula knows no-new-privileges, seccomp=unconfined and seccomp=FILE", so)
		}
	}

	// Limits.
	spec.Process.Rlimits = mergeRlimits(spec.Process.Rlimits, res.rlimits)
	r := spec.Linux.Resources
	if res.memory > 0 {
		m := res.memory
		r.Memory = &specs.LinuxMemory{Limit: &m}
		swap := 2 * m // Docker's default: as much swap as memory
		r.Memory.Swap = &swap
	}
	if res.nanoCPUs > 0 {
		period := uint64(100000)
		quota := res.nanoCPUs * int64(period) / 1e9
		r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
	}
	if res.pidsLimit > 0 {
		limit := res.pidsLimit
		r.Pids = &specs.LinuxPids{Limit: &limit}
	}
	spec.Linux.CgroupsPath = "/tabula/" + id

	stopTimeout := 10
	if opts.StopTimeout >= 0 {
		stopTimeout = opts.StopTimeout
	}
	rec.Config = Config{
		Hostname: hostname, User: userSpec, Tty: opts.Tty, OpenStdin: opts.Interactive,
		Env: env, Cmd: cmd, Entrypoint: entrypoint, WorkingDir: spec.Process.Cwd,
		Image: src.Ref, StopTimeout: stopTimeout,
	}
	rec.HostConfig = HostConfig{
		AutoRemove: opts.Remove, ReadonlyRootfs: opts.ReadOnly, Binds: opts.Volumes, Tmpfs: opts.Tmpfs,
		NetworkMode: network, PidMode: opts.Pid, IpcMode: opts.Ipc, CapAdd: opts.CapAdd, CapDrop: opts.CapDrop,
		Privileged: opts.Privileged, SecurityOpt: opts.SecurityOpt, Init: opts.Init, Ulimits: opts.Ulimits,
		Memory: res.memory, NanoCpus: res.nanoCPUs, PidsLimit: res.pidsLimit,
	}
	rec.LogPath = filepath.Join(dir, "container.log")
	return spec, rec, nil
}

// layersHave reports whether name exists in the stacked layers (an
// overlay whiteout hides it), each path resolved inside its layer.
func layersHave(lowers []string, name string) bool {
	for i := len(lowers) - 1; i >= 0; i-- {
		p, err := securejoin.SecureJoin(lowers[i], name)
		if err != nil {
			continue
		}
		if fi, err := os.Lstat(p); err == nil {
			return fi.Mode()&os.ModeCharDevice == 0
		}
	}
	return false
}

var nsFile = map[specs.LinuxNamespaceType]string{
	specs.PIDNamespace: "pid", specs.NetworkNamespace: "net", specs.IPCNamespace: "ipc",
	specs.UTSNamespace: "uts", specs.CgroupNamespace: "cgroup", specs.MountNamespace: "mnt",
}

func removeOpt(opts []string, o string) []string {
	var out []string
	for _, x := range opts {
		if x != o {
			out = append(out, x)
		}
	}
	return out
}

func mergeRlimits(base, over []specs.POSIXRlimit) []specs.POSIXRlimit {
	out := append([]specs.POSIXRlimit(nil), base...)
	for _, o := range over {
		replaced := false
		for i := range out {
			if out[i].Type == o.Type {
				out[i], replaced = o, true
			}
		}
		if !replaced {
			out = append(out, o)
		}
	}
	return out
}

// allCapabilities are the capabilities --privileged grants.
var allCapabilityNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

func normCap(c string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(c))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	for _, k := range allCapabilityNames {
		if k == n {
			return n, nil
		}
	}
	return "", invalid("unknown capability %q: use a name such as NET_ADMIN or SYS_PTRACE", c)
}

// capabilities applies --privileged, --cap-add and --cap-drop to Docker's
// default set.
func capabilities(opts *Options) ([]string, error) {
	if opts.Privileged {
		return append([]string(nil), allCapabilityNames...), nil
	}
	set := map[string]bool{}
	for _, c := range runtime.DefaultCapabilities() {
		set[c] = true
	}
	for _, d := range opts.CapDrop {
		n, err := normCap(d)
		if err != nil {
			return nil, fmt.Errorf("--cap-drop: %w", err)
		}
		if n == "ALL" {
			set = map[string]bool{}
			continue
		}
		delete(set, n)
	}
	for _, a := range opts.CapAdd {
		n, err := normCap(a)
		if err != nil {
			return nil, fmt.Errorf("--cap-add: %w", err)
		}
		if n == "ALL" {
			for _, k := range allCapabilityNames {
				set[k] = true
			}
			continue
		}
		set[n] = true
	}
	var out []string
	for _, k := range allCapabilityNames {
		if set[k] {
			out = append(out, k)
		}
	}
	return out, nil
}

// writeEtc writes the container's /etc/hostname, /etc/hosts and
// /etc/resolv.conf into its directory, bound into the container by the
// spec (the base layer holds the files they are bound on, and the
// /etc/mtab link).
func writeEtc(dir string, spec *specs.Spec, hostNetwork bool) error {
	hosts := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n" +
		"127.0.1.1\t" + spec.Hostname + "\n"
	hostResolv, _ := sysfile.ReadFile("/etc/resolv.conf")
	resolv := containerResolvConf(string(hostResolv))
	if hostNetwork {
		if b, err := sysfile.ReadFile("/etc/hosts"); err == nil {
			hosts = string(b)
		}
		resolv = string(hostResolv)
	}
	files := map[string]string{"hostname": spec.Hostname + "\n", "hosts": hosts, "resolv.conf": resolv}
	for name, content := range files {
		if err := sysfile.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// containerResolvConf is the host's resolv.conf without loopback name
// servers (unreachable from the container's network namespace), with
// Docker's public defaults when none remain.
func containerResolvConf(host string) string {
	var b strings.Builder
	servers := 0
	for _, line := range strings.Split(host, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(strings.SplitN(f[1], "%", 2)[0]); ip != nil && ip.IsLoopback() {
				continue
			}
			servers++
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		b.WriteString(line + "\n")
	}
	if servers == 0 {
		b.WriteString("nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
	}
	return b.String()
}

func (c *Containers) processAlive(ctx context.Context, id string) bool {
	rt := &runtime.Runtime{StateDir: c.StateDir()}
	st, err := rt.State(ctx, id)
	return err == nil && st.Status != specs.StateStopped
}

// Joinable returns the PID whose namespaces another container may join
// (what says who asks: "--pid container:NAME", "debug"), or an error unless
// rec runs.
func Joinable(rec *Record, what string) (int, error) {
	if rec.State.Status != StatusRunning || rec.State.Pid <= 0 {
		return 0, fmt.Errorf("%s: container %s is %s, not running: %w", what, strings.TrimPrefix(rec.Name, "/"), rec.State.Status, errdefs.ErrFailedPrecondition)
	}
	return rec.State.Pid, nil
}

// needRoot fails, saying why, unless tabula runs as root: namespaces,
// mounts and cgroups are root's (tabula has no rootless mode).
func needRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("to %s tabula must run as root (it has no rootless mode): use sudo: %w", what, errdefs.ErrFailedPrecondition)
	}
	return nil
}
