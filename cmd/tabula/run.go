package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tabula-dev/tabula/container"
	"github.com/tabula-dev/tabula/store"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"run", "create", "debug"},
		add: func(root *cobra.Command, g *globalOptions) {
			root.AddCommand(newRunCmd(g), newCreateCmd(g), newDebugCmd(g))
		},
	})
}

// toolErr marks a failure of tabula itself (exit 125, as Docker's).
func toolErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*container.ExitError); ok {
		return err
	}
	return &container.ExitError{Code: 125, Err: err}
}

func newRunCmd(g *globalOptions) *cobra.Command {
	o := &container.Options{}
	cmd := newContainerCmd(o, "run [flags] IMAGE [COMMAND] [ARG...]", "Run a command in a new container",
		func(cmd *cobra.Command) error { return runContainer(cmd.Context(), g, o) })
	cmd.Flags().BoolVarP(&o.Detach, "detach", "d", false, "run in the background and print the container ID")
	return cmd
}

func newCreateCmd(g *globalOptions) *cobra.Command {
	o := &container.Options{}
	return newContainerCmd(o, "create [flags] IMAGE [COMMAND] [ARG...]", "Create a container that tabula start runs",
		func(cmd *cobra.Command) error {
			o.Detach = true // started later, by a monitor
			o.Create = true
			return runContainer(cmd.Context(), g, o)
		})
}

// newContainerCmd is run or create: the flags that shape a new container
// into o, then do.
func newContainerCmd(o *container.Options, use, short string, do func(cmd *cobra.Command) error) *cobra.Command {
	var entrypoint string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Image, o.Cmd = args[0], args[1:]
			if cmd.Flags().Changed("entrypoint") {
				o.Entrypoint = &entrypoint
			}
			return toolErr(do(cmd))
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&o.Remove, "rm", false, "remove the container when it exits")
	f.BoolVarP(&o.Interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&o.Tty, "tty", "t", false, "give the container a terminal")
	f.StringVar(&o.Name, "name", "", "name of the container")
	f.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to pass the host's)")
	f.StringArrayVar(&o.EnvFiles, "env-file", nil, "read environment variables from a file")
	f.StringVarP(&o.User, "user", "u", "", "user and group to run as: NAME|UID[:GROUP|GID]")
	f.StringVarP(&o.Workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&entrypoint, "entrypoint", "", "override the image's ENTRYPOINT")
	f.StringArrayVarP(&o.Volumes, "volume", "v", nil, "bind mount HOST-PATH:CONTAINER-PATH[:ro]")
	f.StringArrayVar(&o.Tmpfs, "tmpfs", nil, "mount a tmpfs at PATH[:OPTIONS]")
	f.BoolVar(&o.ReadOnly, "read-only", false, "mount the root filesystem read-only")
	f.StringVar(&o.Hostname, "hostname", "", "container host name")
	f.StringVar(&o.Network, "network", "none", "network: none or host")
	f.StringVar(&o.Pid, "pid", "", "PID namespace: host or container:NAME")
	f.StringVar(&o.Ipc, "ipc", "", "IPC namespace: host or container:NAME")
	f.StringArrayVar(&o.CapAdd, "cap-add", nil, "add a capability")
	f.StringArrayVar(&o.CapDrop, "cap-drop", nil, "drop a capability")
	f.BoolVar(&o.Privileged, "privileged", false, "give the container every capability, no seccomp, no masked paths")
	f.StringArrayVar(&o.SecurityOpt, "security-opt", nil, "no-new-privileges, seccomp=unconfined or seccomp=FILE")
	f.BoolVar(&o.Init, "init", false, "run a small init as PID 1 that forwards signals and reaps zombies")
	f.StringArrayVar(&o.Ulimits, "ulimit", nil, "resource limit NAME=SOFT[:HARD]")
	f.StringVar(&o.StopSignal, "stop-signal", "", "signal that stops the container (default SIGTERM or the image's)")
	f.IntVar(&o.StopTimeout, "stop-timeout", -1, "seconds to wait after the stop signal before SIGKILL (-1: 10)")
	f.StringVarP(&o.Memory, "memory", "m", "", "memory limit (e.g. 64m)")
	f.StringVar(&o.CPUs, "cpus", "", "number of CPUs (e.g. 0.5)")
	f.Int64Var(&o.PidsLimit, "pids-limit", 0, "maximum number of processes (-1 for no limit)")
	return cmd
}

func openStore(g *globalOptions) (*store.Store, error) {
	return store.Open(filepath.Join(g.root, "images"))
}

func runContainer(ctx context.Context, g *globalOptions, o *container.Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	var sigs *container.Signals
	if !o.Detach {
		// Caught from now on (registering them takes a while, which the
		// image and the container's preparation overlap), relayed once it
		// runs.
		sigs = container.CatchSignals()
		defer sigs.Stop()
	}
	if o.Tty {
		if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
			o.ConsoleSize = &specs.Box{Width: uint(w), Height: uint(h)}
		}
	}
	c := &container.Containers{Root: g.root}
	joined := container.Joined{}
	for _, m := range []struct {
		flag, val string
		typ       specs.LinuxNamespaceType
	}{{"--pid", o.Pid, specs.PIDNamespace}, {"--ipc", o.Ipc, specs.IPCNamespace}} {
		name, ok := strings.CutPrefix(m.val, "container:")
		if !ok {
			continue
		}
		target, err := c.Lookup(ctx, name)
		if err != nil {
			return fmt.Errorf("%s %s: %w", m.flag, m.val, err)
		}
		pid, err := container.Joinable(target, m.flag+" "+m.val)
		if err != nil {
			return err
		}
		joined[m.typ] = pid
	}
	st, err := openStore(g)
	if err != nil {
		return err
	}
	img, err := st.Image(ctx, o.Image)
	if err != nil {
		return err
	}
	src, err := c.ImageSource(ctx, o.Image, img)
	if err != nil {
		return err
	}
	return startContainer(ctx, c, src, o, joined, sigs)
}

// startContainer creates and starts a container; sigs, for a foreground
// one, are the signals to relay to it.
func startContainer(ctx context.Context, c *container.Containers, src *container.Source, o *container.Options, joined container.Joined, sigs *container.Signals) error {
	rec, err := c.Create(ctx, src, o, joined)
	if err != nil {
		return err
	}
	if o.Create {
		if err := c.Register(ctx, rec); err != nil {
			return err
		}
		fmt.Println(rec.ID)
		return nil
	}
	if o.Detach {
		if err := c.StartDetached(ctx, rec); err != nil {
			return err
		}
		fmt.Println(rec.ID)
		return nil
	}
	code, err := c.Run(ctx, rec, container.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr, Signals: sigs})
	if err != nil {
		return err
	}
	if code != 0 {
		return &container.ExitError{Code: code}
	}
	return nil
}

func newDebugCmd(g *globalOptions) *cobra.Command {
	var image string
	cmd := &cobra.Command{
		Use:   "debug [flags] CONTAINER [COMMAND] [ARG...]",
		Short: "Run a toolbox in a running container's PID, network, IPC and UTS namespaces",
		Long: "debug starts a toolbox container that shares the target's PID, network, IPC and UTS\n" +
			"namespaces: the target's PID 1 is PID 1 there too, and /proc/1/root is its filesystem.\n" +
			"Without --image the toolbox is the host's static busybox (apt install busybox-static).",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			sigs := container.CatchSignals() // relayed to the toolbox
			defer sigs.Stop()
			c := &container.Containers{Root: g.root}
			target, err := c.Lookup(ctx, args[0])
			if err != nil {
				return toolErr(err)
			}
			pid, err := container.Joinable(target, "debug")
			if err != nil {
				return toolErr(err)
			}
			var src *container.Source
			if image != "" {
				st, err := openStore(g)
				if err != nil {
					return toolErr(err)
				}
				img, err := st.Image(ctx, image)
				if err != nil {
					return toolErr(err)
				}
				if src, err = c.ImageSource(ctx, image, img); err != nil {
					return toolErr(err)
				}
			} else if src, err = c.BusyboxToolbox(ctx, container.HostBusybox); err != nil {
				return toolErr(err)
			}
			tty := term.IsTerminal(int(os.Stdin.Fd()))
			o := &container.Options{
				Cmd: args[1:], Interactive: true, Tty: tty, Remove: true,
				CapAdd: []string{"SYS_PTRACE"}, StopTimeout: -1,
			}
			if tty {
				if w, h, err := term.GetSize(int(os.Stdin.Fd())); err == nil {
					o.ConsoleSize = &specs.Box{Width: uint(w), Height: uint(h)}
				}
			}
			joined := container.Joined{
				specs.PIDNamespace: pid, specs.NetworkNamespace: pid,
				specs.IPCNamespace: pid, specs.UTSNamespace: pid,
			}
			return toolErr(startContainer(ctx, c, src, o, joined, sigs))
		},
	}
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().StringVar(&image, "image", "", "image to use as the toolbox instead of the host's busybox")
	return cmd
}
