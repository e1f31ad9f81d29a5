package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/internal/sysfile"
)

const (
	stateFile = "state.json"
	fifoName  = "exec.fifo"
	// heldName marks a held program (spawn) that Start has not continued
	// yet. Start removes it rather than rewrite state.json: on ext4, a
	// file renamed over another is written back at once, and its removal
	// with the container then waits for the disk.
	heldName = "held"
)

// removingPrefix names a state directory renamed away for removal (see
// Reclaim); ValidID refuses it, so that no listing sees it.
const removingPrefix = ".removing-"

// sweepRemoving removes the state directories that Reclaim renamed away and
// whose removal did not finish (a state file left by a crash, the process
// removing them killed).
func sweepRemoving(stateDir string, names []os.DirEntry) {
	for _, e := range names {
		if strings.HasPrefix(e.Name(), removingPrefix) {
			os.RemoveAll(filepath.Join(stateDir, e.Name()))
		}
	}
}

// state is what StateDir/<id>/state.json records about a container.
type state struct {
	ID     string `json:"id"`
	Pid    int    `json:"pid"`
	Bundle string `json:"bundle"`
	// StartTime is field 22 of /proc/<pid>/stat when the container was
	// created: a PID reused by another process has another start time.
	StartTime uint64 `json:"startTime"`
	// Cgroup is the container's cgroup path below each hierarchy's root.
	Cgroup      string            `json:"cgroup,omitempty"`
	Created     string            `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`

	// Status is the status at create, for other tools reading the file;
	// State works the status out from the process table and the held
	// mark or exec fifo instead.
	Status specs.ContainerState `json:"status"`
	// Held says that the process is the program itself, stopped after its
	// execve until Start continues it (spawn; heldName marks it until
	// then), rather than an init waiting on the exec fifo.
	Held bool `json:"held,omitempty"`

	status specs.ContainerState // computed when loaded
	dir    string
}

// ValidID reports whether id is 1 to 128 letters, digits, '_', '.' or
// '-', starting with a letter or digit (so it is a safe directory name).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i, c := range []byte(id) {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

func (r *Runtime) containerDir(id string) (string, error) {
	if !ValidID(id) {
		return "", fmt.Errorf("container ID %q: use 1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit: %w", id, errdefs.ErrInvalidArgument)
	}
	if r.StateDir == "" {
		return "", fmt.Errorf("runtime has no StateDir: %w", errdefs.ErrInvalidArgument)
	}
	return filepath.Join(r.StateDir, id), nil
}

// save writes state.json atomically: a temporary file renamed over it.
func (s *state) save() error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := sysfile.WriteAtomic(s.dir, stateFile, b, 0o600); err != nil {
		return fmt.Errorf("write state of container %s: %w", s.ID, err)
	}
	return nil
}

// loadState reads the state of container id and works out its status from
// the live process table.
func (r *Runtime) loadState(id string) (*state, error) {
	dir, err := r.containerDir(id)
	if err != nil {
		return nil, err
	}
	b, err := sysfile.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %s: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("read state of container %s: %w", id, err)
	}
	s := &state{dir: dir}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("read state of container %s: %s: %v: %w", id, filepath.Join(dir, stateFile), err, errdefs.ErrCorrupt)
	}
	s.status = specs.StateStopped
	if procState, ok := s.live(); ok {
		s.status = specs.StateRunning
		mark := fifoName
		if s.Held {
			mark = heldName
		}
		if _, err := os.Lstat(filepath.Join(dir, mark)); err == nil && (!s.Held || procState == 'T') {
			s.status = specs.StateCreated
		}
	}
	return s, nil
}

// alive reports whether the container's process still runs: its PID exists,
// is not a zombie, and has the start time recorded at create.
func (s *state) alive() bool {
	_, ok := s.live()
	return ok
}

// live is alive, with the state letter of the process (R, S, T, …).
func (s *state) live() (byte, bool) {
	if s.Pid <= 0 {
		return 0, false
	}
	st, procState, err := processStat(s.Pid)
	return procState, err == nil && procState != 'Z' && procState != 'X' && st == s.StartTime
}

func (s *state) oci() *specs.State {
	o := &specs.State{
		Version:     specs.Version,
		ID:          s.ID,
		Status:      s.status,
		Bundle:      s.Bundle,
		Annotations: s.Annotations,
	}
	if s.status != specs.StateStopped {
		o.Pid = s.Pid
	}
	return o
}

func (r *Runtime) list(ctx context.Context) ([]*specs.State, error) {
	ents, err := os.ReadDir(r.StateDir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list containers in %s: %w", r.StateDir, err)
	}
	sweepRemoving(r.StateDir, ents)
	var out []*specs.State
	for _, e := range ents {
		if !e.IsDir() || !ValidID(e.Name()) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := r.loadState(e.Name())
		if err != nil {
			if errdefs.IsNotFound(err) {
				continue // being created or deleted right now
			}
			return nil, err
		}
		out = append(out, s.oci())
	}
	return out, nil
}

// processStat returns the start time (in clock ticks since boot) of
// process pid from /proc/<pid>/stat, and its state letter (Z: a zombie).
func processStat(pid int) (uint64, byte, error) {
	b, err := sysfile.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStat(string(b))
}

// parseStat reads the state (field 3) and start time (field 22) of a
// /proc/<pid>/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from its last ')'.
func parseStat(line string) (uint64, byte, error) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc stat line %q", line)
	}
	f := strings.Fields(line[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc stat line %q", line)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed start time in /proc stat line %q", line)
	}
	return st, f[0][0], nil
}
