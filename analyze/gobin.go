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
	// Deps are the dependency modules as path@version.
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
			if d.Replace != nil {
				d = d.Replace
			}
			g.Deps = append(g.Deps, d.Path+"@"+d.Version)
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
