package container

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fileReader reads a file of the container's filesystem by its absolute path
// inside it; a missing file is an fs.ErrNotExist error.
type fileReader func(name string) ([]byte, error)

// layersReader reads files from stacked layer directories (bottom first),
// the top layer's copy winning; every path is resolved inside its layer.
func layersReader(lowers []string) fileReader {
	return func(name string) ([]byte, error) {
		for i := len(lowers) - 1; i >= 0; i-- {
			p, err := securejoin.SecureJoin(lowers[i], name)
			if err != nil {
				return nil, err
			}
			fi, err := os.Lstat(p)
			if err != nil {
				continue
			}
			if fi.Mode()&fs.ModeCharDevice != 0 {
				return nil, fs.ErrNotExist // an overlay whiteout
			}
			if !fi.Mode().IsRegular() {
				continue
			}
			return os.ReadFile(p)
		}
		return nil, fs.ErrNotExist
	}
}

// rootReader reads files below a live root (/proc/<pid>/root).
func rootReader(root string) fileReader {
	return func(name string) ([]byte, error) {
		p, err := securejoin.SecureJoin(root, name)
		if err != nil {
			return nil, err
		}
		return os.ReadFile(p)
	}
}

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func parsePasswd(b []byte) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		e := passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	}
	return out
}

func parseGroup(b []byte) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		e := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			e.members = strings.Split(f[3], ",")
		}
		out = append(out, e)
	}
	return out
}

// resolveUser turns USER[:GROUP] (names or numbers, as Docker takes them)
// into the container's user, reading the image's /etc/passwd and /etc/group
// through read. It also returns the user's home directory ("/" when
// unknown).
func resolveUser(spec string, read fileReader) (specs.User, string, error) {
	userS, groupS, hasGroup := strings.Cut(spec, ":")
	var u specs.User
	home := "/"
	readDB := func(name string) ([]byte, bool, error) {
		b, err := read(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return b, err == nil, err
	}
	passwdB, hasPasswd, err := readDB("/etc/passwd")
	if err != nil {
		return u, "", fmt.Errorf("read the image's /etc/passwd: %w", err)
	}
	users := parsePasswd(passwdB)
	var pw *passwdEntry
	if userS == "" {
		userS = "0"
	}
	if n, err := strconv.ParseUint(userS, 10, 32); err == nil {
		u.UID = uint32(n)
		for i := range users {
			if users[i].uid == u.UID {
				pw = &users[i]
				break
			}
		}
	} else {
		if !hasPasswd {
			return u, "", invalid("user %q: the image has no /etc/passwd to look the name up in; use a numeric user such as -u 65532:65532, or add an /etc/passwd to the image", userS)
		}
		for i := range users {
			if users[i].name == userS {
				pw = &users[i]
				break
			}
		}
		if pw == nil {
			return u, "", invalid("user %q: no such user in the image's /etc/passwd; use a numeric user or add it", userS)
		}
		u.UID = pw.uid
	}
	if pw != nil {
		u.GID = pw.gid
		if pw.home != "" {
			home = pw.home
		}
	}
	groupB, hasGroupFile, err := readDB("/etc/group")
	if err != nil {
		return u, "", fmt.Errorf("read the image's /etc/group: %w", err)
	}
	groups := parseGroup(groupB)
	if hasGroup {
		if n, err := strconv.ParseUint(groupS, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			if !hasGroupFile {
				return u, "", invalid("group %q: the image has no /etc/group to look the name up in; use a numeric group", groupS)
			}
			found := false
			for _, g := range groups {
				if g.name == groupS {
					u.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return u, "", invalid("group %q: no such group in the image's /etc/group", groupS)
			}
		}
	}
	if pw != nil {
		for _, g := range groups {
			for _, m := range g.members {
				if m == pw.name && g.gid != u.GID {
					u.AdditionalGids = append(u.AdditionalGids, g.gid)
				}
			}
		}
	}
	return u, home, nil
}
