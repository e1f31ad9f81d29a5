// Command tabula builds, checks, ships and runs FROM scratch containers.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/cmd/tabula/internal/interrupt"
	"github.com/tabula-dev/tabula/errdefs"
)

// version is set at link time with -ldflags "-X main.version=…".
var version = "dev"

// globalOptions are the flags every command shares.
type globalOptions struct {
	root     string
	logLevel string
}

// defaultRoot is /var/lib/tabula for root and $XDG_DATA_HOME/tabula otherwise.
func defaultRoot() string {
	if os.Geteuid() == 0 {
		return "/var/lib/tabula"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tabula")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "share", "tabula")
}

// newRootCmd makes the root command. When args (the command line, without
// the program name) names a command, only the group of commands it is in
// is made, as nothing else can run: making all takes a quarter of a
// millisecond. Otherwise, for help, completion or a mistyped name, all
// are.
func newRootCmd(stdout, stderr io.Writer, args []string) *cobra.Command {
	g := &globalOptions{}
	cmd := &cobra.Command{
		Use:           "tabula",
		Short:         "Build, check, ship and run FROM scratch containers",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
				return fmt.Errorf("--log-level %q: want debug, info, warn or error: %w", g.logLevel, errdefs.ErrInvalidArgument)
			}
			// Containers name their files by absolute paths (mount sources,
			// the helpers' command lines), which a relative root would
			// resolve against another directory.
			root, err := filepath.Abs(g.root)
			if err != nil {
				return fmt.Errorf("--root %q: %w", g.root, err)
			}
			g.root = root
			slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
			return nil
		},
	}
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.PersistentFlags().StringVar(&g.root, "root", defaultRoot(), "directory of tabula's images, layers and containers")
	cmd.PersistentFlags().StringVar(&g.logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	cmd.AddCommand(newVersionCmd())
	name := interrupt.CommandName(args)
	known := slices.ContainsFunc(commandGroups, func(grp commandGroup) bool { return slices.Contains(grp.names, name) })
	for _, grp := range commandGroups {
		if !known || slices.Contains(grp.names, name) {
			grp.add(cmd, g)
		}
	}
	return cmd
}

// commandGroup is the commands a file adds to the root: their names (and
// aliases) at the top level, and the function adding them.
type commandGroup struct {
	names []string
	add   func(root *cobra.Command, g *globalOptions)
}

// commandGroups lists each file's commands. Every command file appends to
// it from an init function, so the files stay independent of one another.
var commandGroups []commandGroup

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print tabula's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "tabula %s\n", version)
			return nil
		},
	}
}

// exitCoder is an error that carries the process exit status, such as a
// container's exit code passed through by `tabula run`.
type exitCoder interface{ ExitCode() int }

// exitCode maps an error to the status tabula exits with and prints it.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(stderr, "tabula: %s\n", msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintf(stderr, "tabula: %s\n", err)
	switch {
	case errors.Is(err, errdefs.ErrInvalidArgument), errors.Is(err, errdefs.ErrNotFound):
		return 125
	case errors.Is(err, context.Canceled):
		return 130
	}
	return 1
}

func main() {
	if reexec() {
		return
	}
	ctx, stop := interrupt.Context()
	defer stop()
	err := newRootCmd(os.Stdout, os.Stderr, os.Args[1:]).ExecuteContext(ctx)
	os.Exit(exitCode(os.Stderr, err))
}
