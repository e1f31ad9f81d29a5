package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/analyze"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/store"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"doctor"},
		add: func(root *cobra.Command, g *globalOptions) {
			root.AddCommand(newDoctorCmd(g))
		},
	})
}

type doctorOptions struct {
	format string
}

// findingsError makes the doctor exit 1 when it found errors.
type findingsError struct{ n int }

func (e findingsError) Error() string {
	if e.n == 1 {
		return "the doctor found 1 error"
	}
	return fmt.Sprintf("the doctor found %d errors", e.n)
}
func (findingsError) ExitCode() int { return 1 }

func newDoctorCmd(g *globalOptions) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor IMAGE|FILE...",
		Short: "Find what will make a scratch image fail at run time, and the fix",
		Long: `Doctor checks an image's command and every ELF executable in it against the
image's files and config: the loader and shared libraries, the architecture,
the entrypoint, a shell form without /bin/sh, the CA bundle for programs
that verify TLS, zoneinfo for programs that load time zones, USER against
/etc/passwd and /etc/group, and running as root. A FILE (a path on this
machine) is checked as if packed alone with tabula pack --auto=false; a
name that is both a file here and an image is the image (write ./NAME for
the file).
Each finding has a severity (error: the container will not start; warning:
the program fails when it uses the feature; info) and its fix, as
Dockerfile lines and as a tabula pack flag. The exit status is 1 when any
error is found.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd.Context(), g, o, args, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "text", "output format: text or json")
	return cmd
}

func runDoctor(ctx context.Context, g *globalOptions, o *doctorOptions, args []string, stdout io.Writer) error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("--format %q: want text or json: %w", o.format, errdefs.ErrInvalidArgument)
	}
	var st *store.Store
	var reports []analyze.Report
	for _, arg := range args {
		var r analyze.Report
		var err error
		if st == nil && !isPath(arg) {
			if st, err = store.Open(filepath.Join(g.root, "images")); err != nil {
				return err
			}
		}
		if isHostFile(ctx, st, arg) {
			r, err = doctorFile(ctx, arg)
		} else {
			r, err = doctorImage(ctx, st, arg)
		}
		if err != nil {
			return err
		}
		reports = append(reports, r)
	}
	errs := 0
	for _, r := range reports {
		errs += r.Count(analyze.Error)
	}
	if o.format == "json" {
		if err := analyze.WriteJSON(stdout, reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			if err := r.WriteText(stdout); err != nil {
				return err
			}
		}
	}
	if errs > 0 {
		return findingsError{errs}
	}
	return nil
}

// isPath reports whether arg can only be a path: it starts with /, ./ or ../.
func isPath(arg string) bool {
	return strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../")
}

// isHostFile decides what an argument names: a path (isPath) is a file; a
// name that is both a file here and an image of the store is the image, as
// docker's commands would take it (./NAME names the file).
func isHostFile(ctx context.Context, st *store.Store, arg string) bool {
	if isPath(arg) {
		return true
	}
	if _, err := os.Lstat(arg); err != nil {
		return false
	}
	_, err := st.Resolve(ctx, arg)
	return err != nil
}

// doctorImage checks an image of the store.
func doctorImage(ctx context.Context, st *store.Store, ref string) (analyze.Report, error) {
	e, img, err := st.ResolveImage(ctx, ref)
	if err != nil {
		if strings.ContainsAny(ref, "/.") {
			return analyze.Report{}, fmt.Errorf("%s is neither a file of this machine nor an image of the store: %w", ref, err)
		}
		return analyze.Report{}, err
	}
	name := ref
	if len(e.Names) > 0 {
		name = e.Names[0]
	}
	return analyze.CheckImage(ctx, name, img, analyze.Options{})
}

// doctorFile checks a host file as if `tabula pack --auto=false FILE` had
// packed it alone.
func doctorFile(ctx context.Context, file string) (analyze.Report, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return analyze.Report{}, fmt.Errorf("%s: %w", file, errNotFound(err))
	}
	if fi.IsDir() {
		return analyze.Report{}, fmt.Errorf("%s is a directory; give a binary or an image: %w", file, errdefs.ErrInvalidArgument)
	}
	o := &packOptions{user: fmt.Sprint(nonrootUID)}
	p, err := newPacker(o, time.Unix(0, 0), []string{file})
	if err != nil {
		return analyze.Report{}, err
	}
	if b := p.bins[0].bin; b == nil {
		f, err := os.Open(file)
		if err != nil {
			return analyze.Report{}, err
		}
		_, rerr := analyze.ReadBinary(f, fi.Size(), file)
		f.Close()
		if rerr != nil && !isScript(file) {
			return analyze.Report{}, rerr
		}
	}
	r, err := p.check(ctx)
	r.Name = file
	return r, err
}

// isScript reports whether the file starts with #!.
func isScript(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	n, _ := io.ReadFull(f, b[:])
	return n == 2 && string(b[:]) == "#!"
}
