package analyze

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tabula-dev/tabula/internal/testenv"
)

// progs caches the test programs built during one test run.
var progs sync.Map

var progDir = sync.OnceValue(func() string {
	d, err := os.MkdirTemp("", "tabula-analyze-")
	if err != nil {
		panic(err)
	}
	return d
})

// goProg builds testdata/progs/<name>.go with env and flags.
func goProg(t testing.TB, name string, env []string, flags ...string) string {
	t.Helper()
	key := fmt.Sprint(name, env, flags)
	if p, ok := progs.Load(key); ok {
		return p.(string)
	}
	out := filepath.Join(progDir(), fmt.Sprintf("%s-%x", name, len(key)*31+int(hashString(key))))
	args := append([]string{"build", "-trimpath", "-o", out}, flags...)
	args = append(args, filepath.Join("testdata", "progs", name+".go"))
	cmd := exec.Command("go", args...)
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	progs.Store(key, out)
	return out
}

// cProg compiles testdata/progs/hello.c with gcc and flags.
func cProg(t testing.TB, flags ...string) string {
	t.Helper()
	return cProgSrc(t, "hello.c", flags...)
}

// cProgSrc compiles testdata/progs/<src> with gcc and flags.
func cProgSrc(t testing.TB, src string, flags ...string) string {
	t.Helper()
	testenv.RequireCommand(t, "gcc")
	key := "c" + src + strings.Join(flags, " ")
	if p, ok := progs.Load(key); ok {
		return p.(string)
	}
	out := filepath.Join(progDir(), fmt.Sprintf("hello-c-%x", hashString(key)))
	args := append([]string{"-O1", "-o", out}, flags...)
	args = append(args, filepath.Join("testdata", "progs", src))
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	progs.Store(key, out)
	return out
}

func hashString(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func readFile(t testing.TB, p string) *Binary {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	b, err := ReadBinary(f, fi.Size(), p)
	if err != nil {
		t.Fatalf("ReadBinary(%s): %v", p, err)
	}
	return b
}

func TestMain(m *testing.M) {
	code := m.Run()
	if v, ok := progDirUsed(); ok {
		os.RemoveAll(v)
	}
	os.Exit(code)
}

func progDirUsed() (string, bool) {
	used := false
	progs.Range(func(any, any) bool { used = true; return false })
	if !used {
		return "", false
	}
	return progDir(), true
}
