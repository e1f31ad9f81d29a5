package main

import (
	"io"
	"slices"
	"testing"

	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/cmd/tabula/internal/interrupt"
	"github.com/tabula-dev/tabula/container"
)

// Each group declares the top-level names it adds: newRootCmd makes only
// the group of the command named on the command line.
func TestCommandGroupNames(t *testing.T) {
	seen := map[string]bool{}
	for _, grp := range commandGroups {
		root := &cobra.Command{Use: "tabula"}
		grp.add(root, &globalOptions{})
		var added []string
		for _, c := range root.Commands() {
			added = append(added, c.Name())
			added = append(added, c.Aliases...)
		}
		slices.Sort(added)
		names := slices.Sorted(slices.Values(grp.names))
		if !slices.Equal(added, names) {
			t.Errorf("a group declares %v but adds %v", names, added)
		}
		for _, n := range grp.names {
			if seen[n] {
				t.Errorf("%q is in two groups", n)
			}
			seen[n] = true
		}
	}
}

func TestRootMakesTheNamedGroup(t *testing.T) {
	for _, tc := range []struct {
		args []string
		has  []string // commands the root must have
		not  []string // and must not
	}{
		{[]string{"run", "--rm", "hello"}, []string{"run", "debug", "version"}, []string{"build", "ps"}},
		{[]string{"--root", "/x", "--log-level", "debug", "ps", "-a"}, []string{"ps", "exec", "container"}, []string{"run", "images"}},
		{[]string{"--root=/x", "images"}, []string{"images", "rmi"}, []string{"ps"}},
		{[]string{"--root", "run", "build", "."}, []string{"build"}, []string{"run"}}, // "run" is the root's value
		{[]string{"help", "run"}, []string{"run", "build", "ps", "images", "system"}, nil},
		{[]string{"--help"}, []string{"run", "build", "ps", "images", "system", "pack", "doctor"}, nil},
		{[]string{"bulid"}, []string{"run", "build"}, nil}, // a typo gets cobra's suggestions from all
		{nil, []string{"run", "build", "ps"}, nil},
	} {
		root := newRootCmd(io.Discard, io.Discard, tc.args)
		for _, n := range tc.has {
			if c, _, err := root.Find([]string{n}); err != nil || c == root {
				t.Errorf("args %q: no command %q", tc.args, n)
			}
		}
		for _, n := range tc.not {
			if c, _, err := root.Find([]string{n}); err == nil && c != root {
				t.Errorf("args %q: command %q made too", tc.args, n)
			}
		}
	}
}

// The interrupt package, which imports nothing of tabula's so as to start
// registering signals early, keeps its own copies of what container names.
func TestInterruptAgreesWithContainer(t *testing.T) {
	if !slices.Equal(interrupt.Relayed, container.ForwardedSignals) {
		t.Errorf("interrupt.Relayed = %v, container.ForwardedSignals = %v", interrupt.Relayed, container.ForwardedSignals)
	}
	helpers := []string{container.MonitorName, container.StarterName, container.ReaperName}
	if !slices.Equal(interrupt.Reexecuted, helpers) {
		t.Errorf("interrupt.Reexecuted = %v, container's helpers are %v", interrupt.Reexecuted, helpers)
	}
}
