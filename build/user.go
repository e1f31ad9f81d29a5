package build

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tabula-dev/tabula/errdefs"
)

// owner resolves a --chown value (user, user:group, uid, uid:gid) against
// the stage's /etc/passwd and /etc/group. As Docker does, a user given
// without a group gets the gid equal to its uid.
func owner(t *tree, spec string) (uid, gid int, err error) {
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" {
		return 0, 0, fmt.Errorf("--chown=%s: no user given: %w", spec, errdefs.ErrInvalidArgument)
	}
	if uid, err = lookupID(t, "/etc/passwd", user); err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
	}
	gid = uid
	if hasGroup {
		if gid, err = lookupID(t, "/etc/group", group); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: %w", spec, err)
		}
	}
	return uid, gid, nil
}

// lookupID returns name as a number, or the id of name in file (passwd or
// group format: name:x:id:...).
func lookupID(t *tree, file, name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative id %d: %w", n, errdefs.ErrInvalidArgument)
		}
		return n, nil
	}
	kind := "user"
	if strings.HasSuffix(file, "group") {
		kind = "group"
	}
	data, err := t.readFile(file, 16<<20)
	if err != nil {
		return 0, fmt.Errorf("%s %q cannot be looked up: the stage has no %s; use a numeric id: %w", kind, name, file, errdefs.ErrInvalidArgument)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			if err != nil {
				return 0, fmt.Errorf("%s: bad id for %s %q: %w", file, kind, name, errdefs.ErrInvalidArgument)
			}
			return id, nil
		}
	}
	return 0, fmt.Errorf("no %s %q in the stage's %s: %w", kind, name, file, errdefs.ErrInvalidArgument)
}

// userIDs resolves a USER value for creating WORKDIR; names that the
// stage cannot resolve leave root.
func userIDs(t *tree, user string) (int, int) {
	if user == "" {
		return 0, 0
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := lookupID(t, "/etc/passwd", u)
	if err != nil {
		return 0, 0
	}
	gid := uid
	if !hasGroup {
		if data, err := t.readFile("/etc/passwd", 16<<20); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Split(line, ":")
				if len(f) >= 4 && (f[0] == u || f[2] == u) {
					if n, err := strconv.Atoi(f[3]); err == nil {
						gid = n
					}
				}
			}
		}
	} else if n, err := lookupID(t, "/etc/group", g); err == nil {
		gid = n
	}
	return uid, gid
}
