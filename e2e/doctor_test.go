package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tabula-dev/tabula/analyze"
	"github.com/tabula-dev/tabula/internal/testenv"
)

// doctorJSON runs `tabula doctor --format json` and returns its reports and
// exit status.
func (e *env) doctorJSON(args ...string) ([]analyze.Report, int) {
	e.t.Helper()
	r := e.run(append([]string{"doctor", "--format", "json"}, args...)...)
	var reports []analyze.Report
	if err := json.Unmarshal([]byte(r.stdout), &reports); err != nil {
		e.t.Fatalf("doctor %v: output is not JSON: %v\n%s", args, err, r)
	}
	return reports, r.code
}

// checks lists a report's findings as "severity check".
func checks(r analyze.Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, string(f.Severity)+" "+f.Check)
	}
	sort.Strings(out)
	return out
}

// pack runs `tabula pack` and returns the image ID it prints.
func (e *env) pack(args ...string) string {
	e.t.Helper()
	out := e.ok(append([]string{"pack"}, args...)...)
	id := strings.TrimSpace(out)
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		e.t.Fatalf("pack printed %q, want an image ID", out)
	}
	return id
}

// imageTree flattens a stored image.
func (e *env) imageTree(id string) *analyze.ImageTree {
	e.t.Helper()
	tree, err := analyze.OpenImage(context.Background(), e.storedImage(id), e.t.TempDir())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { tree.Close() })
	return tree
}

// requireRun needs `tabula run` (and root, to run containers).
func (e *env) requireRun() {
	e.t.Helper()
	testenv.RequireRoot(e.t)
	r := e.run("run", "--help")
	testenv.Require(e.t, r.code == 0, "tabula run is not available: %s", r.stderr)
}

// testCA makes a CA and a server certificate for 127.0.0.1 signed by it; it
// returns the CA's PEM and the server's TLS certificate.
func testCA(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tabula test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, srv, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestDoctorTLS: a CGO_ENABLED=0 HTTPS client in a bare scratch image is
// flagged; packed with --ca-certs it fetches from a server the CA signed.
func TestDoctorTLS(t *testing.T) {
	e := newEnv(t)
	bin := goProgram(t, "doctor/https", nil, "-ldflags=-s -w")
	e.pack("--auto=false", "-t", "https-bare", bin)
	reports, code := e.doctorJSON("https-bare")
	if code != 0 || strings.Join(checks(reports[0]), ",") != "warning ca-certificates" {
		t.Fatalf("bare image: exit %d, findings %v, want only the CA warning", code, checks(reports[0]))
	}
	if f := reports[0].Findings[0]; f.Pack != "--ca-certs" || !strings.Contains(strings.Join(f.Dockerfile, "\n"), "ca-certificates.crt") {
		t.Errorf("CA finding's fixes: %+v", f)
	}
	text := e.run("doctor", "https-bare")
	if !strings.Contains(text.stdout, "x509: certificate signed by unknown authority") {
		t.Errorf("text report does not say what fails:\n%s", text)
	}

	caPEM, cert := testCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.pack("--ca-certs="+caFile, "-t", "https", bin)
	reports, code = e.doctorJSON("https")
	if code != 0 || len(reports[0].Findings) != 0 {
		t.Fatalf("packed image: exit %d, findings %v", code, checks(reports[0]))
	}
	tree := e.imageTree(id)
	if b, err := fs.ReadFile(tree, "etc/ssl/certs/ca-certificates.crt"); err != nil || !bytes.Equal(b, caPEM) {
		t.Errorf("the image's CA bundle is not the test CA: %v", err)
	}
	img := e.storedImage(id)
	cfg, _ := img.ConfigFile()
	if got := strings.Join(cfg.Config.Entrypoint, " "); got != "/usr/local/bin/"+filepath.Base(bin) {
		t.Errorf("entrypoint %q", got)
	}
	if cfg.Config.User != "65532" || cfg.Architecture != analyze.HostArch() || cfg.OS != "linux" {
		t.Errorf("config user %q arch %q os %q", cfg.Config.User, cfg.Architecture, cfg.OS)
	}

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello over TLS")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	e.requireRun()
	r := e.run("run", "--rm", "--network", "host", "https", srv.URL)
	if r.code != 0 || r.stdout != "hello over TLS" {
		t.Fatalf("tabula run https %s: %s", srv.URL, r)
	}
	r = e.run("run", "--rm", "--network", "host", "https-bare", srv.URL)
	if r.code == 0 || !strings.Contains(r.stderr, "x509") {
		t.Errorf("the bare image fetched over TLS: %s", r)
	}
}

// TestDoctorTimezone: time.LoadLocation is flagged bare and works packed;
// a binary built with -tags timetzdata is not flagged.
func TestDoctorTimezone(t *testing.T) {
	e := newEnv(t)
	bin := goProgram(t, "doctor/tz", nil)
	e.pack("--auto=false", "-t", "tz-bare", bin)
	reports, _ := e.doctorJSON("tz-bare")
	if strings.Join(checks(reports[0]), ",") != "warning zoneinfo" {
		t.Fatalf("bare: findings %v, want the zoneinfo warning", checks(reports[0]))
	}
	id := e.pack("-t", "tz", bin) // --auto adds the zoneinfo tree
	reports, _ = e.doctorJSON("tz")
	if len(reports[0].Findings) != 0 {
		t.Fatalf("packed: findings %v", checks(reports[0]))
	}
	if _, err := fs.Stat(e.imageTree(id), "usr/share/zoneinfo/Europe/Amsterdam"); err != nil {
		t.Errorf("packed image lacks Europe/Amsterdam: %v", err)
	}
	embedded := goProgram(t, "doctor/tz", nil, "-tags", "timetzdata")
	e.pack("--auto=false", "-t", "tz-embedded", embedded)
	reports, _ = e.doctorJSON("tz-embedded", embedded)
	for _, r := range reports {
		if len(r.Findings) != 0 {
			t.Errorf("%s (timetzdata): findings %v", r.Name, checks(r))
		}
	}
	e.requireRun()
	const want = "1970-01-01 01:00 CET\n"
	for _, img := range []string{"tz", "tz-embedded"} {
		if r := e.run("run", "--rm", img); r.code != 0 || r.stdout != want {
			t.Errorf("tabula run %s: %s", img, r)
		}
	}
	if r := e.run("run", "--rm", "tz-bare"); r.code == 0 || !strings.Contains(r.stderr, "unknown time zone") {
		t.Errorf("tabula run tz-bare: %s", r)
	}
}

// TestDoctorUser: USER nonroot without /etc/passwd is an error; packed, it
// runs as nonroot.
func TestDoctorUser(t *testing.T) {
	e := newEnv(t)
	bin := goProgram(t, "doctor/whoami", nil)
	e.pack("--auto=false", "--user", "nonroot", "-t", "who-bare", bin)
	reports, code := e.doctorJSON("who-bare")
	if code != 1 || strings.Join(checks(reports[0]), ",") != "error user,warning os-user" {
		t.Fatalf("bare: exit %d, findings %v, want the user error and the os/user warning", code, checks(reports[0]))
	}
	if f := reports[0].Findings[0]; !strings.Contains(strings.Join(f.Dockerfile, "\n"), "USER 65532:65532") {
		t.Errorf("user fix: %+v", f)
	}
	id := e.pack("--user", "nonroot", "-t", "who", bin)
	reports, code = e.doctorJSON("who")
	if code != 0 || len(reports[0].Findings) != 0 {
		t.Fatalf("packed: exit %d, findings %v", code, checks(reports[0]))
	}
	passwd, err := fs.ReadFile(e.imageTree(id), "etc/passwd")
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:") {
		t.Errorf("packed /etc/passwd: %q, %v", passwd, err)
	}
	// Running as root is a warning with the numeric fix.
	e.pack("--user", "0", "-t", "who-root", bin) // --auto adds /etc/passwd for os/user
	reports, code = e.doctorJSON("who-root")
	if code != 0 || strings.Join(checks(reports[0]), ",") != "warning root" || reports[0].Findings[0].Dockerfile[0] != "USER 65532:65532" {
		t.Errorf("root: exit %d, findings %+v", code, reports[0].Findings)
	}
	e.requireRun()
	if r := e.run("run", "--rm", "who"); r.code != 0 || r.stdout != "65532 nonroot\n" {
		t.Errorf("tabula run who: %s", r)
	}
	if r := e.run("run", "--rm", "who-bare"); r.code == 0 {
		t.Errorf("tabula run who-bare started without /etc/passwd: %s", r)
	}
}

// cHello compiles testdata/doctor/hello.c with gcc and flags.
func cHello(t *testing.T, flags ...string) string {
	t.Helper()
	testenv.RequireCommand(t, "gcc")
	out := filepath.Join(t.TempDir(), "hello")
	args := append([]string{"-o", out}, flags...)
	if b, err := exec.Command("gcc", append(args, "testdata/doctor/hello.c")...).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return out
}

// TestDoctorDynamicC: the doctor names the missing loader and libc.so.6;
// pack --bundle-libs makes an image that prints the greeting under tabula
// run and docker run.
func TestDoctorDynamicC(t *testing.T) {
	e := newEnv(t)
	bin := cHello(t)
	r := e.run("doctor", bin)
	if r.code != 1 {
		t.Fatalf("doctor on a dynamic binary: %s", r)
	}
	for _, want := range []string{"/lib64/ld-linux-x86-64.so.2", "libc.so.6", "--bundle-libs"} {
		if analyze.HostArch() == "amd64" && !strings.Contains(r.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, r.stdout)
		}
	}
	reports, _ := e.doctorJSON(bin)
	if got := strings.Join(checks(reports[0]), ","); got != "error missing-library,error missing-loader" {
		t.Errorf("findings %s", got)
	}
	id := e.pack("--auto=false", "--bundle-libs", "-t", "hello-c", bin)
	reports, code := e.doctorJSON("hello-c")
	if code != 0 || len(reports[0].Findings) != 0 {
		t.Fatalf("bundled: exit %d, findings %v", code, checks(reports[0]))
	}
	tree := e.imageTree(id)
	res := reports[0].Binaries[0].Resolution
	if res == nil || len(res.Libraries) == 0 || res.Libraries[0].Name != "libc.so.6" {
		t.Fatalf("resolution in the image: %+v", res)
	}
	if fi, err := tree.Lstat(strings.TrimPrefix(res.Libraries[0].Path, "/")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("libc.so.6 in the image: %v", err)
	}
	// The same binary packed again gives the same image.
	if again := e.pack("--auto=false", "--bundle-libs", "-t", "hello-c2", bin); again != id {
		t.Errorf("pack is not reproducible: %s then %s", id, again)
	}

	// Plain pack (--auto) bundles them too, and says nothing.
	r = e.run("pack", "-t", "hello-c-auto", bin)
	if r.code != 0 || r.stderr != "" {
		t.Errorf("pack of a dynamic binary with --auto: %s", r)
	}
	if reports, code := e.doctorJSON("hello-c-auto"); code != 0 || len(reports[0].Findings) != 0 {
		t.Errorf("pack --auto: exit %d, findings %v", code, checks(reports[0]))
	}

	t.Run("tabula run", func(t *testing.T) {
		e.t = t
		e.requireRun()
		for _, img := range []string{"hello-c", "hello-c-auto"} {
			if r := e.run("run", "--rm", img); r.code != 0 || r.stdout != "Hello from a dynamic C binary!\n" {
				t.Errorf("tabula run %s: %s", img, r)
			}
		}
	})
	t.Run("docker run", func(t *testing.T) {
		e.t = t
		testenv.RequireDocker(t)
		name := fmt.Sprintf("tabula-e2e-hello-c:%d", time.Now().UnixNano())
		e.ok("tag", "hello-c", name)
		archive := filepath.Join(t.TempDir(), "hello-c.tar")
		e.ok("save", "-o", archive, name)
		t.Cleanup(func() { exec.Command("docker", "rmi", "-f", name).Run() })
		if out, err := exec.Command("docker", "load", "-i", archive).CombinedOutput(); err != nil {
			t.Fatalf("docker load: %v\n%s", err, out)
		}
		out, err := exec.Command("docker", "run", "--rm", name).CombinedOutput()
		if err != nil || string(out) != "Hello from a dynamic C binary!\n" {
			t.Fatalf("docker run: %v: %q", err, out)
		}
	})
}

// clangHello compiles testdata/doctor/hello.c with clang and flags.
func clangHello(t *testing.T, flags ...string) string {
	t.Helper()
	clang := testenv.RequireCommand(t, "clang")
	out := filepath.Join(t.TempDir(), "hello-clang")
	args := append([]string{"-o", out}, flags...)
	if b, err := exec.Command(clang, append(args, "testdata/doctor/hello.c")...).CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, b)
	}
	return out
}

// TestDoctorNoFalseAlarms: static C (gcc and clang, seed 004) and
// CGO_ENABLED=0 binaries, as files and packed, give no findings.
func TestDoctorNoFalseAlarms(t *testing.T) {
	e := newEnv(t)
	bins := []string{cHello(t, "-static"), cHello(t, "-static-pie"), clangHello(t, "-static"),
		goProgram(t, "hello", nil), goProgram(t, "hello", nil, "-ldflags=-s -w")}
	reports, code := e.doctorJSON(bins...)
	if code != 0 {
		t.Fatalf("doctor exit %d", code)
	}
	for _, r := range reports {
		if len(r.Findings) != 0 {
			t.Errorf("%s: findings %v", r.Name, checks(r))
		}
		if l := r.Binaries[0].Binary.Linking; l == analyze.Dynamic {
			t.Errorf("%s: linking %s", r.Name, l)
		}
	}
	for i, name := range []string{"static-gcc", "static-clang"} {
		e.pack("-t", name, bins[2*i])
		if out := e.ok("doctor", name); !strings.Contains(out, "no problems found") {
			t.Errorf("doctor %s:\n%s", name, out)
		}
		files := e.ok("image", "files", name)
		if strings.Contains(files, "lib") || strings.Contains(files, "ssl") {
			t.Errorf("pack --auto added files a static binary does not need:\n%s", files)
		}
	}
	e.requireRun()
	if r := e.run("run", "--rm", "static-clang"); r.code != 0 || r.stdout != "Hello from a dynamic C binary!\n" {
		t.Errorf("tabula run static-clang: %s", r)
	}
}

// fileVerdict maps file(1)'s description to a linking verdict.
func fileVerdict(desc string) analyze.Linking {
	switch {
	case strings.Contains(desc, "static-pie linked"):
		return analyze.StaticPIE
	case strings.Contains(desc, "statically linked"):
		return analyze.Static
	case strings.Contains(desc, "dynamically linked"):
		return analyze.Dynamic
	}
	return ""
}

// lddVerdict runs ldd(1) on p: its linking verdict and, for a dynamic
// program, the sonames this machine's loader loads for it (the loader and
// the vDSO left out).
func lddVerdict(t *testing.T, ldd, p string) (analyze.Linking, []string) {
	t.Helper()
	out, _ := exec.Command(ldd, p).CombinedOutput()
	text := string(out)
	switch {
	case strings.Contains(text, "not a dynamic executable"):
		return analyze.Static, nil
	case strings.Contains(text, "statically linked"):
		return analyze.StaticPIE, nil
	}
	var libs []string
	for _, l := range strings.Split(text, "\n") {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), " => "); ok {
			libs = append(libs, name)
		}
	}
	sort.Strings(libs)
	return analyze.Dynamic, libs
}

// TestDoctorCorpus compares the doctor's static/dynamic verdict with file(1)
// and ldd(1), and the libraries it resolves on this machine with ldd's, for
// every ELF executable in /usr/bin and /usr/sbin and Go binaries built with
// and without cgo.
func TestDoctorCorpus(t *testing.T) {
	fileCmd := testenv.RequireCommand(t, "file")
	lddCmd := testenv.RequireCommand(t, "ldd")
	hostFS, _ := os.DirFS("/").(fs.ReadLinkFS)
	host := analyze.NewLoader(hostFS, nil)
	var bins []string
	for _, dir := range []string{"/usr/bin", "/usr/sbin"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, de := range entries {
			p := filepath.Join(dir, de.Name())
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			head := make([]byte, 4)
			n, _ := f.Read(head)
			f.Close()
			if n == 4 && analyze.IsELF(head) {
				bins = append(bins, p)
			}
		}
	}
	bins = append(bins, goProgram(t, "hello", nil), goProgram(t, "doctor/https", nil, "-ldflags=-s -w"))
	if _, err := exec.LookPath("gcc"); err == nil {
		bins = append(bins, goProgram(t, "doctor/https", []string{"CGO_ENABLED=1"}))
	} else if testenv.InCI() {
		t.Fatal("CI=true and gcc is missing: the cgo Go binary cannot be built")
	}
	if len(bins) < 50 {
		t.Fatalf("only %d ELF files found for the corpus", len(bins))
	}
	e := newEnv(t)
	counts := map[analyze.Linking]int{}
	checkedLibs := 0
	for start := 0; start < len(bins); start += 200 {
		chunk := bins[start:min(start+200, len(bins))]
		out, err := exec.Command(fileCmd, append([]string{"-b", "-L"}, chunk...)...).Output()
		if err != nil {
			t.Fatalf("file: %v", err)
		}
		descs := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		if len(descs) != len(chunk) {
			t.Fatalf("file printed %d lines for %d files", len(descs), len(chunk))
		}
		reports, _ := e.doctorJSON(chunk...)
		if len(reports) != len(chunk) {
			t.Fatalf("doctor printed %d reports for %d files", len(reports), len(chunk))
		}
		for i, p := range chunk {
			want := fileVerdict(descs[i])
			var got analyze.Linking
			for _, b := range reports[i].Binaries {
				if b.Path == "/usr/local/bin/"+filepath.Base(p) {
					got = b.Binary.Linking
				}
			}
			if got != want {
				t.Errorf("%s: doctor says %q, file says %q (%s)", p, got, want, descs[i])
			}
			counts[got]++
			if got != analyze.Dynamic && got != analyze.Static && got != analyze.StaticPIE {
				continue // file and the doctor agree it is no program
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := f.Stat()
			b, err := analyze.ReadBinary(f, fi.Size(), p)
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			lddWant, lddLibs := lddVerdict(t, lddCmd, p)
			// The loader itself (ld.so) has a dynamic section but neither
			// PT_INTERP nor DT_NEEDED: file(1) calls it dynamically linked,
			// ldd statically linked; the doctor sides with file.
			selfRelocating := got == analyze.Dynamic && b.Interp == "" && len(b.Needed) == 0 && lddWant == analyze.StaticPIE
			if got != lddWant && !selfRelocating {
				t.Errorf("%s: doctor says %q, ldd says %q", p, got, lddWant)
			}
			if got != analyze.Dynamic || selfRelocating {
				continue
			}
			res := host.Resolve(p, b)
			var libs []string
			for _, l := range res.Libraries {
				if !strings.HasPrefix(l.Name, "ld-linux") {
					libs = append(libs, l.Name)
				}
			}
			for _, m := range res.Missing {
				libs = append(libs, m.Name+" (missing)")
			}
			sort.Strings(libs)
			var lddNoLoader []string
			for _, l := range lddLibs {
				if !strings.HasPrefix(l, "ld-linux") {
					lddNoLoader = append(lddNoLoader, l)
				}
			}
			if strings.Join(libs, " ") != strings.Join(lddNoLoader, " ") {
				t.Errorf("%s: the doctor resolves %v on this machine, ldd %v", p, libs, lddNoLoader)
			}
			checkedLibs++
		}
	}
	if checkedLibs < 20 {
		t.Errorf("only %d dynamic programs' libraries compared with ldd", checkedLibs)
	}
	t.Logf("%d binaries: %v; libraries of %d compared with ldd", len(bins), counts, checkedLibs)
}

// TestDoctorBadInput: clear messages and no panic for files that are not
// programs, broken programs, other architectures and unknown images.
func TestDoctorBadInput(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	good, err := os.ReadFile(goProgram(t, "hello", nil))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Sparse 1 GB files: a program padded with zeros, and a program's
	// first 4 KB followed by zeros.
	sparse := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 30); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, arg string
		code      int
		want      string
	}{
		{"text", write("notes.txt", []byte("just some text\n")), 125, "not an ELF file"},
		{"truncated", write("truncated", good[:len(good)/4]), 125, "truncated or corrupted ELF"},
		{"header only", write("header", good[:20]), 125, "truncated or corrupted ELF"},
		{"directory", dir, 125, "is a directory"},
		{"1 GB program", sparse("huge-ok", good), 0, "no problems found"},
		{"1 GB corrupt", sparse("huge-bad", good[:4096]), 125, "corrupted ELF"},
		{"1 GB zeros", sparse("huge-zeros", nil), 125, "not an ELF file"},
		{"unknown image", "no-such-image", 125, "no-such-image"},
		{"other arch", goProgram(t, "hello", []string{"GOARCH=arm64"}), 1, "arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r := e.run("doctor", tt.arg)
			if r.code != tt.code || !strings.Contains(r.stdout+r.stderr, tt.want) || strings.Contains(r.stderr, "panic") {
				t.Errorf("doctor %s: %s\nwant exit %d and %q", tt.arg, r, tt.code, tt.want)
			}
			t.Logf("%s in %v: %s", tt.name, time.Since(start), strings.TrimSpace(r.stderr+r.stdout))
		})
	}
	// pack refuses what it cannot pack, with the path named.
	if r := e.fails("pack", "-t", "x", filepath.Join(dir, "missing")); r.code != 125 || !strings.Contains(r.stderr, "missing") {
		t.Errorf("pack of a missing file: %s", r)
	}
	if r := e.fails("pack", filepath.Join(dir, "notes.txt")); !strings.Contains(r.stderr, "-t NAME") {
		t.Errorf("pack without -t: %s", r)
	}
}

// TestPackOptions: where pack puts files, the config it writes, and its
// timestamps.
func TestPackOptions(t *testing.T) {
	e := newEnv(t)
	bin := goProgram(t, "hello", nil)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"conf/app.yaml": "a: 1\n", "conf/sub/b.txt": "b\n", "single.txt": "s\n"})
	writeFiles(t, dir, map[string]string{"conf/..data/v1.yaml": "v: 1\n"})
	for link, target := range map[string]string{"current": "app.yaml", "data": "..data/v1.yaml"} {
		if err := os.Symlink(target, filepath.Join(dir, "conf", link)); err != nil {
			t.Fatal(err)
		}
	}
	id := e.pack("-t", "opts", "--env", "A=B", "--label", "org.example=1", "--cmd", "--flag", "--cmd", "2",
		"--add", filepath.Join(dir, "conf")+":/etc/app", "--add", filepath.Join(dir, "single.txt")+":/srv/",
		"--entrypoint", "/usr/local/bin/"+filepath.Base(bin), bin)
	tree := e.imageTree(id)
	for p, want := range map[string]string{"etc/app/app.yaml": "a: 1\n", "etc/app/sub/b.txt": "b\n", "srv/single.txt": "s\n", "etc/app/current": "a: 1\n"} {
		if b, err := fs.ReadFile(tree, p); err != nil || string(b) != want {
			t.Errorf("%s: %q, %v; want %q", p, b, err, want)
		}
	}
	// Links inside the tree stay links, ..data (a name, as Kubernetes'
	// configmaps have it) included.
	for link, want := range map[string]string{"etc/app/current": "app.yaml", "etc/app/data": "..data/v1.yaml"} {
		if target, err := tree.ReadLink(link); err != nil || target != want {
			t.Errorf("symlink %s inside the added tree: %q, %v; want %q", link, target, err, want)
		}
	}
	img := e.storedImage(id)
	cfg, _ := img.ConfigFile()
	c := cfg.Config
	if !contains(c.Env, "A=B") || c.Labels["org.example"] != "1" || strings.Join(c.Cmd, " ") != "--flag 2" || c.User != "65532" {
		t.Errorf("config %+v", c)
	}
	if !cfg.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created %v, want the epoch", cfg.Created)
	}
	layers, _ := img.Layers()
	if len(layers) != 2 {
		t.Errorf("%d layers, want 2 (files and binaries)", len(layers))
	}
	// --timestamp and SOURCE_DATE_EPOCH set the times; equal inputs give equal images.
	a := e.pack("-t", "ts1", "--timestamp", "1700000000", bin)
	b := e.pack("-t", "ts2", "--timestamp", "1700000000", bin)
	if a != b {
		t.Errorf("same input, different images: %s %s", a, b)
	}
	cfg, _ = e.storedImage(a).ConfigFile()
	if cfg.Created.Unix() != 1700000000 {
		t.Errorf("created %v with --timestamp", cfg.Created)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if c := e.pack("-t", "ts3", bin); c != a {
		t.Errorf("SOURCE_DATE_EPOCH gave %s, --timestamp %s", c, a)
	}
	if r := e.fails("pack", "-t", "dup", bin, bin); r.code != 125 || !strings.Contains(r.stderr, "would both be") {
		t.Errorf("two binaries of one name: %s", r)
	}
	if r := e.fails("pack", "-t", "bad", "--add", "nocolon", bin); r.code != 125 || !strings.Contains(r.stderr, "SRC:DST") {
		t.Errorf("--add without DST: %s", r)
	}
}

// TestDoctorBuiltImage checks images tabula build made from Dockerfiles:
// shell form without /bin/sh, USER by name, a dynamic binary.
func TestDoctorBuiltImage(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	copyFile(t, goProgram(t, "hello", nil), filepath.Join(dir, "hello"), 0o755)
	copyFile(t, cHello(t), filepath.Join(dir, "hello-c"), 0o755)
	writeFiles(t, dir, map[string]string{
		"shell.Dockerfile":   "FROM scratch\nCOPY hello /\nUSER 65532\nCMD /hello --verbose\n",
		"user.Dockerfile":    "FROM scratch\nCOPY hello /\nUSER nonroot\nCMD [\"/hello\"]\n",
		"dynamic.Dockerfile": "FROM scratch\nCOPY hello-c /\nUSER 65532:65532\nENTRYPOINT [\"/hello-c\"]\n",
		"good.Dockerfile":    "FROM scratch\nCOPY hello /\nUSER 65532:65532\nENTRYPOINT [\"/hello\"]\n",
	})
	want := map[string]string{
		"shell":   "error shell-form",
		"user":    "error user",
		"dynamic": "error missing-library,error missing-loader",
		"good":    "",
	}
	for name, findings := range want {
		e.buildID(dir, "-f", filepath.Join(dir, name+".Dockerfile"), "-t", "built-"+name)
		reports, code := e.doctorJSON("built-" + name)
		if got := strings.Join(checks(reports[0]), ","); got != findings {
			t.Errorf("%s: findings %q, want %q", name, got, findings)
		}
		if wantCode := map[bool]int{true: 1, false: 0}[findings != ""]; code != wantCode {
			t.Errorf("%s: exit %d, want %d", name, code, wantCode)
		}
	}
	reports, _ := e.doctorJSON("built-shell")
	if f := reports[0].Findings[0]; f.Dockerfile[0] != `CMD ["/hello","--verbose"]` {
		t.Errorf("shell-form fix %q", f.Dockerfile)
	}
}

// TestPackAutoCgo: --auto makes a cgo HTTPS client (dynamic, TLS roots)
// doctor-clean, and it fetches from the test server under tabula run.
func TestPackAutoCgo(t *testing.T) {
	testenv.RequireCommand(t, "gcc")
	e := newEnv(t)
	bin := goProgram(t, "doctor/https", []string{"CGO_ENABLED=1"})
	reports, code := e.doctorJSON(bin)
	if code != 1 || !contains(checks(reports[0]), "error missing-loader") || !contains(checks(reports[0]), "warning ca-certificates") {
		t.Fatalf("cgo client as a file: exit %d, findings %v", code, checks(reports[0]))
	}
	caPEM, cert := testCA(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	id := e.pack("--ca-certs="+caFile, "-t", "https-cgo", bin)
	reports, code = e.doctorJSON("https-cgo")
	for _, f := range reports[0].Findings {
		if f.Severity != analyze.Info {
			t.Errorf("packed: %s %s: %s", f.Severity, f.Check, f.Message)
		}
	}
	if code != 0 {
		t.Errorf("packed: exit %d", code)
	}
	res := reports[0].Binaries[0].Resolution
	if res == nil || res.InterpMissing || len(res.Missing) != 0 {
		t.Fatalf("packed resolution: %+v", res)
	}
	if _, err := fs.Stat(e.imageTree(id), strings.TrimPrefix(res.Interp, "/")); err != nil {
		t.Errorf("loader %s not in the image: %v", res.Interp, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello to cgo")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	e.requireRun()
	if r := e.run("run", "--rm", "--network", "host", "https-cgo", srv.URL); r.code != 0 || r.stdout != "hello to cgo" {
		t.Errorf("tabula run https-cgo: %s", r)
	}
}

// TestBuildCheck: tabula build runs the doctor on the image it built and
// prints the findings; --check decides which of them fail the build, and a
// failed build stores, tags and writes nothing.
func TestBuildCheck(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	copyFile(t, goProgram(t, "doctor/https", nil, "-ldflags=-s -w"), filepath.Join(dir, "https"), 0o755)
	copyFile(t, cHello(t), filepath.Join(dir, "hello-c"), 0o755)
	writeFiles(t, dir, map[string]string{
		"https.Dockerfile":   "FROM scratch\nCOPY https /usr/local/bin/https\nUSER 65532:65532\nENTRYPOINT [\"/usr/local/bin/https\"]\n",
		"dynamic.Dockerfile": "FROM scratch\nCOPY hello-c /\nUSER 65532:65532\nENTRYPOINT [\"/hello-c\"]\n",
		"chown.Dockerfile":   "FROM scratch\nCOPY --chown=app https /https\nENTRYPOINT [\"/https\"]\n",
	})
	build := func(file string, args ...string) result {
		t.Helper()
		return e.run(append(append([]string{"build", "-f", filepath.Join(dir, file)}, args...), dir)...)
	}
	const caFinding = "warning ca-certificates: /usr/local/bin/https verifies TLS certificates"
	isID := func(s string) bool { s = strings.TrimSpace(s); return strings.HasPrefix(s, "sha256:") && len(s) == 71 }
	stored := func(name string) bool { t.Helper(); return e.run("image", "inspect", name).code == 0 }

	// Default: the findings are printed after the build steps, the build
	// succeeds and the image is stored.
	r := build("https.Dockerfile", "-t", "https-default")
	if r.code != 0 || !isID(r.stdout) || !stored("https-default") {
		t.Fatalf("default build: %s", r)
	}
	if !strings.Contains(r.stderr, "doctor: https-default\n  "+caFinding) || !strings.Contains(r.stderr, "pack: --ca-certs") ||
		strings.Index(r.stderr, "doctor:") < strings.Index(r.stderr, "COPY https") {
		t.Errorf("default build does not print the CA finding after the steps:\n%s", r.stderr)
	}
	id := strings.TrimSpace(r.stdout)

	// The report is kept: building the same image again prints the same
	// findings without a second look, and a damaged report is ignored.
	reports, _ := filepath.Glob(filepath.Join(e.root, "cache", "doctor", "*.json"))
	if len(reports) != 1 {
		t.Errorf("kept reports: %v", reports)
	}
	doctorOut := func(stderr string) string {
		return stderr[strings.Index(stderr, "doctor:"):strings.Index(stderr, "#3 exporting")]
	}
	again := build("https.Dockerfile", "-t", "https-default")
	if again.code != 0 || doctorOut(again.stderr) != doctorOut(r.stderr) {
		t.Errorf("second build's findings differ:\n%s\nfirst:\n%s", again.stderr, r.stderr)
	}
	for _, p := range reports {
		if err := os.WriteFile(p, []byte("{not json"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if again := build("https.Dockerfile", "-t", "https-default"); again.code != 0 || doctorOut(again.stderr) != doctorOut(r.stderr) {
		t.Errorf("build over a damaged kept report:\n%s", again.stderr)
	}

	// -q: nothing but the ID.
	if r := build("https.Dockerfile", "-q", "-t", "https-quiet"); r.code != 0 || strings.TrimSpace(r.stdout) != id || r.stderr != "" {
		t.Errorf("build -q: %s", r)
	}

	// --check warning fails on the CA warning: exit 1, the findings and
	// the reason on stderr, nothing stored, tagged or written.
	iid := filepath.Join(t.TempDir(), "iid")
	archive := filepath.Join(t.TempDir(), "image.tar")
	for _, args := range [][]string{{"--check", "warning"}, {"--check=warning", "-q"}} {
		r = build("https.Dockerfile", append(args, "-t", "https-warning", "--iidfile", iid, "-o", "type=oci,dest="+archive)...)
		if r.code != 1 || r.stdout != "" {
			t.Errorf("build %v: want exit 1 and no ID: %s", args, r)
		}
		if !strings.Contains(r.stderr, caFinding) || !strings.Contains(r.stderr, "tabula: --check warning: the doctor found 1 warning (ca-certificates) in the image, so it was not stored") {
			t.Errorf("build %v does not say why it failed:\n%s", args, r.stderr)
		}
		if stored("https-warning") {
			t.Errorf("build %v tagged the image that failed the check", args)
		}
		for _, p := range []string{iid, archive} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("build %v wrote %s", args, p)
			}
		}
	}

	// --check error passes a warning.
	if r := build("https.Dockerfile", "--check", "error", "-t", "https-error"); r.code != 0 || strings.TrimSpace(r.stdout) != id ||
		!strings.Contains(r.stderr, caFinding) || !stored("https-error") {
		t.Errorf("build --check error: %s", r)
	}

	// A dynamic C binary fails --check error on its missing loader and libc.
	r = build("dynamic.Dockerfile", "--check", "error", "-t", "dynamic")
	if r.code != 1 || r.stdout != "" || stored("dynamic") ||
		!strings.Contains(r.stderr, "error   missing-loader") || !strings.Contains(r.stderr, "error   missing-library") ||
		!strings.Contains(r.stderr, "libc.so.6") || !strings.Contains(r.stderr, "the doctor found 2 errors (missing-loader, missing-library)") {
		t.Errorf("build --check error of a dynamic binary: %s", r)
	}
	if !strings.Contains(r.stderr, "--check off") {
		t.Errorf("the failure does not say how to let the image through: %s", r.stderr)
	}

	// --check off runs no doctor: nothing printed but the build's steps.
	r = build("https.Dockerfile", "--check", "off", "-t", "https-off")
	if r.code != 0 || strings.TrimSpace(r.stdout) != id || strings.Contains(r.stderr, "doctor") || strings.Contains(r.stderr, "ca-certificates") {
		t.Errorf("build --check off: %s", r)
	}
	r = build("dynamic.Dockerfile", "--check", "off", "-q", "-t", "dynamic-off")
	if r.code != 0 || !isID(r.stdout) || r.stderr != "" {
		t.Errorf("build --check off -q of a dynamic binary: %s", r)
	}

	if r := build("https.Dockerfile", "--check", "info", "-t", "x"); r.code != 125 || !strings.Contains(r.stderr, "want error, warning or off") {
		t.Errorf("build --check info: %s", r)
	}
	// --chown names are resolved against the stage's /etc/passwd when the
	// image is built, as Docker does: the build fails and says so.
	if r := build("chown.Dockerfile", "-t", "chown"); r.code == 0 || !strings.Contains(r.stderr, `user "app" cannot be looked up: the stage has no /etc/passwd`) {
		t.Errorf("build with --chown=app and no /etc/passwd: %s", r)
	}
}

// TestPackRefusesBrokenImage: with --auto, pack stores no image the doctor
// says will not start; --auto=false packs it anyway. A binary for another
// architecture is checked for the image's platform.
func TestPackRefusesBrokenImage(t *testing.T) {
	e := newEnv(t)
	bin := goProgram(t, "hello", nil)
	for _, q := range [][]string{nil, {"-q"}} {
		r := e.run(append(append([]string{"pack"}, q...), "--user", "app", "-t", "user-app", bin)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "error   user: USER app names a user that /etc/passwd does not list") ||
			!strings.Contains(r.stderr, "so it was not stored") || !strings.Contains(r.stderr, "--auto=false") {
			t.Errorf("pack %v --user app: %s", q, r)
		}
		if e.run("image", "inspect", "user-app").code == 0 {
			t.Errorf("pack %v --user app stored the image", q)
		}
	}
	if r := e.run("pack", "--auto=false", "--user", "app", "-t", "user-app", bin); r.code != 0 || !strings.Contains(r.stderr, "error   user") {
		t.Errorf("pack --auto=false --user app: %s", r)
	}
	// A user of one's own, with the passwd and group files that name it.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"passwd": "root:x:0:0::/root:/sbin/nologin\napp:x:1000:1000::/:/sbin/nologin\n", "group": "root:x:0:\napp:x:1000:\n"})
	if r := e.run("pack", "--user", "app:app", "--add", filepath.Join(dir, "passwd")+":/etc/passwd", "--add", filepath.Join(dir, "group")+":/etc/group", "-t", "user-own", bin); r.code != 0 || r.stderr != "" {
		t.Errorf("pack --user app with its passwd: %s", r)
	}
	// A static arm64 program packs cleanly for arm64; the doctor then
	// says it does not run on this machine.
	arm := goProgram(t, "hello", []string{"GOARCH=arm64"})
	if analyze.HostArch() == "arm64" {
		arm = goProgram(t, "hello", []string{"GOARCH=amd64"})
	}
	r := e.run("pack", "-t", "other-arch", arm)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("pack of a binary for another arch: %s", r)
	}
	cfg, _ := e.storedImage(strings.TrimSpace(r.stdout)).ConfigFile()
	if cfg.Architecture == analyze.HostArch() {
		t.Errorf("image architecture %q, want the binary's", cfg.Architecture)
	}
	if reports, code := e.doctorJSON("other-arch"); code != 1 || strings.Join(checks(reports[0]), ",") != "error arch" {
		t.Errorf("doctor other-arch: exit %d, findings %v", code, checks(reports[0]))
	}
}

// TestPackContentFlags: --ca-certs and --tzdata with and without a value,
// and their errors.
func TestPackContentFlags(t *testing.T) {
	e := newEnv(t)
	tz := goProgram(t, "doctor/tz", nil)
	hostCA := ""
	for _, f := range analyze.CertFiles() {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			hostCA = f
			break
		}
	}
	testenv.Require(t, hostCA != "", "this machine has no CA bundle (install ca-certificates)")
	amsterdam := "/usr/share/zoneinfo/Europe/Amsterdam"
	_, err := os.Stat(amsterdam)
	testenv.Require(t, err == nil, "this machine has no zoneinfo (install tzdata)")

	// This machine's CA bundle and zoneinfo tree.
	id := e.pack("--auto=false", "--ca-certs", "--tzdata", "-t", "host-content", tz)
	tree := e.imageTree(id)
	want, _ := os.ReadFile(hostCA)
	if got, err := fs.ReadFile(tree, "etc/ssl/certs/ca-certificates.crt"); err != nil || !bytes.Equal(got, want) {
		t.Errorf("--ca-certs: the image's bundle is not %s: %v", hostCA, err)
	}
	if _, err := fs.Stat(tree, "usr/share/zoneinfo/Europe/Amsterdam"); err != nil {
		t.Errorf("--tzdata: %v", err)
	}

	// A zoneinfo tree of one's own: only what it holds.
	zones := t.TempDir()
	copyFile(t, amsterdam, filepath.Join(zones, "Europe", "Amsterdam"), 0o644)
	id = e.pack("--tzdata="+zones, "-t", "own-zones", tz)
	tree = e.imageTree(id)
	names, err := fs.Glob(tree, "usr/share/zoneinfo/*/*")
	if err != nil || strings.Join(names, ",") != "usr/share/zoneinfo/Europe/Amsterdam" {
		t.Errorf("--tzdata=DIR: zoneinfo files %v, %v", names, err)
	}
	if reports, code := e.doctorJSON("own-zones"); code != 0 || len(reports[0].Findings) != 0 {
		t.Errorf("--tzdata=DIR: exit %d, findings %v", code, checks(reports[0]))
	}

	for _, flag := range []string{"--ca-certs=/no/such/ca.pem", "--tzdata=/no/such/zoneinfo"} {
		r := e.run("pack", flag, "-t", "bad", tz)
		if r.code != 125 || !strings.Contains(r.stderr, "/no/such/") {
			t.Errorf("pack %s: %s", flag, r)
		}
	}

	e.requireRun()
	if r := e.run("run", "--rm", "own-zones"); r.code != 0 || r.stdout != "1970-01-01 01:00 CET\n" {
		t.Errorf("tabula run own-zones: %s", r)
	}
}

// TestDoctorFileOrImage: a name that is both a file here and an image is
// the image; ./NAME and absolute paths are files.
func TestDoctorFileOrImage(t *testing.T) {
	e := newEnv(t)
	e.ok("pack", "-t", "hello", goProgram(t, "hello", nil))
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hello": "not a program\n"})
	if r := e.runIn(dir, nil, "doctor", "hello"); r.code != 0 || !strings.Contains(r.stdout, "hello:latest") {
		t.Errorf("doctor hello with a file hello here: want the image checked: %s", r)
	}
	for _, arg := range []string{"./hello", filepath.Join(dir, "hello")} {
		if r := e.runIn(dir, nil, "doctor", arg); r.code == 0 || strings.Contains(r.stdout, "hello:latest") {
			t.Errorf("doctor %s: want the file checked: %s", arg, r)
		}
	}
	e.ok("rmi", "hello")
	if r := e.runIn(dir, nil, "doctor", "hello"); r.code == 0 || strings.Contains(r.stdout, "hello:latest") {
		t.Errorf("doctor hello, no image hello, a file hello here: want the file checked: %s", r)
	}
}
