package cgroupv1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// Hierarchy is one mounted cgroup v1 hierarchy: the controllers mounted
// together on it ("cpu" alone, or "cpu" and "cpuacct" co-mounted) and
// where it is mounted.
type Hierarchy struct {
	// Controllers are the controllers attached to the hierarchy, in the
	// order of its mount options; never empty.
	Controllers []string
	// Mount is the hierarchy's mount point, such as /sys/fs/cgroup/memory.
	Mount string
}

// Dir is the directory of the cgroup path in h. path is absolute and
// clean, like /tabula/<id>, as Create requires.
func (h Hierarchy) Dir(path string) string {
	if path == "/" {
		return h.Mount
	}
	return h.Mount + path
}

// has reports whether controller is attached to h.
func (h Hierarchy) has(controller string) bool {
	for _, c := range h.Controllers {
		if c == controller {
			return true
		}
	}
	return false
}

// Hierarchies finds the host's v1 controller hierarchies in
// /proc/self/mountinfo, in its order. Named hierarchies without
// controllers (name=systemd) are left out, and a hierarchy mounted twice is
// listed once, at its first mount point. A host with cgroup v2 alone has
// none: the result is then empty, without an error.
func Hierarchies() ([]Hierarchy, error) {
	f, err := os.Open("/proc/cgroups")
	if err != nil {
		return nil, fmt.Errorf("find the cgroup v1 controllers: %w", err)
	}
	known, err := parseControllers(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("find the cgroup v1 controllers: /proc/cgroups: %w", err)
	}
	mounts, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		return nil, fmt.Errorf("find the cgroup v1 hierarchies: /proc/self/mountinfo: %w", err)
	}
	return hierarchies(mounts, known), nil
}

// parseControllers reads the controller names the kernel knows from
// /proc/cgroups ("#subsys_name hierarchy num_cgroups enabled" lines).
func parseControllers(r io.Reader) (map[string]bool, error) {
	known := make(map[string]bool)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		name, _, _ := bytes.Cut(line, []byte{'\t'})
		if name = bytes.TrimSpace(name); len(name) > 0 {
			known[string(name)] = true
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(known) == 0 {
		return nil, fmt.Errorf("no controllers listed")
	}
	return known, nil
}

// hierarchies picks the v1 controller hierarchies out of the cgroup
// mounts: a superblock option is a controller when the kernel lists it in
// known; the rest (rw, name=…, xattr, release_agent=…) are not.
func hierarchies(mounts []*mountinfo.Info, known map[string]bool) []Hierarchy {
	var hs []Hierarchy
	seen := make(map[string]bool)
	for _, m := range mounts {
		if m.FSType != "cgroup" {
			continue
		}
		var ctrls []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if known[o] {
				ctrls = append(ctrls, o)
			}
		}
		if len(ctrls) == 0 || seen[ctrls[0]] {
			continue
		}
		for _, c := range ctrls {
			seen[c] = true
		}
		hs = append(hs, Hierarchy{Controllers: ctrls, Mount: m.Mountpoint})
	}
	return hs
}

// Tasks are the tasks files of the cgroup path in each hierarchy, in the
// order of hs. A thread moves itself into the cgroup by writing "0" to
// each of them.
func Tasks(hs []Hierarchy, path string) []string {
	files := make([]string, len(hs))
	for i, h := range hs {
		files[i] = h.Dir(path) + "/tasks"
	}
	return files
}

// ParseCgroupFile reads a /proc/<pid>/cgroup or /proc/<pid>/task/<tid>/cgroup
// file into the cgroup path of each v1 controller ("memory" →
// "/tabula/<id>"). A named hierarchy is keyed by its name option
// ("name=systemd"); the v2 line ("0::/…") is left out.
func ParseCgroupFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := parseCgroup(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// parseCgroup parses the lines "hierarchy-ID:controller-list:cgroup-path"
// of a /proc/<pid>/cgroup file.
func parseCgroup(b []byte) (map[string]string, error) {
	m := make(map[string]string, 12)
	for n := 1; len(b) > 0; n++ {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if len(line) == 0 {
			continue
		}
		_, after, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not hierarchy-ID:controllers:path", n, line)
		}
		ctrls, p, ok := bytes.Cut(after, []byte{':'})
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not hierarchy-ID:controllers:path", n, line)
		}
		if len(ctrls) == 0 {
			continue // the v2 hierarchy
		}
		path := string(p)
		for len(ctrls) > 0 {
			var c []byte
			c, ctrls, _ = bytes.Cut(ctrls, []byte{','})
			if len(c) > 0 {
				m[string(c)] = path
			}
		}
	}
	return m, nil
}
