package analyze

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/tabula-dev/tabula/errdefs"
)

// Linking says how an executable gets its code at run time.
type Linking string

const (
	// Static executables have no dynamic section: nothing is loaded.
	Static Linking = "static"
	// StaticPIE executables relocate themselves: no loader, no libraries.
	StaticPIE Linking = "static-pie"
	// Dynamic executables need their loader (PT_INTERP) and libraries.
	Dynamic Linking = "dynamic"
)

// Libc names the C library a binary was built against, when it can be told.
type Libc string

const (
	Glibc Libc = "glibc"
	Musl  Libc = "musl"
)

// Binary is what an ELF file says about how it runs.
type Binary struct {
	// Class is "ELF32" or "ELF64".
	Class string `json:"class"`
	// Machine is the ELF machine ("EM_X86_64"); Arch the matching GOARCH
	// name ("amd64"), empty when tabula knows none.
	Machine string `json:"machine"`
	Arch    string `json:"arch,omitempty"`
	// Type is the ELF file type: "EXEC", "DYN" (PIE or shared object), ….
	Type    string  `json:"type"`
	Linking Linking `json:"linking"`
	// Interp is PT_INTERP, the loader's path.
	Interp string `json:"interp,omitempty"`
	// Needed are the DT_NEEDED sonames, in order.
	Needed []string `json:"needed,omitempty"`
	// RPath and RunPath are the DT_RPATH and DT_RUNPATH directories, as
	// written (with $ORIGIN unexpanded).
	RPath   []string `json:"rpath,omitempty"`
	RunPath []string `json:"runpath,omitempty"`
	// SOName is DT_SONAME (shared libraries).
	SOName string `json:"soname,omitempty"`
	// PIE is DF_1_PIE.
	PIE bool `json:"pie,omitempty"`
	// Libc is the C library, when the loader, the needed libraries or
	// the notes tell.
	Libc Libc `json:"libc,omitempty"`
	// Go is set for Go binaries.
	Go *GoInfo `json:"go,omitempty"`
	// Rust is true when the binary carries Rust's standard library.
	Rust bool `json:"rust,omitempty"`
	// Paths are well-known system paths named in the read-only data of a
	// non-Go binary (CA bundles, zoneinfo, passwd), which it may read.
	Paths []string `json:"paths,omitempty"`
}

// ErrNotELF is returned for input that does not start with the ELF magic.
var ErrNotELF = errors.New("not an ELF file")

// machines maps ELF machines to GOARCH names.
var machines = map[elf.Machine]string{
	elf.EM_X86_64:    "amd64",
	elf.EM_386:       "386",
	elf.EM_AARCH64:   "arm64",
	elf.EM_ARM:       "arm",
	elf.EM_RISCV:     "riscv64",
	elf.EM_PPC64:     "ppc64le",
	elf.EM_S390:      "s390x",
	elf.EM_MIPS:      "mips",
	elf.EM_LOONGARCH: "loong64",
}

// HostArch is the architecture tabula runs on, as GOARCH names it.
func HostArch() string { return runtime.GOARCH }

// IsELF reports whether head starts with the ELF magic.
func IsELF(head []byte) bool { return bytes.HasPrefix(head, []byte(elf.ELFMAG)) }

// wellKnownPaths are searched in a non-Go binary's read-only data.
var wellKnownPaths = []string{
	"/etc/ssl/certs", "/etc/pki/tls", "ca-certificates.crt",
	"/usr/share/zoneinfo", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
}

// maxScan bounds how much of one section is read to look for strings.
const maxScan = 64 << 20

// ReadBinary reads the ELF file r of size bytes; name is used in errors.
// Only headers and the sections it needs are read, so a huge file costs
// little. Malformed input is an error wrapping errdefs.ErrInvalidArgument,
// never a panic.
func ReadBinary(r io.ReaderAt, size int64, name string) (b *Binary, err error) {
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("%s: corrupted ELF file (%v): %w", name, p, errdefs.ErrInvalidArgument)
		}
	}()
	var magic [4]byte
	if n, _ := r.ReadAt(magic[:], 0); n < 4 || !IsELF(magic[:]) {
		return nil, fmt.Errorf("%s: %w (no ELF magic; a script or data file?): %w", name, ErrNotELF, errdefs.ErrInvalidArgument)
	}
	f, err := elf.NewFile(io.NewSectionReader(r, 0, size))
	if err != nil {
		return nil, fmt.Errorf("%s: truncated or corrupted ELF file: %v: %w", name, err, errdefs.ErrInvalidArgument)
	}
	b = &Binary{
		Class:   strings.TrimPrefix(f.Class.String(), "ELFCLASS"),
		Machine: f.Machine.String(),
		Arch:    machines[f.Machine],
		Type:    strings.TrimPrefix(f.Type.String(), "ET_"),
	}
	b.Class = "ELF" + b.Class
	if f.Machine == elf.EM_PPC64 && f.ByteOrder.String() == "BigEndian" {
		b.Arch = "ppc64"
	}
	if f.Machine == elf.EM_MIPS && f.ByteOrder.String() == "LittleEndian" {
		b.Arch = "mipsle"
	}
	if len(f.Sections) > 1 {
		named := false
		for _, s := range f.Sections[1:] {
			if s.Name != "" {
				named = true
				break
			}
		}
		if !named {
			return nil, fmt.Errorf("%s: corrupted ELF file: none of its %d sections has a name (the section headers or their string table are damaged): %w", name, len(f.Sections), errdefs.ErrInvalidArgument)
		}
	}
	hasDynamic := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && (p.Off > uint64(size) || p.Filesz > uint64(size)-p.Off) {
			return nil, fmt.Errorf("%s: truncated ELF file: a segment needs bytes %d to %d and the file has %d: %w", name, p.Off, p.Off+p.Filesz, size, errdefs.ErrInvalidArgument)
		}
		switch p.Type {
		case elf.PT_DYNAMIC:
			hasDynamic = true
		case elf.PT_INTERP:
			if p.Filesz > 4096 {
				return nil, fmt.Errorf("%s: corrupted ELF file: PT_INTERP of %d bytes: %w", name, p.Filesz, errdefs.ErrInvalidArgument)
			}
			buf := make([]byte, p.Filesz)
			if _, err := p.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: truncated ELF file: cannot read PT_INTERP: %w", name, errdefs.ErrInvalidArgument)
			}
			b.Interp = string(bytes.TrimRight(buf, "\x00"))
		}
	}
	if hasDynamic {
		if err := readDynamic(f, b); err != nil {
			return nil, fmt.Errorf("%s: corrupted ELF dynamic section: %v: %w", name, err, errdefs.ErrInvalidArgument)
		}
	}
	switch {
	case b.Interp != "":
		// The kernel starts the loader whenever there is a PT_INTERP.
		b.Linking = Dynamic
	case !hasDynamic:
		b.Linking = Static
	case b.Interp == "" && b.PIE:
		b.Linking = StaticPIE
	default:
		b.Linking = Dynamic
	}
	b.Libc = libcOf(f, b)
	gi, err := readGo(r, size, f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b.Go = gi
	if b.Go == nil {
		if err := scanData(f, b); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return b, nil
}

// readDynamic fills the DT_ entries of b.
func readDynamic(f *elf.File, b *Binary) error {
	var err error
	if b.Needed, err = dynStrings(f, elf.DT_NEEDED); err != nil {
		return err
	}
	rpath, err := dynStrings(f, elf.DT_RPATH)
	if err != nil {
		return err
	}
	runpath, err := dynStrings(f, elf.DT_RUNPATH)
	if err != nil {
		return err
	}
	b.RPath, b.RunPath = splitPaths(rpath), splitPaths(runpath)
	if so, err := dynStrings(f, elf.DT_SONAME); err == nil && len(so) > 0 {
		b.SOName = so[0]
	}
	if flags, err := f.DynValue(elf.DT_FLAGS_1); err == nil {
		for _, v := range flags {
			if elf.DynFlag1(v)&elf.DF_1_PIE != 0 {
				b.PIE = true
			}
		}
	}
	return nil
}

// dynStrings is f.DynString with a missing dynamic section read as none.
func dynStrings(f *elf.File, tag elf.DynTag) ([]string, error) {
	s, err := f.DynString(tag)
	if err != nil && f.Section(".dynamic") == nil && f.SectionByType(elf.SHT_DYNAMIC) == nil {
		// Section headers stripped: nothing to read the dynamic strings with.
		return nil, nil
	}
	return s, err
}

func splitPaths(list []string) []string {
	var out []string
	for _, l := range list {
		for _, d := range strings.Split(l, ":") {
			if d != "" {
				out = append(out, d)
			}
		}
	}
	return out
}

// libcOf tells glibc from musl by the loader, the needed libraries and the
// GNU ABI note.
func libcOf(f *elf.File, b *Binary) Libc {
	switch {
	case strings.Contains(b.Interp, "ld-musl"):
		return Musl
	case strings.Contains(b.Interp, "ld-linux"), strings.Contains(b.Interp, "ld64.so"):
		return Glibc
	}
	for _, n := range b.Needed {
		switch {
		case strings.HasPrefix(n, "libc.musl"):
			return Musl
		case n == "libc.so.6":
			return Glibc
		}
	}
	if b.Linking != Dynamic && f.Section(".note.ABI-tag") != nil {
		return Glibc
	}
	return ""
}

// scanData looks through a non-Go binary's read-only data for Rust's
// standard library and well-known paths.
func scanData(f *elf.File, b *Binary) error {
	for _, name := range []string{".rodata", ".rdata"} {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		if s.Size > maxScan {
			continue // too large to be a program's constants; not worth a guess
		}
		data, err := s.Data()
		if err != nil {
			return fmt.Errorf("truncated ELF file: cannot read %s: %w", name, errdefs.ErrInvalidArgument)
		}
		if bytes.Contains(data, []byte("library/std/src/")) || bytes.Contains(data, []byte("/rustc/")) {
			b.Rust = true
		}
		for _, p := range wellKnownPaths {
			if bytes.Contains(data, []byte(p)) {
				b.Paths = append(b.Paths, p)
			}
		}
	}
	return nil
}
