package analyze

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/gosym"
	"fmt"
	"io"
	"strings"

	"github.com/tabula-dev/tabula/errdefs"
)

// GoInfo is what a Go binary says about its build.
type GoInfo struct {
	// Version is the Go toolchain ("go1.26.0").
	Version string `json:"version"`
	// Main is the main module path ("example.com/app"), or the command's
	// package path for `go build file.go`.
	Main string `json:"main,omitempty"`
	// CGO is CGO_ENABLED=1 in the build settings.
	CGO bool `json:"cgo"`
	// Tags are the build tags (-tags).
	Tags []string `json:"tags,omitempty"`
	// Deps are the dependency modules as path@version, followed by
	// " => path[@version]" when replaced.
	Deps []string `json:"deps,omitempty"`
	// Features are the standard library features linked in; nil when the
	// function table could not be read.
	Features *GoFeatures `json:"features,omitempty"`
}

// GoFeatures are the standard library features a Go binary links in that
// need files a scratch image lacks.
type GoFeatures struct {
	// TLSRoots: crypto/x509 loads the system's CA certificates.
	TLSRoots bool `json:"tlsRoots"`
	// LoadLocation: time.LoadLocation reads zoneinfo files.
	LoadLocation bool `json:"loadLocation"`
	// TZData: the time/tzdata database is embedded (import or -tags timetzdata).
	TZData bool `json:"tzdata"`
	// OSUser: os/user looks users up; OSUserCgo when through the C library.
	OSUser    bool `json:"osUser"`
	OSUserCgo bool `json:"osUserCgo"`
	// CgoDNS: the cgo DNS resolver (getaddrinfo) is linked in.
	CgoDNS bool `json:"cgoDNS"`
}

// HasTag reports whether the binary was built with the tag.
func (g *GoInfo) HasTag(tag string) bool {
	for _, t := range g.Tags {
		if t == tag {
			return true
		}
	}
	return false
}

// maxPclntab bounds the function table read into memory.
const maxPclntab = 256 << 20

// readGo returns the Go build info of the ELF file f (read from r), or nil
// for a binary that is not Go.
func readGo(r io.ReaderAt, size int64, f *elf.File) (*GoInfo, error) {
	if f.Section(".go.buildinfo") == nil && f.Section(".gopclntab") == nil && f.Section(".note.go.buildid") == nil {
		return nil, nil
	}
	bi, err := buildinfo.Read(io.NewSectionReader(r, 0, size))
	if err != nil {
		// A Go binary without readable build info (very old, or damaged):
		// still read its function table.
		bi = nil
	}
	g := &GoInfo{}
	if bi != nil {
		g.Version = bi.GoVersion
		g.Main = bi.Main.Path
		if g.Main == "" {
			g.Main = bi.Path
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "CGO_ENABLED":
				g.CGO = s.Value == "1"
			case "-tags":
				for _, t := range strings.Split(s.Value, ",") {
					if t = strings.TrimSpace(t); t != "" {
						g.Tags = append(g.Tags, t)
					}
				}
			}
		}
		for _, d := range bi.Deps {
			dep := d.Path + "@" + d.Version
			if r := d.Replace; r != nil {
				dep += " => " + r.Path
				if r.Version != "" && r.Version != "(devel)" {
					dep += "@" + r.Version
				}
			}
			g.Deps = append(g.Deps, dep)
		}
	}
	feats, err := goFeatures(f)
	if err != nil {
		return nil, err
	}
	g.Features = feats
	if g.Features != nil && g.HasTag("timetzdata") {
		g.Features.TZData = true
	}
	return g, nil
}

// goFeatures reads the function table (.gopclntab, present in stripped
// binaries too) and tells which features are linked in.
func goFeatures(f *elf.File) (*GoFeatures, error) {
	s := f.Section(".gopclntab")
	if s == nil {
		s = f.Section(".data.rel.ro.gopclntab")
	}
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Size > maxPclntab {
		return nil, fmt.Errorf("Go function table of %d bytes is too large to read: %w", s.Size, errdefs.ErrInvalidArgument)
	}
	data, err := s.Data()
	if err != nil {
		return nil, fmt.Errorf("truncated ELF file: cannot read the Go function table: %w", errdefs.ErrInvalidArgument)
	}
	var textStart uint64
	if t := f.Section(".text"); t != nil {
		textStart = t.Addr
	}
	names, ok := funcNames(data, textStart)
	has := func(name string) bool {
		if ok {
			_, found := names[name]
			return found
		}
		// The table did not parse: fall back to its string data, where
		// every function name is NUL-terminated.
		return bytes.Contains(data, []byte("\x00"+name+"\x00"))
	}
	hasPrefix := func(prefix string) bool {
		if ok {
			for n := range names {
				if strings.HasPrefix(n, prefix) {
					return true
				}
			}
			return false
		}
		return bytes.Contains(data, []byte("\x00"+prefix))
	}
	return &GoFeatures{
		TLSRoots:     has("crypto/x509.loadSystemRoots"),
		LoadLocation: has("time.LoadLocation"),
		TZData:       has("time/tzdata.loadFromEmbeddedTZData") || has("time/tzdata.init.0"),
		OSUser:       hasPrefix("os/user.lookup") || hasPrefix("os/user.Lookup") || has("os/user.Current"),
		OSUserCgo:    hasPrefix("os/user._C"),
		CgoDNS:       hasPrefix("net._C2func_getaddrinfo") || hasPrefix("net._C_getaddrinfo"),
	}, nil
}

// funcNames parses the function table with debug/gosym; ok is false when
// it does not parse.
func funcNames(data []byte, textStart uint64) (names map[string]struct{}, ok bool) {
	defer func() {
		if recover() != nil {
			names, ok = nil, false
		}
	}()
	if !plausiblePclntab(data) {
		return nil, false
	}
	// Cap the capacity: debug/gosym reslices its tables by counts read
	// from the header, which must not reach past the data.
	data = data[:len(data):len(data)]
	t, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
	if err != nil || len(t.Funcs) == 0 {
		return nil, false
	}
	names = make(map[string]struct{}, len(t.Funcs))
	for i := range t.Funcs {
		names[t.Funcs[i].Name] = struct{}{}
	}
	return names, true
}

// plausiblePclntab checks the function table's header before debug/gosym
// sizes its allocations by the function count written there.
func plausiblePclntab(data []byte) bool {
	if len(data) < 16 {
		return false
	}
	var le, be uint32
	le = uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
	be = uint32(data[3]) | uint32(data[2])<<8 | uint32(data[1])<<16 | uint32(data[0])<<24
	magic := le
	little := true
	switch {
	case isPclnMagic(le):
	case isPclnMagic(be):
		magic, little = be, false
	default:
		return false
	}
	ptr := int(data[7])
	if ptr != 4 && ptr != 8 || data[4] != 0 || data[5] != 0 {
		return false
	}
	if q := data[6]; q != 1 && q != 2 && q != 4 {
		return false
	}
	if len(data) < 8+2*ptr {
		return false
	}
	var n uint64
	for i := 0; i < ptr; i++ {
		b := uint64(data[8+i])
		if little {
			n |= b << (8 * i)
		} else {
			n = n<<8 | b
		}
	}
	field := uint64(ptr)
	if magic == 0xfffffff0 || magic == 0xfffffff1 {
		field = 4 // Go 1.18 and later: 32-bit function table entries
	}
	return n < uint64(len(data)) && (2*n+1)*field <= uint64(len(data))
}

func isPclnMagic(m uint32) bool {
	switch m {
	case 0xfffffffb, 0xfffffffa, 0xfffffff0, 0xfffffff1: // Go 1.2, 1.16, 1.18, 1.20
		return true
	}
	return false
}
