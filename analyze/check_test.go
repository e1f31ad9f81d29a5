package analyze

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// findings returns "severity check" of each finding, sorted.
func findings(r Report) []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, fmt.Sprintf("%s %s", f.Severity, f.Check))
	}
	sort.Strings(out)
	return out
}

func TestCheckImage(t *testing.T) {
	hello := goProg(t, "hello", nil, "-ldflags=-s -w")
	tls := goProg(t, "tls", nil, "-ldflags=-s -w")
	tz := goProg(t, "tz", nil)
	tzEmbedded := goProg(t, "tz", nil, "-tags", "timetzdata")
	arm := goProg(t, "hello", []string{"GOARCH=arm64"})
	static := cProg(t, "-static")
	userGo := goProg(t, "user", nil)
	certsC := cProgSrc(t, "certs.c", "-static")
	dynamic := cProg(t)
	object := cProg(t, "-c")
	dyn := readFile(t, dynamic)
	host := NewLoader(hostFS(t), nil).Resolve(dynamic, dyn)
	libc := host.Libraries[0].Path

	app := v1.Config{Entrypoint: []string{"/app"}, User: "65532:65532"}
	passwd := reg("etc/passwd", "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n")
	group := reg("etc/group", "root:x:0:\nnonroot:x:65532:\n")
	tests := []struct {
		name  string
		cfg   v1.Config
		files []lf
		want  []string
	}{
		{"static go, clean", app, []lf{hostExe(t, "app", hello)}, nil},
		{"gcc -static, clean", app, []lf{hostExe(t, "app", static)}, nil},
		{"no command", v1.Config{User: "1"}, []lf{hostExe(t, "app", hello)}, []string{"error no-command"}},
		{"entrypoint missing", app, []lf{reg("etc/x", "")}, []string{"error entrypoint-missing"}},
		{"cmd on PATH", v1.Config{Cmd: []string{"app"}, User: "1"}, []lf{hostExe(t, "usr/local/bin/app", hello)}, nil},
		{"cmd relative to workdir", v1.Config{Cmd: []string{"./app"}, WorkingDir: "/srv", User: "1"}, []lf{hostExe(t, "srv/app", hello)}, nil},
		{"not executable", app, []lf{{"app", "\x7fELF", 0o644}}, []string{"error bad-elf", "error entrypoint-not-executable"}},
		{"owner-only program, other user", app, []lf{{"app", string(mustRead(t, hello)), 0o700}}, []string{"error entrypoint-not-executable"}},
		{"owner-only program, root", v1.Config{Entrypoint: []string{"/app"}, User: "0"}, []lf{{"app", string(mustRead(t, hello)), 0o700}}, []string{"warning root"}},
		{"group-executable program, root group", v1.Config{Entrypoint: []string{"/app"}, User: "65532:0"}, []lf{{"app", string(mustRead(t, hello)), 0o750}}, nil},
		{"directory", app, []lf{dirEntry("app")}, []string{"error entrypoint-not-executable"}},
		{"shell form without sh", v1.Config{Cmd: []string{"/bin/sh", "-c", "/app --port 80"}, User: "1"},
			[]lf{hostExe(t, "app", hello)}, []string{"error shell-form"}},
		{"script without interpreter", app, []lf{exe("app", "#!/bin/bash\necho hi\n")}, []string{"error missing-interpreter"}},
		{"script for a dynamic interpreter", app, []lf{exe("app", "#!/bin/dash\necho hi\n"), hostExe(t, "bin/dash", dynamic)},
			[]string{"error missing-library", "error missing-loader"}},
		{"script for a static interpreter", app, []lf{exe("app", "#!/bin/sh -e\necho hi\n"), hostExe(t, "bin/sh", static)}, nil},
		{"data file", app, []lf{exe("app", "just text")}, []string{"error entrypoint-not-executable"}},
		{"other arch", app, []lf{hostExe(t, "app", arm)}, []string{"error arch"}},
		{"other arch helper", app, []lf{hostExe(t, "app", hello), hostExe(t, "usr/bin/tool", arm)}, []string{"warning arch"}},
		{"dynamic, nothing", app, []lf{hostExe(t, "app", dynamic)}, []string{"error missing-library", "error missing-loader"}},
		{"dynamic, bundled", app, []lf{hostExe(t, "app", dynamic), hostExe(t, dyn.Interp, dyn.Interp),
			hostExe(t, "lib/x86_64-linux-gnu/libc.so.6", libc)}, nil},
		{"dynamic helper", app, []lf{hostExe(t, "app", hello), hostExe(t, "usr/bin/helper", dynamic)},
			[]string{"warning missing-library", "warning missing-loader"}},
		{"tls without CA", app, []lf{hostExe(t, "app", tls)}, []string{"warning ca-certificates"}},
		{"tls with CA", app, []lf{hostExe(t, "app", tls), reg("etc/ssl/certs/ca-certificates.crt", "PEM")}, nil},
		{"tls with SSL_CERT_FILE", v1.Config{Entrypoint: []string{"/app"}, User: "1", Env: []string{"SSL_CERT_FILE=/certs/ca.pem"}},
			[]lf{hostExe(t, "app", tls), reg("certs/ca.pem", "PEM")}, nil},
		{"tls with SSL_CERT_FILE missing", v1.Config{Entrypoint: []string{"/app"}, User: "1", Env: []string{"SSL_CERT_FILE=/certs/ca.pem"}},
			[]lf{hostExe(t, "app", tls), reg("etc/ssl/certs/ca-certificates.crt", "PEM")}, []string{"warning ca-certificates"}},
		{"tls with cert dir", app, []lf{hostExe(t, "app", tls), reg("etc/ssl/certs/one.pem", "PEM")}, nil},
		{"tls with SSL_CERT_DIR", v1.Config{Entrypoint: []string{"/app"}, User: "1", Env: []string{"SSL_CERT_DIR=/certs:/more"}},
			[]lf{hostExe(t, "app", tls), reg("more/one.pem", "PEM")}, nil},
		{"tls with SSL_CERT_DIR empty", v1.Config{Entrypoint: []string{"/app"}, User: "1", Env: []string{"SSL_CERT_DIR=/certs"}},
			[]lf{hostExe(t, "app", tls), dirEntry("certs")}, []string{"warning ca-certificates"}},
		{"object file", app, []lf{hostExe(t, "app", object)}, []string{"error bad-elf"}},
		{"damaged helper", app, []lf{hostExe(t, "app", hello), exe("usr/bin/helper", "\x7fELF\x02\x01\x01"+strings.Repeat("\x00", 100))}, []string{"warning bad-elf"}},
		{"dangling entrypoint link", app, []lf{link("app", "/nowhere/app")}, []string{"error entrypoint-missing"}},
		{"C program naming the CA bundle", app, []lf{hostExe(t, "app", certsC)}, []string{"warning ca-certificates"}},
		{"C program naming the CA bundle, with it", app, []lf{hostExe(t, "app", certsC), reg("etc/ssl/certs/ca-certificates.crt", "PEM")}, nil},
		{"tz without zoneinfo", app, []lf{hostExe(t, "app", tz)}, []string{"warning zoneinfo"}},
		{"tz with zoneinfo", app, []lf{hostExe(t, "app", tz), reg("usr/share/zoneinfo/UTC", "TZif")}, nil},
		{"tz with ZONEINFO", v1.Config{Entrypoint: []string{"/app"}, User: "1", Env: []string{"ZONEINFO=/tz.zip"}},
			[]lf{hostExe(t, "app", tz), reg("tz.zip", "zip")}, nil},
		{"tz embedded", app, []lf{hostExe(t, "app", tzEmbedded)}, nil},
		{"os/user without passwd", app, []lf{hostExe(t, "app", userGo)}, []string{"warning os-user"}},
		{"os/user with passwd", app, []lf{hostExe(t, "app", userGo), passwd, group}, nil},
		{"root by default", v1.Config{Entrypoint: []string{"/app"}}, []lf{hostExe(t, "app", hello)}, []string{"warning root"}},
		{"root by name", v1.Config{Entrypoint: []string{"/app"}, User: "root"}, []lf{hostExe(t, "app", hello), passwd}, []string{"warning root"}},
		{"user name without passwd", v1.Config{Entrypoint: []string{"/app"}, User: "nonroot"}, []lf{hostExe(t, "app", hello)}, []string{"error user"}},
		{"user name unknown", v1.Config{Entrypoint: []string{"/app"}, User: "app"}, []lf{hostExe(t, "app", hello), passwd}, []string{"error user"}},
		{"user name known", v1.Config{Entrypoint: []string{"/app"}, User: "nonroot"}, []lf{hostExe(t, "app", hello), passwd}, nil},
		{"group name without group", v1.Config{Entrypoint: []string{"/app"}, User: "nonroot:nonroot"}, []lf{hostExe(t, "app", hello), passwd}, []string{"error group"}},
		{"group name known", v1.Config{Entrypoint: []string{"/app"}, User: "65532:nonroot"}, []lf{hostExe(t, "app", hello), group}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := newImage(t, tt.cfg, newLayer(t, tt.files...))
			r, err := CheckImage(context.Background(), tt.name, img, Options{})
			if err != nil {
				t.Fatal(err)
			}
			got := findings(r)
			sort.Strings(tt.want)
			if strings.Join(got, "; ") != strings.Join(tt.want, "; ") {
				var buf bytes.Buffer
				r.WriteText(&buf)
				t.Errorf("findings %v, want %v\n%s", got, tt.want, buf.String())
			}
			for _, f := range r.Findings {
				if f.Message == "" {
					t.Errorf("%s: no message", f.Check)
				}
				if len(f.Dockerfile) == 0 || f.Pack == "" {
					t.Errorf("%s: no fix (Dockerfile %q, pack %q)", f.Check, f.Dockerfile, f.Pack)
				}
			}
		})
	}
}

func TestReportJSON(t *testing.T) {
	img := newImage(t, v1.Config{Entrypoint: []string{"/app"}}, newLayer(t, hostExe(t, "app", cProg(t))))
	r, err := CheckImage(context.Background(), "x", img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Report{r}); err != nil {
		t.Fatal(err)
	}
	var back []Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || back[0].Count(Error) != 2 || back[0].Binaries[0].Binary.Linking != Dynamic {
		t.Errorf("JSON round trip: %s", buf.String())
	}
	if back[0].AtLeast(Error) != 2 || back[0].AtLeast(Warning) != 3 || back[0].AtLeast(Info) != 3 {
		t.Errorf("AtLeast: error %d warning %d info %d; findings %v", back[0].AtLeast(Error), back[0].AtLeast(Warning), back[0].AtLeast(Info), findings(back[0]))
	}
	var text bytes.Buffer
	r.WriteText(&text)
	for _, want := range []string{"libc.so.6", "ld-linux", "--bundle-libs", "2 errors"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
