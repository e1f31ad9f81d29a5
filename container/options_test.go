package container

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tabula-dev/tabula/errdefs"
)

func TestParseBytes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"64m", 64 << 20, true}, {"64M", 64 << 20, true}, {"1g", 1 << 30, true}, {"512k", 512 << 10, true},
		{"1024", 1024, true}, {"100b", 100, true}, {"1.5g", 3 << 29, true}, {"64mb", 64 << 20, true},
		{"", 0, false}, {"lots", 0, false}, {"-1m", 0, false}, {"1e300g", 0, false}, {"m", 0, false},
	} {
		got, err := ParseBytes(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"64m", "1.5g", "", "1e9k", "NaN", "Inf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && n < 0 {
			t.Errorf("ParseBytes(%q) = %d", s, n)
		}
	})
}

func TestParseSignal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want syscall.Signal
	}{{"TERM", syscall.SIGTERM}, {"SIGKILL", syscall.SIGKILL}, {"sigusr1", syscall.SIGUSR1}, {"9", syscall.SIGKILL}, {"nope", 0}, {"0", 0}, {"99", 0}} {
		got, err := ParseSignal(tt.in)
		if got != tt.want || (tt.want == 0) != (err != nil) {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUlimit(t *testing.T) {
	for _, tt := range []struct {
		in         string
		typ        string
		soft, hard uint64
		ok         bool
	}{
		{"nofile=1024:2048", "RLIMIT_NOFILE", 1024, 2048, true},
		{"nproc=64", "RLIMIT_NPROC", 64, 64, true},
		{"core=-1", "RLIMIT_CORE", math.MaxUint64, math.MaxUint64, true},
		{"nofile=10:5", "", 0, 0, false},
		{"nofile", "", 0, 0, false},
		{"bogus=1", "", 0, 0, false},
		{"nofile=x", "", 0, 0, false},
	} {
		got, err := parseUlimit(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("parseUlimit(%q): %v", tt.in, err)
			continue
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("parseUlimit(%q): %v is not an invalid argument", tt.in, err)
		}
		if tt.ok && (got.Type != tt.typ || got.Soft != tt.soft || got.Hard != tt.hard) {
			t.Errorf("parseUlimit(%q) = %+v", tt.in, got)
		}
	}
}

func TestParseVolume(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		in   string
		dst  string
		ro   bool
		errs string
	}{
		{dir + ":/data", "/data", false, ""},
		{dir + ":/data/../x:ro", "/x", true, ""},
		{dir + ":/data:rw", "/data", false, ""},
		{dir + ":/data:rx", "", false, "unknown mode"},
		{"rel:/data", "", false, "must be absolute"},
		{dir + ":data", "", false, "must be absolute"},
		{dir + "/missing:/data", "", false, "does not exist"},
		{dir, "", false, "HOST-PATH:CONTAINER-PATH"},
	} {
		m, mp, err := parseVolume(tt.in)
		if tt.errs != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errs) {
				t.Errorf("parseVolume(%q): %v, want an error saying %q", tt.in, err, tt.errs)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseVolume(%q): %v", tt.in, err)
			continue
		}
		hasRO := false
		for _, o := range m.Options {
			hasRO = hasRO || o == "ro"
		}
		if m.Destination != tt.dst || m.Source != dir || hasRO != tt.ro || mp.RW == tt.ro {
			t.Errorf("parseVolume(%q) = %+v %+v", tt.in, m, mp)
		}
	}
}

func TestReadEnvFile(t *testing.T) {
	t.Setenv("TABULA_TEST_HOST", "host-value")
	p := filepath.Join(t.TempDir(), "env")
	os.WriteFile(p, []byte("# comment\n\nA=1\n  B=two words\nTABULA_TEST_HOST\nTABULA_TEST_UNSET\nC=\n"), 0o644)
	got, err := readEnvFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := "A=1|B=two words|TABULA_TEST_HOST=host-value|C="
	if strings.Join(got, "|") != want {
		t.Errorf("readEnvFile = %q, want %q", got, want)
	}
	os.WriteFile(p, []byte("A=1\nbad key=2\n"), 0o644)
	if _, err := readEnvFile(p); err == nil || !strings.Contains(err.Error(), p+":2") {
		t.Errorf("a bad line: %v, want an error naming %s:2", err, p)
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=1"}, "A=2", "B=3")
	if strings.Join(got, " ") != "PATH=/bin A=2 B=3" {
		t.Errorf("mergeEnv = %v", got)
	}
}

func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		msg  string
	}{
		{"memory below the minimum", Options{Memory: "5m"}, "minimum memory"},
		{"memory zero is no limit", Options{Memory: "0"}, ""},
		{"memory at the minimum", Options{Memory: "6m"}, ""},
		{"cpus", Options{CPUs: "-1"}, "--cpus"},
		{"pids", Options{PidsLimit: -2}, "--pids-limit"},
		{"network", Options{Network: "bridge"}, "--network"},
		{"cap", Options{CapDrop: []string{"NOPE"}}, "unknown capability"},
		{"cap all", Options{CapDrop: []string{"all"}, CapAdd: []string{"net_raw"}}, ""},
		{"security opt", Options{SecurityOpt: []string{"label=x"}}, "--security-opt"},
		{"seccomp file missing", Options{SecurityOpt: []string{"seccomp=/nonexistent.json"}}, "seccomp=/nonexistent.json"},
		{"name", Options{Name: "a/b"}, "invalid container name"},
		{"env", Options{Env: []string{"=x"}}, "-e"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.StopTimeout = -1
			err := tt.o.Validate()
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("Validate: %v, want an invalid argument saying %q", err, tt.msg)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	caps, err := capabilities(&Options{CapDrop: []string{"ALL"}, CapAdd: []string{"net_bind_service", "CAP_CHOWN"}})
	if err != nil || strings.Join(caps, " ") != "CAP_CHOWN CAP_NET_BIND_SERVICE" {
		t.Errorf("drop ALL, add two: %v %v", caps, err)
	}
	caps, _ = capabilities(&Options{CapDrop: []string{"NET_RAW"}, CapAdd: []string{"SYS_PTRACE"}})
	has := map[string]bool{}
	for _, c := range caps {
		has[c] = true
	}
	if has["CAP_NET_RAW"] || !has["CAP_SYS_PTRACE"] || !has["CAP_CHOWN"] || has["CAP_SYS_ADMIN"] {
		t.Errorf("drop NET_RAW, add SYS_PTRACE: %v", caps)
	}
}

func TestContainerResolvConf(t *testing.T) {
	for _, tt := range []struct{ host, want string }{
		{"nameserver 127.0.0.53\noptions edns0\n", "options edns0\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"search example.com\nnameserver 10.0.0.2\nnameserver ::1\n", "search example.com\nnameserver 10.0.0.2\n"},
		{"", "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
	} {
		if got := containerResolvConf(tt.host); got != tt.want {
			t.Errorf("containerResolvConf(%q) = %q, want %q", tt.host, got, tt.want)
		}
	}
}
