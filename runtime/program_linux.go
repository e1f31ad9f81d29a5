package runtime

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// lookProgram finds the process's program inside the container (after
// pivot_root, so paths and symlinks resolve in the image), searching PATH
// when the name has no slash, and catches the failures a stat can see.
func lookProgram(p *specs.Process) (string, error) {
	if len(p.Args) == 0 || p.Args[0] == "" {
		return "", &ProgramError{Code: 127, Message: "the container has no command: give one, or set ENTRYPOINT or CMD in the image"}
	}
	name := p.Args[0]
	if strings.Contains(name, "/") {
		return name, checkProgram(name)
	}
	pathEnv := DefaultPath
	for _, e := range p.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		cand := filepath.Join(dir, name)
		err := checkProgram(cand)
		if err == nil {
			return cand, nil
		}
		var pe *ProgramError
		if errors.As(err, &pe) && pe.Code == 126 && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", firstErr
	}
	return "", &ProgramError{Path: name, Code: 127,
		Message: fmt.Sprintf("%s: executable file not found in $PATH (%s) in the image", name, pathEnv)}
}

func checkProgram(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		return &ProgramError{Path: path, Code: 127, Message: fmt.Sprintf("%s: no such file or directory in the image", path)}
	case fi.IsDir():
		return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("%s is a directory, not a program", path)}
	case !fi.Mode().IsRegular():
		return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("%s is not a regular file (%s)", path, fi.Mode().Type())}
	case fi.Mode().Perm()&0o111 == 0:
		return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("%s is not executable (mode %04o); chmod +x it in the image (COPY --chmod=755)", path, fi.Mode().Perm())}
	}
	return nil
}

// diagnoseExec explains a failed execve of path: a missing ELF interpreter
// or #! interpreter reads as ENOENT although the program is there.
func diagnoseExec(path, name string, err error) error {
	errno, _ := err.(syscall.Errno)
	switch errno {
	case syscall.ENOENT:
		if interp := elfInterpreter(path); interp != "" {
			if _, serr := os.Stat(interp); serr != nil {
				return &ProgramError{Path: path, Code: 127, Message: fmt.Sprintf(
					"%s is dynamically linked; its interpreter %s is not in the image; build it statically (CGO_ENABLED=0, -static) or run `tabula doctor`",
					path, interp)}
			}
		}
		if interp := shebang(path); interp != "" {
			return &ProgramError{Path: path, Code: 127, Message: fmt.Sprintf(
				"%s is a script whose interpreter %s (its #! line) is not in the image", path, interp)}
		}
		return &ProgramError{Path: path, Code: 127, Message: fmt.Sprintf("%s: no such file or directory in the image", path)}
	case syscall.EACCES, syscall.EPERM:
		return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("%s: permission denied: the container's user may not execute it", path)}
	case syscall.ENOEXEC:
		return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("%s: exec format error: not a program for this machine, nor a script with a #! line", path)}
	}
	return &ProgramError{Path: path, Code: 126, Message: fmt.Sprintf("exec %s: %v", name, err)}
}

// elfInterpreter returns the PT_INTERP of an ELF file, or "".
func elfInterpreter(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			b, err := io.ReadAll(prog.Open())
			if err != nil {
				return ""
			}
			return string(bytes.TrimRight(b, "\x00"))
		}
	}
	return ""
}

// shebang returns the interpreter named on a script's #! line, or "".
func shebang(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	return parseShebang(buf[:n])
}

// parseShebang returns the interpreter of a script's first bytes, or "".
func parseShebang(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return ""
	}
	fields := strings.Fields(string(rest))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}
