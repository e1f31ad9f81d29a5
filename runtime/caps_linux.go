package runtime

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// parseCaps maps "CAP_NET_RAW" (or "net_raw") names to capabilities.
func parseCaps(names []string) ([]capability.Cap, error) {
	known := knownCaps()
	out := make([]capability.Cap, 0, len(names))
	for _, n := range names {
		key := strings.ToUpper(n)
		if !strings.HasPrefix(key, "CAP_") {
			key = "CAP_" + key
		}
		c, ok := known[key]
		if !ok {
			return nil, fmt.Errorf("unknown capability %q", n)
		}
		out = append(out, c)
	}
	return out, nil
}

// knownCaps maps every capability's name (CAP_CHOWN) to it.
var knownCaps = sync.OnceValue(func() map[string]capability.Cap {
	known := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		known["CAP_"+strings.ToUpper(c.String())] = c
	}
	return known
})

// permittedCaps returns the capabilities this process may use: only
// those can be granted.
func permittedCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[1].Permitted)<<32 | uint64(data[0].Permitted), nil
}

// userAndCaps is what the process's user and capabilities become, worked
// out before the seccomp filter loads: reading the capabilities tabula holds
// and the kernel's last capability opens files under /proc, which a user's
// profile may deny.
type userAndCaps struct {
	user    specs.User
	caps    capability.Capabilities
	ambient []capability.Cap
}

func planUserAndCaps(p *specs.Process) (*userAndCaps, error) {
	var pc specs.LinuxCapabilities
	if p.Capabilities != nil {
		pc = *p.Capabilities
	}
	if _, err := capability.LastCap(); err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	caps, err := capability.NewPid2(0)
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	// Capabilities tabula itself lacks cannot be granted: a privileged
	// container gets all that tabula has, as Docker's do.
	held, err := permittedCaps()
	if err != nil {
		return nil, fmt.Errorf("capabilities: %w", err)
	}
	caps.Clear(capability.CAPS | capability.BOUNDS | capability.AMBS)
	for _, set := range []struct {
		which capability.CapType
		names []string
	}{
		{capability.BOUNDING, pc.Bounding},
		{capability.EFFECTIVE, pc.Effective},
		{capability.PERMITTED, pc.Permitted},
		{capability.INHERITABLE, pc.Inheritable},
		{capability.AMBIENT, pc.Ambient},
	} {
		cs, err := parseCaps(set.names)
		if err != nil {
			return nil, fmt.Errorf("process.capabilities: %w", err)
		}
		for _, c := range cs {
			if set.which == capability.BOUNDING || held&(1<<uint(c)) != 0 {
				caps.Set(set.which, c)
			}
		}
	}
	ambient, _ := parseCaps(pc.Ambient)
	return &userAndCaps{user: p.User, caps: caps, ambient: ambient}, nil
}

// apply switches the calling thread to the user and capability sets: the
// bounding set is cut first (while CAP_SETPCAP is still held), then the ids
// change with the capabilities kept, then the effective, permitted,
// inheritable and ambient sets are set. Everything acts on the calling
// thread only; the caller execve's from it.
func (u *userAndCaps) apply() error {
	if err := u.caps.Apply(capability.BOUNDS); err != nil {
		return fmt.Errorf("drop capabilities from the bounding set: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("keep capabilities across setuid: %w", err)
	}
	if err := setUser(u.user); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keep-capabilities: %w", err)
	}
	if err := u.caps.Apply(capability.CAPS); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	// An ambient capability must also be permitted and inheritable; specs
	// (runc's own example among them) often list ambient capabilities
	// without inheritable ones: those are skipped, as runc does.
	if err := capability.ResetAmbient(); err != nil && len(u.ambient) > 0 {
		return fmt.Errorf("reset ambient capabilities: %w", err)
	}
	for _, c := range u.ambient {
		if err := capability.SetAmbient(true, c); err != nil && !errors.Is(err, unix.EPERM) {
			return fmt.Errorf("raise ambient capability %s: %w", c, err)
		}
	}
	return nil
}

// setUser sets the supplementary groups, gid and uid of the calling thread
// (raw system calls: Go's wrappers change every thread, and only this one
// execve's).
func setUser(u specs.User) error {
	gids := make([]uint32, 0, len(u.AdditionalGids))
	gids = append(gids, u.AdditionalGids...)
	var ptr uintptr
	if len(gids) > 0 {
		ptr = uintptr(unsafe.Pointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), ptr, 0); e != 0 {
		return fmt.Errorf("set additional groups %v: %w", u.AdditionalGids, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("set gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("set uid %d: %w", u.UID, e)
	}
	return nil
}
