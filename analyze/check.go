package analyze

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Severity ranks a finding.
type Severity string

const (
	// Error: the container will not start.
	Error Severity = "error"
	// Warning: the program fails when it uses the feature.
	Warning Severity = "warning"
	// Info: worth knowing, nothing fails.
	Info Severity = "info"
)

// Finding is one problem the doctor found, with its fix.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check names the kind of problem ("missing-library", "ca-certificates", …).
	Check string `json:"check"`
	// Path is the file concerned, when there is one.
	Path string `json:"path,omitempty"`
	// Message says what is wrong and why, in one sentence.
	Message string `json:"message"`
	// Dockerfile are the lines that fix it in a Dockerfile.
	Dockerfile []string `json:"dockerfile,omitempty"`
	// Pack is the `tabula pack` flag that fixes it.
	Pack string `json:"pack,omitempty"`
}

// BinaryReport is one ELF executable of the image and what its loader finds.
type BinaryReport struct {
	Path       string      `json:"path"`
	Binary     *Binary     `json:"binary"`
	Resolution *Resolution `json:"resolution,omitempty"`
}

// Report is the doctor's verdict on one image or file.
type Report struct {
	// Name is the image reference or file checked.
	Name string `json:"name"`
	// Command is the entrypoint and cmd the container runs.
	Command  []string       `json:"command,omitempty"`
	User     string         `json:"user,omitempty"`
	Binaries []BinaryReport `json:"binaries,omitempty"`
	Findings []Finding      `json:"findings"`
}

// Count returns how many findings have severity s.
func (r Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// AtLeast returns how many findings are as severe as s or more: for
// `tabula build --check error|warning`, the build fails when it is not 0.
func (r Report) AtLeast(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity.AtLeast(s) {
			n++
		}
	}
	return n
}

// AtLeast reports whether s is as severe as min or more.
func (s Severity) AtLeast(min Severity) bool { return rank(s) <= rank(min) }

// Options shape a check.
type Options struct {
	// HostArch is the architecture the image will run on (GOARCH name);
	// empty means the machine tabula runs on.
	HostArch string
}

// CheckImage flattens img and checks it; name labels the report.
func CheckImage(ctx context.Context, name string, img v1.Image, opts Options) (Report, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return Report{}, fmt.Errorf("image %s: read its config: %w", name, err)
	}
	tree, err := OpenImage(ctx, img, "")
	if err != nil {
		return Report{}, fmt.Errorf("image %s: %w", name, err)
	}
	defer tree.Close()
	return Check(ctx, name, cfg, tree.Tree, opts)
}

// defaultPath is the PATH a container gets when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Go's search lists on Linux (crypto/x509 root_linux.go, time zoneinfo_unix.go).
var (
	certFiles = []string{
		"/etc/ssl/certs/ca-certificates.crt",
		"/etc/pki/tls/certs/ca-bundle.crt",
		"/etc/ssl/ca-bundle.pem",
		"/etc/pki/tls/cacert.pem",
		"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
		"/etc/ssl/cert.pem",
	}
	certDirs     = []string{"/etc/ssl/certs", "/etc/pki/tls/certs"}
	zoneinfoDirs = []string{"/usr/share/zoneinfo", "/usr/share/lib/zoneinfo", "/usr/lib/locale/TZ", "/etc/zoneinfo"}
)

// checker holds one check's state.
type checker struct {
	ctx    context.Context
	name   string
	cfg    *v1.ConfigFile
	fsys   *Tree
	env    map[string]string
	host   string
	loader *Loader
	r      Report
	// Binaries needing files, for the image-wide checks.
	tls, zone, userCgo, userGo, dns, nonGoCerts []string
	// Problems of programs other than the entrypoint, grouped so that one
	// missing library is one finding however many programs need it.
	groups     map[string]*findingGroup
	groupOrder []string
}

type findingGroup struct {
	f     Finding
	progs []string
}

// addFor adds f for the program p; for a program other than the
// entrypoint, findings with the same key are merged.
func (c *checker) addFor(p string, isEntry bool, key string, f Finding) {
	if isEntry {
		c.add(f)
		return
	}
	if c.groups == nil {
		c.groups = map[string]*findingGroup{}
	}
	g, ok := c.groups[key]
	if !ok {
		g = &findingGroup{f: f}
		c.groups[key] = g
		c.groupOrder = append(c.groupOrder, key)
	}
	g.progs = append(g.progs, p)
}

// flushGroups adds the merged findings of programs.
func (c *checker) flushGroups() {
	for _, k := range c.groupOrder {
		g := c.groups[k]
		f := g.f
		if n := len(g.progs) - 1; n > 0 {
			f.Message += fmt.Sprintf("; %d other programs have the same problem: %s", n, list(g.progs[1:]))
		}
		c.add(f)
	}
}

func (c *checker) add(f Finding) { c.r.Findings = append(c.r.Findings, f) }

// Check checks the tree of an image (or of a file packed alone) against its
// config: the command, every ELF executable, and the files the programs'
// features need.
func Check(ctx context.Context, name string, cfg *v1.ConfigFile, tree *Tree, opts Options) (Report, error) {
	c := &checker{ctx: ctx, name: name, cfg: cfg, fsys: tree, env: map[string]string{}, host: opts.HostArch}
	if c.host == "" {
		c.host = HostArch()
	}
	for _, kv := range cfg.Config.Env {
		k, v, _ := strings.Cut(kv, "=")
		c.env[k] = v
	}
	c.loader = NewLoader(tree, cfg.Config.Env)
	c.r.Name = name
	c.r.Command = append(append([]string{}, cfg.Config.Entrypoint...), cfg.Config.Cmd...)
	c.r.User = cfg.Config.User
	entry := c.checkCommand()
	if err := c.checkExecutables(entry); err != nil {
		return c.r, err
	}
	c.checkFeatures()
	c.checkUser()
	sort.SliceStable(c.r.Findings, func(i, j int) bool {
		return rank(c.r.Findings[i].Severity) < rank(c.r.Findings[j].Severity)
	})
	if c.r.Findings == nil {
		c.r.Findings = []Finding{}
	}
	return c.r, nil
}

func rank(s Severity) int {
	switch s {
	case Error:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// lookPath finds the command's program as the runtime would: a name with a
// slash relative to the working directory, else along PATH.
func (c *checker) lookPath(prog string) (string, bool) {
	if strings.Contains(prog, "/") {
		if !strings.HasPrefix(prog, "/") {
			wd := c.cfg.Config.WorkingDir
			if wd == "" {
				wd = "/"
			}
			prog = path.Join(wd, prog)
		}
		_, err := fs.Stat(c.fsys, rel(prog))
		return prog, err == nil
	}
	p, ok := c.env["PATH"]
	if !ok {
		p = defaultPath
	}
	for _, d := range strings.Split(p, ":") {
		if d == "" || !strings.HasPrefix(d, "/") {
			continue
		}
		cand := path.Join(d, prog)
		if fi, err := fs.Stat(c.fsys, rel(cand)); err == nil && fi.Mode().IsRegular() {
			return cand, true
		}
	}
	return prog, false
}

// checkCommand checks the entrypoint and cmd; it returns the program's path
// when it is an ELF file to check further.
func (c *checker) checkCommand() string {
	argv := c.r.Command
	if len(argv) == 0 {
		c.add(Finding{Severity: Error, Check: "no-command",
			Message:    "the image has neither ENTRYPOINT nor CMD, so there is nothing to run",
			Dockerfile: []string{`ENTRYPOINT ["/usr/local/bin/app"]`},
			Pack:       "--entrypoint /usr/local/bin/app"})
		return ""
	}
	prog := argv[0]
	if (prog == "/bin/sh" || prog == "sh") && len(argv) >= 3 && argv[1] == "-c" {
		if _, ok := c.lookPath(prog); !ok {
			exec, _ := json.Marshal(strings.Fields(argv[2]))
			c.add(Finding{Severity: Error, Check: "shell-form", Path: "/bin/sh",
				Message:    fmt.Sprintf("the command %q is in shell form, which runs it with /bin/sh -c, and the image has no /bin/sh", argv[2]),
				Dockerfile: []string{"CMD " + string(exec)},
				Pack:       "--entrypoint " + firstField(argv[2])})
			return ""
		}
	}
	p, ok := c.lookPath(prog)
	if !ok {
		c.add(Finding{Severity: Error, Check: "entrypoint-missing", Path: p,
			Message:    fmt.Sprintf("the command's program %s is not in the image, so the container cannot start", prog),
			Dockerfile: []string{fmt.Sprintf("COPY %s %s", path.Base(prog), absProg(prog))},
			Pack:       fmt.Sprintf("tabula pack %s --entrypoint %s", path.Base(prog), absProg(prog))})
		return ""
	}
	fi, err := fs.Stat(c.fsys, rel(p))
	if err != nil {
		c.add(Finding{Severity: Error, Check: "entrypoint-missing", Path: p,
			Message:    fmt.Sprintf("the command's program %s cannot be resolved in the image: %v", p, err),
			Dockerfile: []string{fmt.Sprintf("COPY %s %s   # the program itself, not a link that leads nowhere", path.Base(p), p)},
			Pack:       fmt.Sprintf("--add %s:%s", path.Base(p), p)})
		return ""
	}
	if fi.IsDir() {
		c.add(Finding{Severity: Error, Check: "entrypoint-not-executable", Path: p,
			Message:    fmt.Sprintf("the command's program %s is a directory, so exec fails with permission denied", p),
			Dockerfile: []string{fmt.Sprintf(`ENTRYPOINT ["%s"]   # the program in it`, path.Join(p, "PROGRAM"))},
			Pack:       "--entrypoint " + path.Join(p, "PROGRAM")})
		return ""
	}
	if fi.Mode().Perm()&0o111 == 0 {
		c.add(Finding{Severity: Error, Check: "entrypoint-not-executable", Path: p,
			Message:    fmt.Sprintf("the command's program %s has mode %v, with no execute permission, so exec fails with permission denied", p, fi.Mode().Perm()),
			Dockerfile: []string{fmt.Sprintf("COPY --chmod=755 %s %s", path.Base(p), p)},
			Pack:       "--add " + path.Base(p) + ":" + p + " (after chmod +x)"})
	} else if uid, gid, ok := c.userIDs(); ok && uid != 0 && !c.canExec(p, fi.Mode().Perm(), uid, gid) {
		c.add(Finding{Severity: Error, Check: "entrypoint-not-executable", Path: p,
			Message:    fmt.Sprintf("the command's program %s has mode %v and USER %s (uid %d) is neither its owner nor in its group with execute permission, so exec fails with permission denied", p, fi.Mode().Perm(), c.cfg.Config.User, uid),
			Dockerfile: []string{fmt.Sprintf("COPY --chmod=755 %s %s", path.Base(p), p)},
			Pack:       "tabula pack (installs binaries with mode 0755)"})
	}
	head := c.head(p)
	switch {
	case strings.HasPrefix(string(head), "#!"):
		interp := strings.Fields(strings.TrimPrefix(firstLine(head), "#!"))
		if len(interp) == 0 {
			c.add(Finding{Severity: Error, Check: "entrypoint-not-executable", Path: p,
				Message:    fmt.Sprintf("%s is a script whose #! line names no interpreter, so exec fails with exec format error", p),
				Dockerfile: []string{fmt.Sprintf("COPY --chmod=755 %s %s   # its first line naming the interpreter, such as #!/bin/sh", path.Base(p), p)},
				Pack:       fmt.Sprintf("--add %s:%s (its first line naming the interpreter)", path.Base(p), p)})
			return ""
		}
		if _, err := fs.Stat(c.fsys, rel(interp[0])); err != nil {
			c.add(Finding{Severity: Error, Check: "missing-interpreter", Path: p,
				Message:    fmt.Sprintf("%s is a script for %s, which is not in the image", p, interp[0]),
				Dockerfile: []string{fmt.Sprintf("COPY --from=builder %s %s", interp[0], interp[0])},
				Pack:       fmt.Sprintf("--add %s:%s", interp[0], interp[0])})
			return ""
		}
		if IsELF(c.head(interp[0])) {
			return interp[0] // the interpreter is what must start
		}
		return ""
	case IsELF(head):
		return p
	default:
		c.add(Finding{Severity: Error, Check: "entrypoint-not-executable", Path: p,
			Message:    fmt.Sprintf("%s is neither an ELF executable nor a #! script, so exec fails with exec format error", p),
			Dockerfile: []string{fmt.Sprintf("COPY --from=builder /out/PROGRAM %s   # the compiled program", p)},
			Pack:       "tabula pack PROGRAM --entrypoint " + p})
		return ""
	}
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return s
}

func absProg(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/usr/local/bin/" + path.Base(p)
}

func firstLine(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// head returns up to 256 bytes of the file at p.
func (c *checker) head(p string) []byte {
	f, err := c.fsys.Open(rel(p))
	if err != nil {
		return nil
	}
	defer f.Close()
	buf := make([]byte, 256)
	n, _ := io.ReadFull(f, buf)
	return buf[:n]
}

// checkExecutables reads every ELF executable (not the shared libraries,
// which the loader checks through the programs that need them).
func (c *checker) checkExecutables(entry string) error {
	var paths []string
	if entry != "" {
		paths = append(paths, entry)
	}
	err := c.fsys.Walk(func(p string, fi fs.FileInfo) error {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 || p == entry || fi.Size() < 64 {
			return nil
		}
		if IsELF(c.head4(p)) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range paths {
		isEntry := p == entry
		b := c.loader.binary(p)
		if b == nil {
			_, err := ReadBinaryAt(c.fsys, p)
			sev := Warning
			if isEntry {
				sev = Error
			}
			c.add(Finding{Severity: sev, Check: "bad-elf", Path: p, Message: fmt.Sprintf("%v", err),
				Dockerfile: []string{fmt.Sprintf("COPY --from=builder /out/%s %s   # an intact copy of the program", path.Base(p), p)},
				Pack:       fmt.Sprintf("--add %s:%s (an intact copy)", path.Base(p), p)})
			continue
		}
		if !isEntry && b.SOName != "" && b.Interp == "" {
			continue // a shared library
		}
		if b.Type != "EXEC" && b.Type != "DYN" {
			if isEntry {
				c.add(Finding{Severity: Error, Check: "bad-elf", Path: p,
					Message:    fmt.Sprintf("%s is an ELF %s file, not an executable, so exec fails with exec format error", p, b.Type),
					Dockerfile: []string{fmt.Sprintf("RUN cc -static -o %s …   # link it into a program", path.Base(p))},
					Pack:       fmt.Sprintf("tabula pack %s (the linked program)", path.Base(p))})
			}
			continue
		}
		br := BinaryReport{Path: p, Binary: b}
		c.checkBinary(p, b, isEntry, &br)
		c.r.Binaries = append(c.r.Binaries, br)
	}
	c.flushGroups()
	return nil
}

func (c *checker) head4(p string) []byte {
	f, err := c.fsys.Open(rel(p))
	if err != nil {
		return nil
	}
	defer f.Close()
	var b [4]byte
	if ra, ok := f.(io.ReaderAt); ok {
		n, _ := ra.ReadAt(b[:], 0)
		return b[:n]
	}
	n, _ := io.ReadFull(f, b[:])
	return b[:n]
}

func (c *checker) checkBinary(p string, b *Binary, isEntry bool, br *BinaryReport) {
	sev := Warning
	who := "the program " + p
	if isEntry {
		sev = Error
		who = "the entrypoint " + p
	}
	if b.Arch != c.host {
		arch := b.Arch
		if arch == "" {
			arch = b.Machine
		}
		c.addFor(p, isEntry, "arch\x00"+b.Machine, Finding{Severity: sev, Check: "arch", Path: p,
			Message:    fmt.Sprintf("%s is built for %s and this machine is %s, so exec fails with exec format error", who, arch, c.host),
			Dockerfile: []string{fmt.Sprintf("RUN GOARCH=%s go build …   # or build for %s", c.host, c.host)},
			Pack:       "(rebuild the binary for " + c.host + ")"})
	} else if isEntry && c.cfg.Architecture != "" && c.cfg.Architecture != b.Arch {
		c.add(Finding{Severity: Warning, Check: "arch", Path: p,
			Message: fmt.Sprintf("the image says its architecture is %s but %s is built for %s, so registries and runtimes choosing by platform will pick it wrongly", c.cfg.Architecture, p, b.Arch)})
	}
	if b.Go != nil {
		if f := b.Go.Features; f != nil {
			if f.TLSRoots {
				c.tls = append(c.tls, p)
			}
			if f.LoadLocation && !f.TZData {
				c.zone = append(c.zone, p)
			}
			if f.OSUserCgo {
				c.userCgo = append(c.userCgo, p)
			} else if f.OSUser {
				c.userGo = append(c.userGo, p)
			}
			if f.CgoDNS {
				c.dns = append(c.dns, p)
			}
		}
	} else {
		for _, q := range b.Paths {
			if q == "/etc/ssl/certs" || q == "ca-certificates.crt" || q == "/etc/pki/tls" {
				c.nonGoCerts = append(c.nonGoCerts, p)
				break
			}
		}
	}
	if b.Linking != Dynamic {
		return
	}
	res := c.loader.Resolve(p, b)
	br.Resolution = &res
	fix := "RUN CGO_ENABLED=0 go build …   # or gcc -static: a static binary needs no loader"
	if b.Go == nil {
		fix = "RUN cc -static …   # a static binary needs no loader or libraries"
	}
	if res.InterpMissing {
		msg := fmt.Sprintf("%s is dynamically linked and its loader %s is not in the image, so exec fails with \"no such file or directory\"", who, res.Interp)
		if res.InterpProblem != "" {
			msg = fmt.Sprintf("%s is dynamically linked and its loader %s is unusable: %s", who, res.Interp, res.InterpProblem)
		}
		c.addFor(p, isEntry, "missing-loader\x00"+res.Interp, Finding{Severity: sev, Check: "missing-loader", Path: p, Message: msg,
			Dockerfile: []string{fmt.Sprintf("COPY --from=builder %s %s", res.Interp, res.Interp), fix},
			Pack:       "--bundle-libs"})
	}
	for _, m := range res.Missing {
		by := ""
		if m.By != p {
			by = " (through " + m.By + ")"
		}
		msg := fmt.Sprintf("%s needs the library %s%s, which the loader does not find in %s", who, m.Name, by, strings.Join(m.Searched, ", "))
		if m.Hint != "" {
			msg += "; " + m.Hint
		}
		dir := "/usr/lib"
		if d := defaultDirs(b, b.Libc); len(d) > 0 {
			dir = d[0]
		}
		c.addFor(p, isEntry, "missing-library\x00"+m.Name, Finding{Severity: sev, Check: "missing-library", Path: p, Message: msg,
			Dockerfile: []string{fmt.Sprintf("COPY --from=builder %s/%s %s/", dir, m.Name, dir), fix},
			Pack:       "--bundle-libs"})
	}
}

// exists reports whether p resolves to something of the wanted kind.
func (c *checker) exists(p string, dir bool) bool {
	fi, err := fs.Stat(c.fsys, rel(p))
	if err != nil {
		return false
	}
	if dir {
		return fi.IsDir()
	}
	return fi.Mode().IsRegular() && fi.Size() > 0
}

// hasCerts reports whether Go would find CA certificates, and why not.
func (c *checker) hasCerts() (bool, string) {
	if f, ok := c.env["SSL_CERT_FILE"]; ok && f != "" {
		if c.exists(f, false) {
			return true, ""
		}
		return false, fmt.Sprintf("SSL_CERT_FILE=%s is set but that file is not in the image", f)
	}
	for _, f := range certFiles {
		if c.exists(f, false) {
			return true, ""
		}
	}
	dirs := certDirs
	if d, ok := c.env["SSL_CERT_DIR"]; ok && d != "" {
		dirs = strings.Split(d, ":")
	}
	for _, d := range dirs {
		if es, err := fs.ReadDir(c.fsys, rel(d)); err == nil && len(es) > 0 {
			return true, ""
		}
	}
	return false, "the image has no CA bundle (" + certFiles[0] + " or the other places Go and the C TLS libraries look)"
}

func (c *checker) hasZoneinfo() bool {
	if z, ok := c.env["ZONEINFO"]; ok && z != "" {
		if _, err := fs.Stat(c.fsys, rel(z)); err == nil {
			return true
		}
	}
	for _, d := range zoneinfoDirs {
		if c.exists(d, true) {
			return true
		}
	}
	return false
}

func list(ps []string) string {
	if len(ps) > 3 {
		return strings.Join(ps[:3], ", ") + fmt.Sprintf(" and %d more", len(ps)-3)
	}
	return strings.Join(ps, ", ")
}

// checkFeatures checks the files the programs' features need.
func (c *checker) checkFeatures() {
	if len(c.tls)+len(c.nonGoCerts) > 0 {
		if ok, why := c.hasCerts(); !ok {
			progs := append(append([]string{}, c.tls...), c.nonGoCerts...)
			msg := fmt.Sprintf("%s verifies TLS certificates against the system's CA certificates and %s, so HTTPS fails with \"x509: certificate signed by unknown authority\"", list(progs), why)
			if len(c.tls) == 0 {
				msg = fmt.Sprintf("%s names CA certificate paths in its data and %s, so its TLS connections may fail to verify", list(progs), why)
			}
			c.add(Finding{Severity: Warning, Check: "ca-certificates", Path: progs[0], Message: msg,
				Dockerfile: []string{"COPY --from=builder /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/"},
				Pack:       "--ca-certs"})
		}
	}
	if len(c.zone) > 0 && !c.hasZoneinfo() {
		c.add(Finding{Severity: Warning, Check: "zoneinfo", Path: c.zone[0],
			Message: fmt.Sprintf("%s calls time.LoadLocation without the embedded time/tzdata and the image has no /usr/share/zoneinfo (nor ZONEINFO), so loading a time zone fails with \"unknown time zone\"", list(c.zone)),
			Dockerfile: []string{"COPY --from=builder /usr/share/zoneinfo /usr/share/zoneinfo",
				"# or: RUN go build -tags timetzdata …"},
			Pack: "--tzdata"})
	}
	if len(c.userCgo) > 0 && !c.exists("/etc/passwd", false) {
		c.add(Finding{Severity: Info, Check: "os-user", Path: c.userCgo[0],
			Message: fmt.Sprintf("%s looks users up through the C library (os/user with cgo) and the image has no /etc/passwd, so user.Current and user.Lookup fail", list(c.userCgo)),
			Dockerfile: []string{"COPY passwd group /etc/",
				"# or: RUN go build -tags osusergo …"},
			Pack: "--user 65532 (adds /etc/passwd and /etc/group)"})
	}
	if len(c.userGo) > 0 && !c.exists("/etc/passwd", false) {
		c.add(Finding{Severity: Warning, Check: "os-user", Path: c.userGo[0],
			Message: fmt.Sprintf("%s uses os/user, which reads /etc/passwd and /etc/group, and the image has neither, so user.Lookup fails (and user.Current too unless $USER and $HOME are set)", list(c.userGo)),
			Dockerfile: []string{"COPY passwd group /etc/   # with root and nonroot (" + nonrootPasswd + ")",
				"# or, for user.Current only: ENV USER=nonroot HOME=/"},
			Pack: "--user 65532 (adds /etc/passwd and /etc/group)"})
	}
	if len(c.dns) > 0 {
		c.add(Finding{Severity: Info, Check: "cgo-dns", Path: c.dns[0],
			Message:    fmt.Sprintf("%s links the cgo DNS resolver, which Go uses when /etc/nsswitch.conf or resolv.conf options ask for it and which then needs the C library's NSS modules", list(c.dns)),
			Dockerfile: []string{"RUN go build -tags netgo …"},
			Pack:       "(rebuild with -tags netgo)"})
	}
}

// passwdEntry is one line of /etc/passwd or /etc/group.
type passwdEntry struct {
	name string
	id   int
	gid  int
}

// readColon reads name:x:id:gid… lines.
func (c *checker) readColon(p string) ([]passwdEntry, bool) {
	f, err := c.fsys.Open(rel(p))
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var out []passwdEntry
	sc := bufio.NewScanner(io.LimitReader(f, 16<<20))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			continue
		}
		e := passwdEntry{name: fields[0], id: id, gid: -1}
		if len(fields) > 3 {
			if g, err := strconv.Atoi(fields[3]); err == nil {
				e.gid = g
			}
		}
		out = append(out, e)
	}
	return out, true
}

const nonrootPasswd = "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin"

// checkUser checks USER against /etc/passwd and /etc/group.
func (c *checker) checkUser() {
	u := c.cfg.Config.User
	user, group, _ := strings.Cut(u, ":")
	rootFix := Finding{Severity: Warning, Check: "root",
		Dockerfile: []string{"USER 65532:65532"},
		Pack:       "--user 65532"}
	if user == "" {
		rootFix.Message = "the image sets no USER, so its program runs as root (uid 0), and a process that escapes the container is root on the host"
		c.add(rootFix)
		return
	}
	uid := -1
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
	} else {
		users, ok := c.readColon("/etc/passwd")
		if !ok {
			c.add(Finding{Severity: Error, Check: "user", Path: "/etc/passwd",
				Message:    fmt.Sprintf("USER %s names a user but the image has no /etc/passwd, so the runtime cannot find the user and the container does not start", u),
				Dockerfile: []string{"USER 65532:65532", "# or: COPY passwd group /etc/   (with the line " + nonrootPasswd + ")"},
				Pack:       "--user " + user + " (adds /etc/passwd and /etc/group with root and nonroot)"})
			return
		}
		found := false
		for _, e := range users {
			if e.name == user {
				uid, found = e.id, true
				break
			}
		}
		if !found {
			c.add(Finding{Severity: Error, Check: "user", Path: "/etc/passwd",
				Message:    fmt.Sprintf("USER %s names a user that /etc/passwd does not list, so the container does not start", u),
				Dockerfile: []string{"USER 65532:65532", fmt.Sprintf("# or add a line for %s to /etc/passwd", user)},
				Pack:       "--user 65532"})
			return
		}
	}
	if group != "" {
		if _, err := strconv.Atoi(group); err != nil {
			groups, ok := c.readColon("/etc/group")
			found := false
			for _, e := range groups {
				if e.name == group {
					found = true
				}
			}
			if !ok || !found {
				what := "the image has no /etc/group"
				if ok {
					what = "/etc/group does not list it"
				}
				c.add(Finding{Severity: Error, Check: "group", Path: "/etc/group",
					Message:    fmt.Sprintf("USER %s names the group %s and %s, so the container does not start", u, group, what),
					Dockerfile: []string{"USER 65532:65532"},
					Pack:       "--user 65532"})
				return
			}
		}
	}
	if uid == 0 {
		rootFix.Message = fmt.Sprintf("USER %s is root (uid 0), and a process that escapes the container is root on the host", u)
		c.add(rootFix)
	}
}

// DefaultLibraryDirs are the directories the loader of b searches when
// nothing else names one: where a bundled library is found without
// ld.so.cache, LD_LIBRARY_PATH or a run path.
func DefaultLibraryDirs(b *Binary) []string { return defaultDirs(b, b.Libc) }

// CertFiles are the CA bundle files Go looks for on Linux, in order.
func CertFiles() []string { return append([]string(nil), certFiles...) }

// ZoneinfoDirs are the zoneinfo directories Go looks in on Unix, in order.
func ZoneinfoDirs() []string { return append([]string(nil), zoneinfoDirs...) }

// userIDs returns the uid and gid USER gives the process, when they can be
// told (numeric, or names found in /etc/passwd and /etc/group).
func (c *checker) userIDs() (uid, gid int, ok bool) {
	user, group, _ := strings.Cut(c.cfg.Config.User, ":")
	if user == "" {
		return 0, 0, true
	}
	uid, gid = -1, -1
	if n, err := strconv.Atoi(user); err == nil {
		uid = n
	} else {
		users, _ := c.readColon("/etc/passwd")
		for _, e := range users {
			if e.name == user {
				uid, gid = e.id, e.gid
			}
		}
	}
	if group != "" {
		if n, err := strconv.Atoi(group); err == nil {
			gid = n
		} else {
			gid = -1
			groups, _ := c.readColon("/etc/group")
			for _, e := range groups {
				if e.name == group {
					gid = e.id
				}
			}
		}
	} else if gid < 0 && uid >= 0 {
		// A numeric USER without a group: the runtime takes the gid from
		// the user's passwd line, else 0.
		gid = 0
		users, _ := c.readColon("/etc/passwd")
		for _, e := range users {
			if e.id == uid && e.gid >= 0 {
				gid = e.gid
				break
			}
		}
	}
	return uid, gid, uid >= 0 && gid >= 0
}

// canExec reports whether uid:gid may execute the file at p with mode perm.
func (c *checker) canExec(p string, perm fs.FileMode, uid, gid int) bool {
	e, err := c.fsys.lookup(rel(p), true)
	if err != nil {
		return true // not knowable; other checks report the path
	}
	switch {
	case e.uid == uid:
		return perm&0o100 != 0
	case e.gid == gid:
		return perm&0o010 != 0
	}
	return perm&0o001 != 0
}
