package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/archive"
	"github.com/tabula-dev/tabula/build"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
	"github.com/tabula-dev/tabula/store"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"build"},
		add: func(root *cobra.Command, g *globalOptions) {
			root.AddCommand(newBuildCmd(g))
		},
	})
}

// buildOptions are the flags of `tabula build`.
type buildOptions struct {
	tags        []string
	file        string
	buildArgs   []string
	target      string
	labels      []string
	noCache     bool
	quiet       bool
	iidfile     string
	timestamp   string
	compression string
	outputs     []string
	check       string
}

// output is one -o type=…,dest=… value.
type output struct {
	format string // "oci" or "docker"
	dest   string
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Long: `Build an image from a Dockerfile and store it under the --root.

The build is reproducible: the same context and Dockerfile give the same image
digest on any machine. Every file is owned by 0:0 unless --chown says otherwise,
and every mtime and the config's created time come from --timestamp, else
SOURCE_DATE_EPOCH, else the Unix epoch.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name and optionally a tag (NAME[:TAG]); repeatable")
	f.StringVarP(&o.file, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile; - reads it from stdin)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "build-time variable K=V (K alone takes it from the environment); repeatable")
	f.StringVar(&o.target, "target", "", "the stage to build (default the last)")
	f.StringArrayVar(&o.labels, "label", nil, "label K=V for the image; repeatable")
	f.BoolVar(&o.noCache, "no-cache", false, "build every step again, without the step cache")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the image ID")
	f.StringVar(&o.iidfile, "iidfile", "", "write the image ID to this file")
	f.StringVar(&o.timestamp, "timestamp", "", "Unix time for every file's mtime and the image's created time (default $SOURCE_DATE_EPOCH, else 0)")
	f.StringVar(&o.compression, "compression", "gzip", "layer compression: gzip or zstd")
	f.StringArrayVarP(&o.outputs, "output", "o", nil, "also write the image as an archive: type=oci|docker,dest=FILE")
	f.StringVar(&o.check, "check", "", checkFlagHelp)
	return cmd
}

func runBuild(cmd *cobra.Command, g *globalOptions, o *buildOptions, contextDir string) error {
	ctx := cmd.Context()
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()

	names := make([]string, 0, len(o.tags))
	for _, t := range o.tags {
		n, err := store.NormalizeName(t)
		if err != nil {
			return fmt.Errorf("-t %s: %w", t, err)
		}
		names = append(names, n)
	}
	buildArgs, err := keyValues("--build-arg", o.buildArgs, true)
	if err != nil {
		return err
	}
	labels, err := keyValues("--label", o.labels, false)
	if err != nil {
		return err
	}
	ts, err := buildTimestamp(o.timestamp)
	if err != nil {
		return err
	}
	var compression layer.Compression
	switch o.compression {
	case "gzip", "":
		compression = layer.Gzip
	case "zstd":
		compression = layer.Zstd
	default:
		return fmt.Errorf("--compression %q: want gzip or zstd: %w", o.compression, errdefs.ErrInvalidArgument)
	}
	check, err := parseBuildCheck(o.check)
	if err != nil {
		return err
	}
	var outputs []output
	for _, v := range o.outputs {
		out, err := parseOutput(v)
		if err != nil {
			return err
		}
		outputs = append(outputs, out)
	}

	if fi, err := os.Stat(contextDir); err != nil || !fi.IsDir() {
		return fmt.Errorf("build context %s: no such directory: %w", contextDir, errdefs.ErrNotFound)
	}
	dfName, dfPath := "Dockerfile", filepath.Join(contextDir, "Dockerfile")
	if o.file != "" && o.file != "-" {
		dfName, dfPath = o.file, o.file
	}
	var df []byte
	if o.file == "-" {
		df, err = io.ReadAll(cmd.InOrStdin())
	} else {
		df, err = os.ReadFile(dfPath)
	}
	if err != nil {
		return fmt.Errorf("read the Dockerfile: %v (give one with -f): %w", err, errdefs.ErrInvalidArgument)
	}

	st, err := store.Open(filepath.Join(g.root, "images"))
	if err != nil {
		return err
	}
	progress := stderr
	if o.quiet {
		progress = io.Discard
	}
	ignoreFile := ""
	if o.file != "" && o.file != "-" {
		ignoreFile = o.file + ".dockerignore"
	}
	res, err := build.Build(ctx, build.Options{
		ContextDir:     contextDir,
		IgnoreFile:     ignoreFile,
		Dockerfile:     df,
		DockerfileName: dfName,
		BuildArgs:      buildArgs,
		Target:         o.target,
		Labels:         labels,
		Timestamp:      ts,
		Compression:    compression,
		Images:         st,
		CacheDir:       filepath.Join(g.root, "cache"),
		NoCache:        o.noCache,
		Progress:       progress,
	})
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // interrupted: store nothing
	}
	if err := check.run(ctx, stderr, o.quiet, filepath.Join(g.root, "cache"), res.Image, checkedName(o.tags, res.ID)); err != nil {
		return err // the image fails --check: store nothing
	}
	start := time.Now()
	step := res.Steps + 1
	fmt.Fprintf(progress, "#%d exporting to image\n", step)
	if _, err := st.Write(ctx, res.Image, names...); err != nil {
		return fmt.Errorf("store the image: %w", err)
	}
	fmt.Fprintf(progress, "#%d writing image %s done\n", step, res.ID)
	for _, n := range names {
		fmt.Fprintf(progress, "#%d naming to %s done\n", step, n)
	}
	fmt.Fprintf(progress, "#%d DONE %.1fs\n", step, time.Since(start).Seconds())
	for _, out := range outputs {
		if err := writeOutput(cmd, out, res, names); err != nil {
			return err
		}
	}
	if o.iidfile != "" {
		if err := os.WriteFile(o.iidfile, []byte(res.ID.String()), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	for _, out := range outputs {
		if out.dest == "-" {
			return nil // stdout holds the archive
		}
	}
	fmt.Fprintln(stdout, res.ID)
	return nil
}

// keyValues parses K=V flags; with fromEnv, a bare K takes its value from
// the environment (and is dropped when unset), as docker build does.
func keyValues(flag string, values []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: want KEY=VALUE: %w", flag, v, errdefs.ErrInvalidArgument)
		}
		if !ok {
			if !fromEnv {
				return nil, fmt.Errorf("%s %q: want KEY=VALUE: %w", flag, v, errdefs.ErrInvalidArgument)
			}
			env, set := os.LookupEnv(k)
			if !set {
				continue
			}
			val = env
		}
		out[k] = val
	}
	return out, nil
}

// buildTimestamp is --timestamp, else SOURCE_DATE_EPOCH, else the epoch.
func buildTimestamp(flag string) (time.Time, error) {
	v, what := flag, "--timestamp"
	if v == "" {
		v, what = os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
	}
	if v == "" {
		return time.Unix(0, 0), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("%s %q: want seconds since the Unix epoch: %w", what, v, errdefs.ErrInvalidArgument)
	}
	return time.Unix(n, 0), nil
}

// parseOutput parses -o type=oci|docker,dest=FILE.
func parseOutput(v string) (output, error) {
	var out output
	for _, field := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(field, "=")
		switch k {
		case "type":
			out.format = val
		case "dest":
			out.dest = val
		default:
			return out, fmt.Errorf("-o %s: unknown field %q: want type=oci|docker,dest=FILE: %w", v, k, errdefs.ErrInvalidArgument)
		}
	}
	if out.format != "oci" && out.format != "docker" {
		return out, fmt.Errorf("-o %s: type %q: want oci or docker: %w", v, out.format, errdefs.ErrInvalidArgument)
	}
	if out.dest == "" {
		return out, fmt.Errorf("-o %s: dest=FILE is missing: %w", v, errdefs.ErrInvalidArgument)
	}
	return out, nil
}

// writeOutput writes the image as an archive for -o, under each of its
// names (untagged when it has none); the file appears only once complete.
func writeOutput(cmd *cobra.Command, out output, res *build.Result, names []string) error {
	format, err := archive.ParseFormat(out.format)
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	var images []archive.Named
	for _, n := range names {
		images = append(images, archive.Named{Name: n, Image: res.Image})
	}
	if len(images) == 0 {
		images = []archive.Named{{Image: res.Image}}
	}
	if out.dest == "-" {
		return archive.Save(cmd.Context(), cmd.OutOrStdout(), format, images)
	}
	dir := filepath.Dir(out.dest)
	f, err := os.CreateTemp(dir, ".tabula-output-*")
	if err != nil {
		return fmt.Errorf("-o dest=%s: %w", out.dest, err)
	}
	defer os.Remove(f.Name())
	if err := archive.Save(cmd.Context(), f, format, images); err != nil {
		f.Close()
		return fmt.Errorf("-o dest=%s: %w", out.dest, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("-o dest=%s: %w", out.dest, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), out.dest)
}
