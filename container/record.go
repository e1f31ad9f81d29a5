package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
	"github.com/tabula-dev/tabula/runtime"
)

// Status values of State.Status, as Docker names them.
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusExited  = "exited"
)

// State is a container's life as `tabula inspect` shows it.
type State struct {
	Status     string    `json:"Status"`
	Running    bool      `json:"Running"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	OOMKilled  bool      `json:"OOMKilled"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
}

// Config is the part of the container's configuration that came from the
// image and the command line, in Docker's field names.
type Config struct {
	Hostname    string   `json:"Hostname"`
	User        string   `json:"User"`
	Tty         bool     `json:"Tty"`
	OpenStdin   bool     `json:"OpenStdin"`
	Env         []string `json:"Env"`
	Cmd         []string `json:"Cmd"`
	Entrypoint  []string `json:"Entrypoint"`
	WorkingDir  string   `json:"WorkingDir"`
	Image       string   `json:"Image"`
	StopSignal  string   `json:"StopSignal"`
	StopTimeout int      `json:"StopTimeout"`
}

// HostConfig is how the container is placed on the host.
type HostConfig struct {
	AutoRemove     bool     `json:"AutoRemove"`
	ReadonlyRootfs bool     `json:"ReadonlyRootfs"`
	Binds          []string `json:"Binds"`
	Tmpfs          []string `json:"Tmpfs"`
	NetworkMode    string   `json:"NetworkMode"`
	PidMode        string   `json:"PidMode"`
	IpcMode        string   `json:"IpcMode"`
	CapAdd         []string `json:"CapAdd"`
	CapDrop        []string `json:"CapDrop"`
	Privileged     bool     `json:"Privileged"`
	SecurityOpt    []string `json:"SecurityOpt"`
	Init           bool     `json:"Init"`
	Ulimits        []string `json:"Ulimits"`
	Memory         int64    `json:"Memory"`
	NanoCpus       int64    `json:"NanoCpus"`
	PidsLimit      int64    `json:"PidsLimit"`
}

// MountPoint is one -v or --tmpfs mount, as Docker's inspect lists them.
type MountPoint struct {
	Type        string `json:"Type"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	RW          bool   `json:"RW"`
}

// GraphDriver is the overlay of a container's root filesystem: the image's
// layers (LowerDir, top first, as overlayfs lists them) and its own.
type GraphDriver struct {
	Name string            `json:"Name"`
	Data map[string]string `json:"Data"`
}

// Record is <root>/containers/<id>/state.json: everything tabula knows about
// a container besides its OCI spec (config.json beside it).
type Record struct {
	ID         string       `json:"Id"`
	Name       string       `json:"Name"`
	Created    time.Time    `json:"Created"`
	Path       string       `json:"Path"`
	Args       []string     `json:"Args"`
	State      State        `json:"State"`
	Image      string       `json:"Image"` // the image ID (config digest)
	LogPath    string       `json:"LogPath"`
	Config     Config       `json:"Config"`
	HostConfig HostConfig   `json:"HostConfig"`
	Mounts     []MountPoint `json:"Mounts"`
	// GraphDriver names the container's layers, as Docker's inspect does.
	GraphDriver GraphDriver `json:"GraphDriver"`
	// Monitor is the process that owns the container (tabula run in the
	// foreground, or the monitor of a detached one) and its start time, to
	// tell a dead owner from a recycled PID.
	Monitor      int    `json:"MonitorPid,omitempty"`
	MonitorStart uint64 `json:"MonitorStart,omitempty"`

	// spec is the config.json Create wrote, kept for the runtime of the
	// same process, which then need not read and parse it again.
	spec *specs.Spec
	// specWritten reports the end of Create's writing of config.json,
	// specErr how it ended (see waitSpec); specDir is where it is still
	// to be written (see completeSpec).
	specWritten <-chan error
	specErr     error
	specDir     string
	// netns is the network namespace Create starts making for a
	// foreground run, which Run hands the runtime.
	netns *runtime.NetworkNamespace
	// layers holds the shared lock on the unpacked layers that ImageSource
	// took, until the record is first saved: from then on the record
	// names the container's layers to PruneLayers.
	layers *os.File
}

// Containers are the records under <root>/containers.
type Containers struct {
	Root string // tabula's root directory
}

func (c *Containers) dir() string      { return filepath.Join(c.Root, "containers") }
func (c *Containers) namesDir() string { return filepath.Join(c.Root, "names") }

// Dir is the directory of container id.
func (c *Containers) Dir(id string) string { return filepath.Join(c.dir(), id) }

// StateDir is where package runtime keeps its own per-container state.
func (c *Containers) StateDir() string { return filepath.Join(c.Root, "runtime") }

// NewID returns a random container ID: 64 hex digits.
func NewID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validName reports whether name (with or without Docker's leading '/')
// can name a container: the rules of the runtime's IDs.
func validName(name string) bool { return runtime.ValidID(strings.TrimPrefix(name, "/")) }

// reserveName claims name for id; a name in use is an error and changes
// nothing.
func (c *Containers) reserveName(name, id string) error {
	if !validName(name) {
		return fmt.Errorf("invalid container name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit: %w", name, errdefs.ErrInvalidArgument)
	}
	p := filepath.Join(c.namesDir(), name)
	err := sysfile.Create(p, []byte(id), 0o600)
	if errors.Is(err, os.ErrNotExist) { // the first name of this root
		if err := os.MkdirAll(c.namesDir(), 0o700); err != nil {
			return err
		}
		err = sysfile.Create(p, []byte(id), 0o600)
	}
	if errors.Is(err, os.ErrExist) {
		owner, _ := sysfile.ReadFile(p)
		if _, serr := os.Stat(c.Dir(string(owner))); serr != nil && len(owner) > 0 {
			// The container that held it is gone (a crash between the
			// removal of its directory and of its name): take the name.
			if err := sysfile.WriteFile(p, []byte(id), 0o600); err != nil {
				return err
			}
			return nil
		}
		return fmt.Errorf("the container name %q is already in use by container %s; remove that container (tabula rm %s) or choose another name: %w",
			name, shortID(string(owner)), name, errdefs.ErrAlreadyExists)
	}
	return err
}

func (c *Containers) releaseName(name, id string) {
	p := filepath.Join(c.namesDir(), name)
	if owner, err := sysfile.ReadFile(p); err == nil && string(owner) == id {
		os.Remove(p)
	}
}

// nameOf finds the name reserved for container id, or returns its short ID
// when there is none: a reservation knows its container, not the other way
// round, so every one is read (only for a container whose creation was
// interrupted before its record was written).
func (c *Containers) nameOf(id string) string {
	ents, _ := os.ReadDir(c.namesDir())
	for _, e := range ents {
		if owner, err := sysfile.ReadFile(filepath.Join(c.namesDir(), e.Name())); err == nil && string(owner) == id {
			return e.Name()
		}
	}
	return shortID(id)
}

// randomName picks a free name in Docker's adjective_surname style.
func (c *Containers) randomName(id string) (string, error) {
	for i := 0; i < 20; i++ {
		var b [2]byte
		rand.Read(b[:])
		name := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
		if i > 2 {
			name += strconv.Itoa(i)
		}
		if err := c.reserveName(name, id); err == nil {
			return name, nil
		}
	}
	return "", fmt.Errorf("could not find a free container name; give one with --name")
}

var adjectives = []string{"agile", "bold", "brave", "calm", "clever", "eager", "fair", "gentle", "happy", "keen",
	"kind", "lucid", "merry", "nimble", "proud", "quiet", "sharp", "silent", "steady", "swift", "tidy", "vivid", "wise", "zen"}

var nouns = []string{"babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "kepler", "lovelace", "meitner",
	"newton", "noether", "pascal", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak", "yalow"}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Save writes the record atomically. It never recreates a removed
// container's directory.
func (c *Containers) Save(r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := sysfile.WriteAtomic(c.Dir(r.ID), "state.json", b, 0o600); err != nil {
		return fmt.Errorf("write the state of container %s: %w", shortID(r.ID), err)
	}
	if r.layers != nil {
		r.layers.Close()
		r.layers = nil
	}
	return nil
}

// Load reads the record of container id as stored.
func (c *Containers) Load(id string) (*Record, error) {
	b, err := sysfile.ReadFile(filepath.Join(c.Dir(id), "state.json"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			// A directory without a record older than any creation in
			// progress: tabula was killed while it created the container.
			// Shown, so that rm can remove it.
			if fi, serr := os.Stat(c.Dir(id)); serr == nil && time.Since(fi.ModTime()) > time.Minute {
				return &Record{ID: id, Name: "/" + c.nameOf(id), Created: fi.ModTime(), State: State{
					Status: StatusExited, ExitCode: 255, Error: "its creation was interrupted; remove it with tabula rm",
				}}, nil
			}
			return nil, fmt.Errorf("no such container: %s: %w", id, errdefs.ErrNotFound)
		}
		return nil, err
	}
	r := &Record{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("container %s: %s: %v: %w", shortID(id), filepath.Join(c.Dir(id), "state.json"), err, errdefs.ErrCorrupt)
	}
	return r, nil
}

// isID reports whether s is a container ID: 64 lower-case hex digits.
func isID(s string) bool { return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" }

// removingPrefix names a container directory renamed away for removal
// (removeLater); isID refuses it, so that no listing sees it.
const removingPrefix = ".removing-"

// sweepRemoving removes the container directories that removeLater renamed
// away and whose removal did not finish (the process removing them
// killed, say).
func (c *Containers) sweepRemoving(names []os.DirEntry) {
	for _, e := range names {
		if strings.HasPrefix(e.Name(), removingPrefix) {
			os.RemoveAll(filepath.Join(c.dir(), e.Name()))
		}
	}
}

// ids lists the IDs of every container directory.
func (c *Containers) ids() ([]string, error) {
	ents, err := os.ReadDir(c.dir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c.sweepRemoving(ents)
	var out []string
	for _, e := range ents {
		if e.IsDir() && isID(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Lookup finds a container by name, full ID or unique ID prefix, with its
// status brought up to date.
func (c *Containers) Lookup(ctx context.Context, ref string) (*Record, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, fmt.Errorf("empty container name: %w", errdefs.ErrInvalidArgument)
	}
	if validName(ref) {
		if owner, err := sysfile.ReadFile(filepath.Join(c.namesDir(), ref)); err == nil {
			if r, err := c.Load(string(owner)); err == nil {
				return c.Refresh(ctx, r), nil
			}
		}
	}
	ids, err := c.ids()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch {
	case len(match) == 0:
		return nil, fmt.Errorf("no such container: %s (tabula ps -a lists them): %w", ref, errdefs.ErrNotFound)
	case len(match) > 1:
		return nil, fmt.Errorf("container ID prefix %s is ambiguous (%d containers); give more of it: %w", ref, len(match), errdefs.ErrInvalidArgument)
	}
	r, err := c.Load(match[0])
	if err != nil {
		return nil, err
	}
	return c.Refresh(ctx, r), nil
}

// List returns every container, newest first, statuses up to date.
func (c *Containers) List(ctx context.Context) ([]*Record, error) {
	ids, err := c.ids()
	if err != nil {
		return nil, err
	}
	var out []*Record
	for _, id := range ids {
		r, err := c.Load(id)
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // being created or removed
			}
			return nil, err
		}
		out = append(out, c.Refresh(ctx, r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Refresh checks a record that says created or running against the process
// table: a container whose process died with its owner (a killed monitor, a
// reboot) is shown as exited, never as running.
func (c *Containers) Refresh(ctx context.Context, r *Record) *Record {
	if r.State.Status == StatusExited {
		return r
	}
	if r.State.Pid > 0 && c.processAlive(ctx, r.ID) {
		return r
	}
	if r.State.Status == StatusCreated && r.State.Pid == 0 && (r.Monitor == 0 || alive(r.Monitor, r.MonitorStart)) {
		return r // its owner is still creating it, or it waits for Start (tabula create)
	}
	// The process is gone. A live owner records the exit in a moment.
	for i := 0; i < 20 && alive(r.Monitor, r.MonitorStart); i++ {
		time.Sleep(10 * time.Millisecond)
		if nr, err := c.Load(r.ID); err == nil && nr.State.Status == StatusExited {
			return nr
		}
	}
	r.State.Status = StatusExited
	r.State.Running = false
	r.State.Pid = 0
	r.State.ExitCode = 255
	if r.State.Error == "" {
		r.State.Error = "the container's process ended while no tabula process watched it (its monitor was killed, or the machine restarted)"
	}
	return r
}

// alive reports whether pid runs and started at start (clock ticks since
// boot), so that a recycled PID does not count.
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, zombie, err := processStart(pid)
	return err == nil && !zombie && st == start
}

// processStart reads the state and start time of pid from /proc/<pid>/stat.
func processStart(pid int) (uint64, bool, error) {
	b, err := sysfile.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	line := string(b)
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 20 {
		return 0, false, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	return st, f[0] == "Z" || f[0] == "X", err
}

// selfStart returns this process's PID and start time.
func selfStart() (int, uint64) {
	st, _, _ := processStart(os.Getpid())
	return os.Getpid(), st
}
