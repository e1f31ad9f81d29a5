package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/tabula-dev/tabula/dockerfile"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
)

// gzipLevel is the level of gzip layers: fast, for builds in milliseconds,
// and fixed, so that the same files always give the same blob.
const gzipLevel = 2

// Images is where FROM and COPY --from find images that are not stages of
// the Dockerfile; *store.Store is one.
type Images interface {
	Image(ctx context.Context, ref string) (v1.Image, error)
}

// Options shape a build.
type Options struct {
	// ContextDir is the build context.
	ContextDir string
	// IgnoreFile, when it exists, replaces the context's .dockerignore
	// (Docker reads NAME.dockerignore beside a Dockerfile named NAME).
	IgnoreFile string
	// Dockerfile is the Dockerfile's content; DockerfileName is how errors
	// name it ("Dockerfile" when empty).
	Dockerfile     []byte
	DockerfileName string
	BuildArgs      map[string]string
	// Target is the stage to build; the last when empty.
	Target string
	// Labels are added to the image's config.
	Labels map[string]string
	// Timestamp is every file's mtime and the config's created time; the zero
	// value means the Unix epoch.
	Timestamp time.Time
	// Compression of the layers (gzip when empty).
	Compression layer.Compression
	// Images resolves FROM and COPY --from images; nil means none.
	Images Images
	// CacheDir holds the step cache (<root>/cache); empty disables it.
	CacheDir string
	// NoCache builds every step again and records nothing in the cache.
	NoCache bool
	// TempDir holds temporary files (os.TempDir() when empty).
	TempDir string
	// Progress receives Docker-style plain progress lines; nil is quiet.
	Progress io.Writer
	// HTTPClient downloads ADD URLs (http.DefaultClient when nil).
	HTTPClient *http.Client
}

// Result is a built image.
type Result struct {
	Image v1.Image
	// ID is the config digest, the image ID.
	ID v1.Hash
	// Steps is the number of progress steps printed ("#1" to "#Steps").
	Steps int
}

// state is a stage being built.
type state struct {
	stage  *dockerfile.Stage
	base   v1.Image
	cfg    *v1.ConfigFile
	layers []v1.Layer
	tree   *tree
	cmdSet bool
	img    v1.Image
	steps  int // filesystem steps, for progress
	step   int
}

type builder struct {
	opts     Options
	df       *dockerfile.Dockerfile
	bctx     *buildContext
	cache    *stepCache
	ts       time.Time
	sp       *spool
	states   map[*dockerfile.Stage]*state
	images   map[string]*imageSource
	progress io.Writer
	n        int // progress step counter
	multi    bool
}

// imageSource is an image FROM or COPY --from uses, with its tree once read.
type imageSource struct {
	img  v1.Image
	cfg  *v1.ConfigFile
	tree *tree
}

// Build runs the Dockerfile's stages up to the target and returns the image.
// It writes nothing but the step cache; the caller stores the image.
func Build(ctx context.Context, opts Options) (*Result, error) {
	b := &builder{
		opts:     opts,
		ts:       opts.Timestamp,
		states:   map[*dockerfile.Stage]*state{},
		images:   map[string]*imageSource{},
		progress: opts.Progress,
	}
	if b.ts.IsZero() {
		b.ts = time.Unix(0, 0)
	}
	b.ts = b.ts.UTC().Truncate(time.Second)
	if opts.Compression == "" {
		b.opts.Compression = layer.Gzip
	}
	if opts.CacheDir != "" && !opts.NoCache {
		b.cache = &stepCache{dir: opts.CacheDir}
	}
	if b.progress == nil {
		b.progress = io.Discard
	}
	var err error
	if b.bctx, err = openContext(opts.ContextDir, opts.IgnoreFile); err != nil {
		return nil, err
	}
	b.step("[internal] load build definition from %s", nameOr(opts.DockerfileName))
	b.df, err = dockerfile.Parse(bytes.NewReader(opts.Dockerfile), dockerfile.Options{
		Name:      opts.DockerfileName,
		BuildArgs: opts.BuildArgs,
		Target:    opts.Target,
		ImageEnv: func(ref string) ([]string, error) {
			src, err := b.image(ctx, ref, false)
			if err != nil {
				return nil, err
			}
			return src.cfg.Config.Env, nil
		},
		ImageOnBuild: func(ref string) ([]string, error) {
			src, err := b.image(ctx, ref, false)
			if err != nil {
				return nil, err
			}
			return src.cfg.Config.OnBuild, nil
		},
	})
	if err != nil {
		return nil, err
	}
	b.done(time.Now(), false)
	if len(b.df.UnusedArgs) > 0 {
		fmt.Fprintf(b.progress, "[Warning] One or more build-args [%s] were not consumed\n", strings.Join(b.df.UnusedArgs, " "))
	}
	needed := 0
	for _, s := range b.df.Stages {
		if s.Needed {
			needed++
		}
	}
	b.multi = needed > 1
	b.sp = &spool{dir: opts.TempDir}
	defer b.sp.Close()

	st, err := b.buildStage(ctx, b.df.Target)
	if err != nil {
		return nil, err
	}
	img := st.img
	if len(opts.Labels) > 0 {
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, err
		}
		cfg = cfg.DeepCopy()
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		for k, v := range opts.Labels {
			cfg.Config.Labels[k] = v
		}
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			return nil, err
		}
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return &Result{Image: img, ID: id, Steps: b.n}, nil
}

func nameOr(n string) string {
	if n == "" {
		return "Dockerfile"
	}
	return n
}

// step prints the start of a progress step and returns its number.
func (b *builder) step(format string, args ...any) int {
	b.n++
	fmt.Fprintf(b.progress, "#%d %s\n", b.n, fmt.Sprintf(format, args...))
	return b.n
}

func (b *builder) done(start time.Time, cached bool) {
	if cached {
		fmt.Fprintf(b.progress, "#%d CACHED\n", b.n)
		return
	}
	fmt.Fprintf(b.progress, "#%d DONE %.1fs\n", b.n, time.Since(start).Seconds())
}

// image loads an image named by FROM or COPY --from, with its tree when
// withTree is set.
func (b *builder) image(ctx context.Context, ref string, withTree bool) (*imageSource, error) {
	src, ok := b.images[ref]
	if !ok {
		if b.opts.Images == nil {
			return nil, fmt.Errorf("image %s: tabula builds only from scratch, stages and images in its store: %w", ref, errdefs.ErrNotFound)
		}
		img, err := b.opts.Images.Image(ctx, ref)
		if err != nil {
			if errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("no image %s in the local store; tabula does not pull: build it, or load it (docker save %s | tabula load): %w", ref, ref, errdefs.ErrNotFound)
			}
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("image %s: read its config: %w", ref, err)
		}
		src = &imageSource{img: img, cfg: cfg}
		b.images[ref] = src
	}
	if withTree && src.tree == nil {
		t, err := imageTree(ctx, src.img, b.sp)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
		src.tree = t
	}
	return src, nil
}

// buildStage builds s (once) after the stages it depends on.
func (b *builder) buildStage(ctx context.Context, s *dockerfile.Stage) (*state, error) {
	if st, ok := b.states[s]; ok {
		if st.img == nil {
			return nil, b.df.Errorf(s.Line, "stage %s depends on itself", s.Ref())
		}
		return st, nil
	}
	st := &state{stage: s}
	b.states[s] = st
	for _, in := range s.Instructions {
		switch in.Command.(type) {
		case *instructions.CopyCommand, *instructions.AddCommand, *instructions.WorkdirCommand:
			st.steps++
		}
	}
	switch {
	case s.Base == "scratch":
		st.base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		st.cfg = &v1.ConfigFile{
			Architecture: runtime.GOARCH,
			OS:           "linux",
			RootFS:       v1.RootFS{Type: "layers"},
			Config:       v1.Config{Env: []string{dockerfile.DefaultPath}},
		}
		if s.Platform != "" {
			// FROM --platform=os/arch[/variant] scratch says what the image is for.
			parts := strings.Split(s.Platform, "/")
			if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
				return nil, b.df.Errorf(s.Line, "FROM --platform=%s: want os/arch[/variant]", s.Platform)
			}
			st.cfg.OS, st.cfg.Architecture = parts[0], parts[1]
			if len(parts) == 3 {
				st.cfg.Variant = parts[2]
			}
		}
		st.tree = newTree()
	case s.BaseStage != nil:
		base, err := b.buildStage(ctx, s.BaseStage)
		if err != nil {
			return nil, err
		}
		st.base = base.img
		cfg, err := base.img.ConfigFile()
		if err != nil {
			return nil, err
		}
		st.cfg = cfg.DeepCopy()
		st.tree = base.tree.clone()
	default:
		st.steps++
		start := time.Now()
		b.step("[%s1/%d] FROM %s", b.stagePrefix(s), st.steps, s.Base)
		st.step++
		src, err := b.image(ctx, s.Base, true)
		if err != nil {
			return nil, b.df.At(s.Line, err)
		}
		st.base = mutate.ConfigMediaType(mutate.MediaType(src.img, types.OCIManifestSchema1), types.OCIConfigJSON)
		st.cfg = src.cfg.DeepCopy()
		st.cfg.Config.OnBuild = nil // the triggers ran in this stage; they do not pass on
		st.tree = src.tree.clone()
		b.done(start, false)
	}
	st.cfg.Config.Labels = copyMap(st.cfg.Config.Labels)
	for _, in := range s.Instructions {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := b.run(ctx, st, in); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, b.df.At(in.Line, err)
		}
	}
	img, err := b.finish(st)
	if err != nil {
		return nil, err
	}
	st.img = img
	return st, nil
}

func (b *builder) stagePrefix(s *dockerfile.Stage) string {
	if !b.multi {
		return ""
	}
	if s.Name != "" {
		return s.Name + " "
	}
	return "stage-" + strconv.Itoa(s.Index) + " "
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// finish makes the stage's image: its base, the layers added, the config.
func (b *builder) finish(st *state) (v1.Image, error) {
	img, err := mutate.AppendLayers(st.base, st.layers...)
	if err != nil {
		return nil, err
	}
	cfg := st.cfg
	cfg.Created = v1.Time{Time: b.ts}
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = nil
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range ls {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
	}
	return mutate.ConfigFile(img, cfg)
}

// history records an instruction in the config.
func (b *builder) history(st *state, in *dockerfile.Instruction, empty bool) {
	st.cfg.History = append(st.cfg.History, v1.History{
		Created:    v1.Time{Time: b.ts},
		CreatedBy:  in.Text,
		Comment:    "tabula",
		EmptyLayer: empty,
	})
}

// run executes one instruction.
func (b *builder) run(ctx context.Context, st *state, in *dockerfile.Instruction) error {
	c := &st.cfg.Config
	switch cmd := in.Command.(type) {
	case *instructions.CopyCommand:
		return b.copyStep(ctx, st, in, copyOp{
			srcs: cmd.SourcePaths, contents: cmd.SourceContents, dest: cmd.DestPath,
			from: cmd.From, fromStage: in.FromStage, chown: cmd.Chown, chmod: cmd.Chmod, excludes: cmd.ExcludePatterns,
		})
	case *instructions.AddCommand:
		return b.copyStep(ctx, st, in, copyOp{
			add: true, srcs: cmd.SourcePaths, contents: cmd.SourceContents, dest: cmd.DestPath,
			chown: cmd.Chown, chmod: cmd.Chmod, checksum: cmd.Checksum, excludes: cmd.ExcludePatterns, unpack: cmd.Unpack,
		})
	case *instructions.WorkdirCommand:
		return b.workdir(ctx, st, in, cmd.Path)
	case *instructions.ArgCommand:
		return nil
	case *instructions.EnvCommand:
		for _, kv := range cmd.Env {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		for _, kv := range cmd.Labels {
			c.Labels[kv.Key] = kv.Value
		}
	case *instructions.UserCommand:
		c.User = cmd.User
	case *instructions.ExposeCommand:
		ports, err := exposedPorts(cmd.Ports)
		if err != nil {
			return err
		}
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			c.ExposedPorts[p] = struct{}{}
		}
	case *instructions.CmdCommand:
		c.Cmd = b.commandLine(st, cmd.ShellDependantCmdLine)
		st.cmdSet = true
	case *instructions.EntrypointCommand:
		c.Entrypoint = b.commandLine(st, cmd.ShellDependantCmdLine)
		if !st.cmdSet {
			c.Cmd = nil
		}
	case *instructions.ShellCommand:
		c.Shell = append([]string(nil), cmd.Shell...)
	case *instructions.StopSignalCommand:
		if err := checkSignal(cmd.Signal); err != nil {
			return err
		}
		c.StopSignal = cmd.Signal
	case *instructions.VolumeCommand:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range cmd.Volumes {
			if strings.TrimSpace(v) == "" {
				return errors.New("VOLUME names an empty path")
			}
			c.Volumes[v] = struct{}{}
		}
	case *instructions.HealthCheckCommand:
		h := cmd.Health
		c.Healthcheck = &v1.HealthConfig{
			Test: append([]string(nil), h.Test...), Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
	case *instructions.OnbuildCommand:
		c.OnBuild = append(c.OnBuild, cmd.Expression)
	case *instructions.MaintainerCommand:
		st.cfg.Author = cmd.Maintainer
	case *instructions.RunCommand:
		return errors.New("RUN is not supported yet")
	default:
		return fmt.Errorf("%s is not supported", strings.ToUpper(in.Command.Name()))
	}
	b.history(st, in, true)
	return nil
}

// commandLine is CMD's or ENTRYPOINT's argv: exec form as is, shell form
// through the stage's SHELL.
func (b *builder) commandLine(st *state, cl instructions.ShellDependantCmdLine) []string {
	if !cl.PrependShell {
		return append([]string{}, cl.CmdLine...)
	}
	sh := st.cfg.Config.Shell
	if len(sh) == 0 {
		sh = []string{"/bin/sh", "-c"}
	}
	return append(append([]string{}, sh...), strings.Join(cl.CmdLine, " "))
}

func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if key, _, _ := strings.Cut(kv, "="); key == k {
			out := append([]string(nil), env...)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(append([]string(nil), env...), k+"="+v)
}

// exposedPorts normalises EXPOSE values: "80" → "80/tcp", ranges expanded.
func exposedPorts(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		port, proto, _ := strings.Cut(v, "/")
		proto = strings.ToLower(proto)
		if proto == "" {
			proto = "tcp"
		}
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return nil, fmt.Errorf("EXPOSE %s: protocol %q: want tcp, udp or sctp", v, proto)
		}
		lo, hi, isRange := strings.Cut(port, "-")
		start, err := strconv.Atoi(lo)
		if err != nil || start < 0 || start > 65535 {
			return nil, fmt.Errorf("EXPOSE %s: %q is not a port number", v, lo)
		}
		end := start
		if isRange {
			if end, err = strconv.Atoi(hi); err != nil || end < start || end > 65535 {
				return nil, fmt.Errorf("EXPOSE %s: %q is not a port range", v, port)
			}
		}
		for p := start; p <= end; p++ {
			out = append(out, fmt.Sprintf("%d/%s", p, proto))
		}
	}
	sort.Strings(out)
	return out, nil
}

func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("STOPSIGNAL %s: signal numbers go from 1 to 64", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if name == "" || strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-") != "" {
		return fmt.Errorf("STOPSIGNAL %s is not a signal name or number", s)
	}
	return nil
}

// workdir sets WORKDIR and, as Docker does, creates the directory (owned
// by the stage's USER) in a layer when it does not exist yet.
func (b *builder) workdir(ctx context.Context, st *state, in *dockerfile.Instruction, p string) error {
	c := &st.cfg.Config
	if !path.IsAbs(p) {
		p = path.Join("/", c.WorkingDir, p)
	}
	p = path.Clean(p)
	c.WorkingDir = p
	st.step++
	start := time.Now()
	b.step("[%s%d/%d] %s", b.stagePrefix(st.stage), st.step, st.steps, in.Text)
	rel, err := st.tree.resolve(p)
	if err != nil {
		return err
	}
	if e := st.tree.get(rel); e != nil || rel == "" {
		if e != nil && !e.Mode.IsDir() {
			return fmt.Errorf("WORKDIR %s: the path exists and is not a directory", p)
		}
		b.history(st, in, true)
		b.done(start, false)
		return nil
	}
	uid, gid := userIDs(st.tree, c.User)
	entries, err := b.withParents(st, []*entry{{File: layer.File{Path: rel, Mode: fs.ModeDir | 0o755, UID: uid, GID: gid, ModTime: b.ts}}}, &[2]int{uid, gid})
	if err != nil {
		return err
	}
	return b.addLayer(ctx, st, in, entries, start)
}

// addLayer makes (or finds in the cache) the layer of entries and adds it
// to the stage.
func (b *builder) addLayer(ctx context.Context, st *state, in *dockerfile.Instruction, entries []*entry, start time.Time) error {
	opts := layer.Options{Compression: b.opts.Compression, GzipLevel: gzipLevel, Timestamp: b.ts, TempDir: b.opts.TempDir}
	var key string
	var l v1.Layer
	cached := false
	if b.cache != nil {
		if err := hashContents(ctx, entries); err != nil {
			return err
		}
		key = stepKey(entries, opts)
		l, cached = b.cache.get(key)
	}
	if !cached {
		files := make([]layer.File, len(entries))
		for i, e := range entries {
			files[i] = e.File
			if open := e.Open; open != nil {
				files[i].Open = func() (io.ReadCloser, error) {
					rc, err := open()
					if err != nil {
						return nil, err
					}
					return ctxReader{ctx: ctx, ReadCloser: rc}, nil
				}
			}
		}
		var err error
		if l, err = layer.New(ctx, files, opts); err != nil {
			return err
		}
		if b.cache != nil && b.opts.CacheDir != "" {
			if err := b.cache.put(key, l); err != nil {
				return fmt.Errorf("write the step cache: %w", err)
			}
		}
	}
	for _, e := range entries {
		if !e.Hardlink {
			st.tree.put(e)
		}
	}
	for _, e := range entries {
		if e.Hardlink {
			// The tree holds a hard link as a copy of the file it links to.
			if target := st.tree.get(strings.TrimPrefix(e.Linkname, "/")); target != nil && target.Mode.IsRegular() {
				c := *target
				c.Path, c.UID, c.GID, c.Mode = e.Path, e.UID, e.GID, target.Mode
				c.Hardlink, c.Linkname = false, ""
				st.tree.put(&c)
			}
		}
	}
	st.layers = append(st.layers, l)
	b.history(st, in, false)
	b.done(start, cached)
	return nil
}

// ctxReader stops reading once ctx is done, so Ctrl-C stops the copy of a
// big file at once.
type ctxReader struct {
	ctx context.Context
	io.ReadCloser
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.ReadCloser.Read(p)
}
