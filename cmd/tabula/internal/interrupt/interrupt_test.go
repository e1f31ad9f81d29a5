package interrupt

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommandName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--rm", "hello"}, "run"},
		{[]string{"--root", "/x", "--log-level", "debug", "debug", "c"}, "debug"},
		{[]string{"--root=/x", "images"}, "images"},
		{[]string{"--root", "run", "build", "."}, "build"},
		{[]string{"--", "run"}, ""},
		{nil, ""},
	} {
		if got := CommandName(tc.args); got != tc.want {
			t.Errorf("CommandName(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestSignals(t *testing.T) {
	base := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if got := Signals([]string{"build", "."}); !slices.Equal(got, base) {
		t.Errorf("build: %v, want %v", got, base)
	}
	for _, cmd := range []string{"run", "debug", "exec", "start"} {
		if got := Signals([]string{"--root", "/x", cmd, "c"}); !slices.Equal(got, append(base, Relayed...)) {
			t.Errorf("%s: %v, want SIGINT, SIGTERM and the relayed ones", cmd, got)
		}
	}
}

// helperEnv makes the test binary, started again, act as a command whose
// context ends on SIGINT or SIGTERM, and print what happened.
const helperEnv = "TABULA_INTERRUPT_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		if early != nil {
			os.Stdout.WriteString("init:yes\n")
		} else {
			os.Stdout.WriteString("init:no\n")
		}
		ctx, stop := Context()
		defer stop()
		<-early.registered // what a signal sent from now on finds
		os.Stdout.WriteString("ready\n")
		select {
		case <-ctx.Done():
			os.Stdout.WriteString("canceled\n")
		case <-time.After(10 * time.Second):
			os.Stdout.WriteString("timeout\n")
		}
		return
	}
	os.Exit(m.Run())
}

// A command's context ends on SIGINT or SIGTERM, registered from the
// init; a relayed signal that nothing catches yet is ignored, rather than
// ending the process; a helper process registers nothing at init.
func TestContext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		argv0 string
		args  []string
		sigs  []syscall.Signal
		want  string
	}{
		{"SIGINT", "", []string{"build"}, []syscall.Signal{syscall.SIGINT}, "init:yes\nready\ncanceled\n"},
		{"SIGTERM", "", []string{"pull"}, []syscall.Signal{syscall.SIGTERM}, "init:yes\nready\ncanceled\n"},
		{"relayed ignored", "", []string{"run", "x"}, []syscall.Signal{syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGTERM}, "init:yes\nready\ncanceled\n"},
		{"helper", Reexecuted[0], []string{"run", "x"}, []syscall.Signal{syscall.SIGTERM}, "init:no\nready\ncanceled\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.args...)
			if tc.argv0 != "" {
				cmd.Args[0] = tc.argv0
			}
			cmd.Env = append(os.Environ(), helperEnv+"=1")
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			var got string
			for !strings.HasSuffix(got, "ready\n") {
				line, err := r.ReadString('\n')
				got += line
				if err != nil {
					t.Fatalf("%v; output %q", err, got)
				}
			}
			for _, s := range tc.sigs {
				cmd.Process.Signal(s)
			}
			rest, _ := io.ReadAll(r)
			got += string(rest)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("%v; output %q", err, got)
			}
			if got != tc.want {
				t.Errorf("output %q, want %q", got, tc.want)
			}
		})
	}
}
