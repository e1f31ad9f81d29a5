package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tabula-dev/tabula/container"
	"github.com/tabula-dev/tabula/errdefs"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"ps", "logs", "start", "stop", "restart", "kill", "rm", "wait", "inspect", "exec", "container"},
		add: func(root *cobra.Command, g *globalOptions) {
			root.AddCommand(newPsCmd(g), newLogsCmd(g), newStartCmd(g), newStopCmd(g), newRestartCmd(g), newKillCmd(g),
				newRmCmd(g), newWaitCmd(g), newInspectContainerCmd(g), newExecCmd(g))
			ctr := &cobra.Command{
				Use:   "container",
				Short: "Manage containers",
				Args:  cobra.NoArgs,
				RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
			}
			ls := newPsCmd(g)
			ls.Use, ls.Aliases = "ls [flags]", []string{"list", "ps"}
			ctr.AddCommand(ls, newLogsCmd(g), newStartCmd(g), newStopCmd(g), newRestartCmd(g), newKillCmd(g), newRmCmd(g),
				newWaitCmd(g), newInspectContainerCmd(g), newExecCmd(g), newContainerPruneCmd(g))
			root.AddCommand(ctr)
		},
	})
}

func containersOf(g *globalOptions) *container.Containers {
	return &container.Containers{Root: g.root}
}

func newPsCmd(g *globalOptions) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var last int
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:   "ps [flags]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			match, err := parsePsFilters(filters)
			if err != nil {
				return err
			}
			recs, err := containersOf(g).List(cmd.Context())
			if err != nil {
				return err
			}
			if latest {
				last = 1
			}
			if last > 0 {
				all = true
				recs = recs[:min(last, len(recs))] // List is newest first
			}
			_, byStatus := match["status"]
			var shown []*container.Record
			for _, r := range recs {
				if (all || byStatus || r.State.Status == container.StatusRunning) && match.matches(r) {
					shown = append(shown, r)
				}
			}
			out := cmd.OutOrStdout()
			now := time.Now()
			id := func(r *container.Record) string {
				if noTrunc {
					return r.ID
				}
				return r.ID[:12]
			}
			switch {
			case quiet:
				for _, r := range shown {
					fmt.Fprintln(out, id(r))
				}
			case format == "json" || isTemplate(format):
				var rows []map[string]any
				for _, r := range shown {
					rows = append(rows, map[string]any{
						"ID": id(r), "Image": r.Config.Image, "Command": psCommand(r, false),
						"CreatedAt": r.Created.Format(time.RFC3339), "Status": psStatus(r, now),
						"State": r.State.Status, "Names": strings.TrimPrefix(r.Name, "/"),
						"Pid": r.State.Pid, "ExitCode": r.State.ExitCode,
					})
				}
				if format != "json" {
					return writeTemplate(out, format, rows)
				}
				return writeJSONLines(out, rows)
			case format == "" || format == "table":
				tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tNAMES")
				for _, r := range shown {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id(r), r.Config.Image, psCommand(r, !noTrunc),
						units.HumanDuration(now.Sub(r.Created))+" ago", psStatus(r, now), strings.TrimPrefix(r.Name, "/"))
				}
				return tw.Flush()
			default:
				return fmt.Errorf("--format %q: want table, json or a Go template such as '{{.Names}}': %w", format, errdefs.ErrInvalidArgument)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers, not only running ones")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only container IDs")
	cmd.Flags().StringVar(&format, "format", "", "output format: table, json or a Go template ('{{.ID}} {{.Status}}')")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate IDs and commands")
	cmd.Flags().IntVarP(&last, "last", "n", 0, "show the n last created containers (all states)")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "show the last created container (all states)")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: name=, id=, status=, ancestor=, exited= (repeat a key for any of its values)")
	return cmd
}

// psFilters are ps --filter's values by key: a container must match one
// value of every key, as Docker's filters combine.
type psFilters map[string][]string

func parsePsFilters(args []string) (psFilters, error) {
	f := psFilters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok:
			return nil, fmt.Errorf("--filter %q: want KEY=VALUE: %w", a, errdefs.ErrInvalidArgument)
		case k == "status" && !slices.Contains([]string{container.StatusCreated, container.StatusRunning, container.StatusExited}, v):
			return nil, fmt.Errorf("--filter %q: status is one of created, running, exited: %w", a, errdefs.ErrInvalidArgument)
		case k == "exited":
			if _, err := strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("--filter %q: exited takes an exit code: %w", a, errdefs.ErrInvalidArgument)
			}
		case k != "name" && k != "id" && k != "status" && k != "ancestor":
			return nil, fmt.Errorf("--filter %q: unknown key %s (name, id, status, ancestor, exited): %w", a, k, errdefs.ErrInvalidArgument)
		}
		f[k] = append(f[k], v)
	}
	return f, nil
}

func (f psFilters) matches(r *container.Record) bool {
	name := strings.TrimPrefix(r.Name, "/")
	image := strings.TrimPrefix(r.Image, "sha256:")
	test := map[string]func(v string) bool{
		"name":   func(v string) bool { return strings.Contains(name, v) },
		"id":     func(v string) bool { return strings.HasPrefix(r.ID, v) },
		"status": func(v string) bool { return r.State.Status == v },
		"ancestor": func(v string) bool {
			v = strings.TrimPrefix(v, "sha256:")
			return r.Config.Image == v || strings.TrimSuffix(r.Config.Image, ":latest") == strings.TrimSuffix(v, ":latest") ||
				(len(v) >= 4 && strings.HasPrefix(image, v))
		},
		"exited": func(v string) bool {
			return r.State.Status == container.StatusExited && strconv.Itoa(r.State.ExitCode) == v
		},
	}
	for k, values := range f {
		if !slices.ContainsFunc(values, test[k]) {
			return false
		}
	}
	return true
}

func psCommand(r *container.Record, truncate bool) string {
	s := strings.Join(append([]string{r.Path}, r.Args...), " ")
	if truncate && len(s) > 20 {
		s = s[:19] + "…"
	}
	return strconv.Quote(s)
}

func psStatus(r *container.Record, now time.Time) string {
	switch r.State.Status {
	case container.StatusRunning:
		return "Up " + units.HumanDuration(now.Sub(r.State.StartedAt))
	case container.StatusExited:
		if r.State.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", r.State.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", r.State.ExitCode, units.HumanDuration(now.Sub(r.State.FinishedAt)))
	}
	return "Created"
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	var o container.LogOptions
	var tail, since string
	cmd := &cobra.Command{
		Use:   "logs [flags] CONTAINER",
		Short: "Print the logs of a container (its stdout and stderr, by stream)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Tail = -1
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				o.Since = t
			}
			if tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil || n < 0 {
					return fmt.Errorf("--tail %q: want a number of lines or all: %w", tail, errdefs.ErrInvalidArgument)
				}
				o.Tail = n
			}
			c := containersOf(g)
			rec, err := c.Lookup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return c.Logs(cmd.Context(), rec, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "follow the log output")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().StringVar(&since, "since", "", "show the logs since a time (2026-01-02T15:04:05Z, a Unix time) or for a while (10m)")
	return cmd
}

// parseSince reads a logs --since value as Docker does: a duration back
// from now (10m, 1h30m), an RFC 3339 time with or without its zone (then
// UTC), a date, or a Unix time in seconds with an optional fraction.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	if secs, frac, _ := strings.Cut(v, "."); secs != "" {
		if sec, err := strconv.ParseInt(secs, 10, 64); err == nil {
			var nsec int64
			if frac != "" {
				f, err := strconv.ParseUint((frac + "000000000")[:9], 10, 64)
				if err != nil {
					return time.Time{}, fmt.Errorf("--since %q: not a time: %w", v, errdefs.ErrInvalidArgument)
				}
				nsec = int64(f)
			}
			return time.Unix(sec, nsec), nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (10m), an RFC 3339 time or a Unix time: %w", v, errdefs.ErrInvalidArgument)
}

// eachContainer runs fn on every named container, printing the name of each
// success as Docker does, and returns the errors joined.
func eachContainer(cmd *cobra.Command, g *globalOptions, refs []string, fn func(*container.Containers, *container.Record) error) error {
	c := containersOf(g)
	var errs []error
	for _, ref := range refs {
		rec, err := c.Lookup(cmd.Context(), ref)
		if err == nil {
			err = fn(c, rec)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), ref)
	}
	return errors.Join(errs...)
}

func newStartCmd(g *globalOptions) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:   "start [flags] CONTAINER...",
		Short: "Start created or stopped containers, with their writable layer, detached (-a: attached to one)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !attach && !interactive {
				return eachContainer(cmd, g, args, func(c *container.Containers, r *container.Record) error {
					return c.Start(cmd.Context(), r)
				})
			}
			if len(args) > 1 {
				return toolErr(fmt.Errorf("start -a takes one container, not %d: %w", len(args), errdefs.ErrInvalidArgument))
			}
			return toolErr(startAttached(cmd.Context(), containersOf(g), args[0], interactive))
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "run in the foreground: output passed through, signals relayed, its exit code tabula's")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "attached, with stdin too")
	return cmd
}

// startAttached starts container ref in the foreground, as run does, with
// stdin when interactive.
func startAttached(ctx context.Context, c *container.Containers, ref string, interactive bool) error {
	sigs := container.CatchSignals()
	defer sigs.Stop()
	rec, err := c.Lookup(ctx, ref)
	if err != nil {
		return err
	}
	stdio := container.Stdio{Out: os.Stdout, Err: os.Stderr, Signals: sigs}
	if interactive {
		stdio.In = os.Stdin
	}
	code, err := c.StartAttached(ctx, rec, stdio)
	if err != nil {
		return err
	}
	if code != 0 {
		return &container.ExitError{Code: code}
	}
	return nil
}

func newStopCmd(g *globalOptions) *cobra.Command {
	return newStopLikeCmd(g, "stop", "Stop containers: the stop signal, then SIGKILL after the timeout", false)
}

func newRestartCmd(g *globalOptions) *cobra.Command {
	return newStopLikeCmd(g, "restart", "Stop containers (the stop signal, then SIGKILL after the timeout) and start them again", true)
}

// newStopLikeCmd is stop, or with restart set restart, which then starts
// each container again.
func newStopLikeCmd(g *globalOptions, use, short string, restart bool) *cobra.Command {
	var timeout int
	cmd := &cobra.Command{
		Use:   use + " [flags] CONTAINER...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(cmd, g, args, func(c *container.Containers, r *container.Record) error {
				t := r.Config.StopTimeout
				if cmd.Flags().Changed("time") {
					t = timeout
				}
				if err := c.Stop(cmd.Context(), r, time.Duration(t)*time.Second); err != nil || !restart {
					return err
				}
				return c.Start(cmd.Context(), r)
			})
		},
	}
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	return cmd
}

func newKillCmd(g *globalOptions) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [flags] CONTAINER...",
		Short: "Send a signal (SIGKILL by default) to containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := container.ParseSignal(signal)
			if err != nil {
				return err
			}
			return eachContainer(cmd, g, args, func(c *container.Containers, r *container.Record) error {
				return c.Kill(cmd.Context(), r, sig)
			})
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "KILL", "signal to send")
	return cmd
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rm [flags] CONTAINER...",
		Short: "Remove containers: their processes, cgroups, mounts and files",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachContainer(cmd, g, args, func(c *container.Containers, r *container.Record) error {
				return c.Remove(cmd.Context(), r, force)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill and remove a running container")
	return cmd
}

func newContainerPruneCmd(g *globalOptions) *cobra.Command {
	return newPruneCmd("Remove every container that has exited",
		func(cmd *cobra.Command) error {
			return pruneContainers(cmd.Context(), containersOf(g), cmd.OutOrStdout())
		})
}

// pruneContainers removes the containers that have exited and prints
// their IDs as Docker does.
func pruneContainers(ctx context.Context, c *container.Containers, stdout io.Writer) error {
	recs, err := c.List(ctx)
	if err != nil {
		return err
	}
	var removed []string
	var errs []error
	for _, r := range recs {
		made := r.State.Status == container.StatusCreated && r.Monitor == 0 // by tabula create
		if r.State.Status != container.StatusExited && !made {
			continue // running, or being created or started by another tabula
		}
		if err := c.Remove(ctx, r, false); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r.ID)
	}
	if len(removed) > 0 {
		fmt.Fprintln(stdout, "Deleted Containers:")
		for _, id := range removed {
			fmt.Fprintln(stdout, id)
		}
		fmt.Fprintln(stdout)
	}
	return errors.Join(errs...)
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "Wait for containers to exit and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := containersOf(g)
			for _, ref := range args {
				rec, err := c.Lookup(cmd.Context(), ref)
				if err != nil {
					return err
				}
				code, err := c.Wait(cmd.Context(), rec)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), code)
			}
			return nil
		},
	}
}

func newInspectContainerCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [flags] CONTAINER|IMAGE...",
		Short: "Show containers' (or images') configuration and state as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := formatOption(format); err != nil {
				return err
			}
			c := containersOf(g)
			var out []any
			for _, ref := range args {
				rec, err := c.Lookup(cmd.Context(), ref)
				if errdefs.IsNotFound(err) {
					// Docker's inspect also takes images.
					if st, serr := openImageStore(g); serr == nil {
						if ii, ierr := inspectImage(cmd.Context(), st, ref); ierr == nil {
							out = append(out, ii)
							continue
						}
					}
				}
				if errdefs.IsNotFound(err) {
					return fmt.Errorf("no such container or image: %s (tabula ps -a and tabula images list them): %w", ref, errdefs.ErrNotFound)
				}
				if err != nil {
					return err
				}
				out = append(out, rec)
			}
			return writeInspect(cmd.OutOrStdout(), format, out)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "json or a Go template such as '{{.State.Pid}}'")
	return cmd
}

func newExecCmd(g *globalOptions) *cobra.Command {
	var o container.ExecOptions
	cmd := &cobra.Command{
		Use:   "exec [flags] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c := containersOf(g)
			rec, err := c.Lookup(cmd.Context(), args[0])
			if err != nil {
				return toolErr(err)
			}
			o.Cmd = args[1:]
			if o.Tty && !term.IsTerminal(int(os.Stdin.Fd())) {
				return toolErr(fmt.Errorf("-t: the input device is not a terminal: %w", errdefs.ErrInvalidArgument))
			}
			code, err := c.Exec(cmd.Context(), rec, o, container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
			if err != nil {
				return toolErr(err)
			}
			if code != 0 {
				return &container.ExitError{Code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&o.Tty, "tty", "t", false, "give the process a terminal")
	f.StringVarP(&o.User, "user", "u", "", "user and group to run as")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory")
	return cmd
}
