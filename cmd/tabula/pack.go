package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/analyze"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
	"github.com/tabula-dev/tabula/store"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"pack"},
		add: func(root *cobra.Command, g *globalOptions) {
			root.AddCommand(newPackCmd(g))
		},
	})
}

// packOptions are pack's flags.
type packOptions struct {
	tags       []string
	entrypoint string
	cmd        []string
	env        []string
	labels     []string
	user       string
	caCerts    string
	tzdata     string
	bundleLibs bool
	add        []string
	auto       bool
	timestamp  string
	quiet      bool
}

// fromHost is the value of --ca-certs and --tzdata given without one.
const fromHost = "host"

const (
	nonrootUID  = 65532
	passwdFile  = "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	groupFile   = "root:x:0:\nnonroot:x:65532:\n"
	defaultPATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

func newPackCmd(g *globalOptions) *cobra.Command {
	o := &packOptions{}
	cmd := &cobra.Command{
		Use:   "pack BINARY... -t NAME",
		Short: "Make a scratch image straight from binaries",
		Long: `Pack makes a FROM scratch image from binaries of this machine, without a
Dockerfile. Each binary goes to /usr/local/bin/NAME; the first is the
entrypoint. With --auto (the default) pack adds what the doctor finds
missing: the CA bundle, the zoneinfo tree, /etc/passwd and /etc/group with
root and nonroot (65532), and for a dynamic binary its loader and libraries
as this machine's loader finds them. Files are owned by 0:0 and dated
--timestamp, else SOURCE_DATE_EPOCH, else the Unix epoch. It prints the
image ID.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPack(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name of the image (NAME[:TAG]); repeatable")
	f.StringVar(&o.entrypoint, "entrypoint", "", "the image's entrypoint (default: the first binary)")
	f.StringArrayVar(&o.cmd, "cmd", nil, "an argument of the image's CMD; repeatable")
	f.StringArrayVarP(&o.env, "env", "e", nil, "an environment variable K=V; repeatable")
	f.StringArrayVar(&o.labels, "label", nil, "a label K=V; repeatable")
	f.StringVarP(&o.user, "user", "u", fmt.Sprint(nonrootUID), "the user the program runs as (uid[:gid] or a name)")
	f.StringVar(&o.caCerts, "ca-certs", "", "add a CA bundle as /etc/ssl/certs/ca-certificates.crt (this machine's without a value)")
	f.Lookup("ca-certs").NoOptDefVal = fromHost
	f.StringVar(&o.tzdata, "tzdata", "", "add a zoneinfo tree as /usr/share/zoneinfo (this machine's without a value)")
	f.Lookup("tzdata").NoOptDefVal = fromHost
	f.BoolVar(&o.bundleLibs, "bundle-libs", false, "add the loader and shared libraries of dynamic binaries, from this machine")
	f.StringArrayVar(&o.add, "add", nil, "add the host file or directory SRC at DST (SRC:DST); repeatable")
	f.BoolVar(&o.auto, "auto", true, "add what the doctor finds missing")
	f.StringVar(&o.timestamp, "timestamp", "", "Unix time for every file's mtime and the image's created time (default $SOURCE_DATE_EPOCH, else 0)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the image ID, no findings")
	return cmd
}

func runPack(ctx context.Context, g *globalOptions, o *packOptions, args []string, stdout, stderr io.Writer) error {
	if len(o.tags) == 0 {
		return fmt.Errorf("pack needs a name for the image: add -t NAME: %w", errdefs.ErrInvalidArgument)
	}
	var names []string
	for _, t := range o.tags {
		n, err := store.NormalizeName(t)
		if err != nil {
			return err
		}
		names = append(names, n)
	}
	ts, err := buildTimestamp(o.timestamp)
	if err != nil {
		return err
	}
	p, err := newPacker(o, ts, args)
	if err != nil {
		return err
	}
	// The image is checked for the platform it is packed for, which is
	// the binary's: a static arm64 program packs cleanly on amd64.
	p.forImage = true
	report, err := p.complete(ctx)
	if err != nil {
		return err
	}
	failed := o.auto && report.Count(analyze.Error) > 0
	if (!o.quiet || failed) && len(report.Findings) > 0 {
		report.Name = "packed image " + names[0]
		report.WriteText(stderr)
	}
	if failed {
		return packFailedError{report.Count(analyze.Error)}
	}
	img, err := p.image(ctx)
	if err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(g.root, "images"))
	if err != nil {
		return err
	}
	if _, err := st.Write(ctx, img, names...); err != nil {
		return err
	}
	id, err := img.ConfigName()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

// packedBinary is one BINARY argument.
type packedBinary struct {
	host, dest string
	bin        *analyze.Binary // nil when not ELF
}

// packer gathers an image's files by kind (one layer each) and mirrors them
// in a tree the doctor checks.
type packer struct {
	o     *packOptions
	ts    time.Time
	kinds map[string][]layer.File
	tree  *analyze.Tree
	bins  []packedBinary
	added map[string]bool // the kinds of content added (ca, tzdata, users, libs)
	// forImage checks for the image's platform instead of this machine's.
	forImage bool
}

// packFailedError: with --auto, pack stores no image that the doctor says
// will not start.
type packFailedError struct{ n int }

func (e packFailedError) Error() string {
	what := "an error"
	if e.n > 1 {
		what = fmt.Sprintf("%d errors", e.n)
	}
	return fmt.Sprintf("the packed image would not start (the doctor found %s that pack cannot fix), so it was not stored; change the flags as the findings say, or pack it anyway with --auto=false", what)
}

func (packFailedError) ExitCode() int { return 1 }

// layerOrder is the order of the layers, most stable content first.
var layerOrder = []string{"libraries", "ca-certificates", "zoneinfo", "users", "files", "binaries"}

// newPacker lays out the binaries, --add and the explicit content flags.
func newPacker(o *packOptions, ts time.Time, args []string) (*packer, error) {
	p := &packer{o: o, ts: ts, kinds: map[string][]layer.File{}, tree: analyze.NewTree(), added: map[string]bool{}}
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("binary %s: %w", a, errNotFound(err))
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("binary %s is not a regular file: %w", a, errdefs.ErrInvalidArgument)
		}
		f, err := os.Open(a)
		if err != nil {
			return nil, err
		}
		b, err := analyze.ReadBinary(f, fi.Size(), a)
		f.Close()
		if err != nil {
			b = nil // a script or other file: packed as is, the doctor says what it lacks
		}
		dest := "/usr/local/bin/" + filepath.Base(a)
		for _, other := range p.bins {
			if other.dest == dest {
				return nil, fmt.Errorf("binaries %s and %s would both be %s; rename one or place it with --add SRC:DST: %w", other.host, a, dest, errdefs.ErrInvalidArgument)
			}
		}
		p.bins = append(p.bins, packedBinary{host: a, dest: dest, bin: b})
		if err := p.hostFile("binaries", a, dest, 0o755); err != nil {
			return nil, err
		}
	}
	for _, spec := range o.add {
		src, dst, ok := strings.Cut(spec, ":")
		if !ok || src == "" || dst == "" {
			return nil, fmt.Errorf("--add %q: want SRC:DST: %w", spec, errdefs.ErrInvalidArgument)
		}
		if err := p.hostTree("files", src, dst); err != nil {
			return nil, err
		}
	}
	if o.caCerts != "" {
		if err := p.addCACerts(o.caCerts); err != nil {
			return nil, err
		}
	}
	if o.tzdata != "" {
		if err := p.addTZData(o.tzdata); err != nil {
			return nil, err
		}
	}
	if o.bundleLibs {
		if err := p.bundle(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func errNotFound(err error) error {
	if os.IsNotExist(err) {
		return errdefs.ErrNotFound
	}
	return err
}

// hostFile adds the host file src (symlinks followed) at dst.
func (p *packer) hostFile(kind, src, dst string, mode fs.FileMode) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, errNotFound(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file: %w", src, errdefs.ErrInvalidArgument)
	}
	if mode == 0 {
		mode = fi.Mode().Perm()
	}
	p.kinds[kind] = append(p.kinds[kind], layer.File{
		Path: dst, Mode: mode, Size: fi.Size(), ModTime: p.ts,
		Open: func() (io.ReadCloser, error) { return os.Open(src) },
	})
	p.tree.AddFile(dst, mode, fi.Size(), func() (analyze.ReadAtCloser, error) { return os.Open(src) })
	return nil
}

type bytesFile struct{ *bytes.Reader }

func (bytesFile) Close() error { return nil }

func (p *packer) bytesFile(kind, dst string, data []byte, mode fs.FileMode) {
	p.kinds[kind] = append(p.kinds[kind], layer.File{
		Path: dst, Mode: mode, Size: int64(len(data)), ModTime: p.ts,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil },
	})
	p.tree.AddFile(dst, mode, int64(len(data)), func() (analyze.ReadAtCloser, error) { return bytesFile{bytes.NewReader(data)}, nil })
}

func (p *packer) dir(kind, dst string, mode fs.FileMode, uid, gid int) {
	p.kinds[kind] = append(p.kinds[kind], layer.File{Path: dst, Mode: fs.ModeDir | mode, UID: uid, GID: gid, ModTime: p.ts})
	p.tree.AddDir(dst, mode)
}

func (p *packer) symlink(kind, dst, target string) {
	p.kinds[kind] = append(p.kinds[kind], layer.File{Path: dst, Mode: fs.ModeSymlink | 0o777, Linkname: target, ModTime: p.ts})
	p.tree.AddSymlink(dst, target)
}

// hostTree adds the host file or directory src at dst. Symlinks inside a
// directory are kept when they stay inside it; others are replaced by what
// they point at.
func (p *packer) hostTree(kind, src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%s: %w", src, errNotFound(err))
	}
	if !fi.IsDir() {
		if strings.HasSuffix(dst, "/") {
			dst = path.Join(dst, filepath.Base(src))
		}
		return p.hostFile(kind, src, dst, 0)
	}
	root, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(hp string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		relp, _ := filepath.Rel(root, hp)
		target := path.Join(dst, filepath.ToSlash(relp))
		switch {
		case d.IsDir():
			info, err := d.Info()
			if err != nil {
				return err
			}
			p.dir(kind, target, info.Mode().Perm(), 0, 0)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(hp)
			if err != nil {
				return err
			}
			resolved := link
			if !filepath.IsAbs(link) {
				resolved = filepath.Join(filepath.Dir(hp), link)
			}
			if r, err := filepath.Rel(root, resolved); err == nil && r != ".." && !strings.HasPrefix(r, "../") && !filepath.IsAbs(link) {
				p.symlink(kind, target, link)
				return nil
			}
			if fi, err := os.Stat(hp); err == nil && fi.Mode().IsRegular() {
				return p.hostFile(kind, hp, target, 0)
			}
			return nil // a dangling or directory link leaving the tree: skipped
		case d.Type().IsRegular():
			return p.hostFile(kind, hp, target, 0)
		}
		return nil
	})
}

// addCACerts adds a CA bundle: src, or this machine's for "host".
func (p *packer) addCACerts(src string) error {
	if p.added["ca"] {
		return nil
	}
	if src == fromHost {
		src = ""
		for _, f := range analyze.CertFiles() {
			if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
				src = f
				break
			}
		}
		if src == "" {
			return fmt.Errorf("this machine has no CA bundle (looked for %s); install ca-certificates or give --ca-certs=FILE: %w", strings.Join(analyze.CertFiles(), ", "), errdefs.ErrNotFound)
		}
	}
	p.added["ca"] = true
	return p.hostFile("ca-certificates", src, "/etc/ssl/certs/ca-certificates.crt", 0o644)
}

// addTZData adds a zoneinfo tree: src, or this machine's for "host".
func (p *packer) addTZData(src string) error {
	if p.added["tzdata"] {
		return nil
	}
	if src == fromHost {
		src = ""
		for _, d := range analyze.ZoneinfoDirs() {
			if fi, err := os.Stat(d); err == nil && fi.IsDir() {
				src = d
				break
			}
		}
		if src == "" {
			return fmt.Errorf("this machine has no zoneinfo tree (looked in %s); install tzdata or give --tzdata=DIR: %w", strings.Join(analyze.ZoneinfoDirs(), ", "), errdefs.ErrNotFound)
		}
	}
	p.added["tzdata"] = true
	return p.hostTree("zoneinfo", src, "/usr/share/zoneinfo")
}

// addUsers adds /etc/passwd and /etc/group with root and nonroot.
func (p *packer) addUsers() {
	if p.added["users"] {
		return
	}
	p.added["users"] = true
	p.bytesFile("users", "/etc/passwd", []byte(passwdFile), 0o644)
	p.bytesFile("users", "/etc/group", []byte(groupFile), 0o644)
	p.dir("users", "/home/nonroot", 0o755, nonrootUID, nonrootUID)
}

// bundle adds the loader and library closure of every dynamic binary, as
// this machine's loader resolves them. Each library keeps the soname asked
// for and goes to a directory the loader searches by default, so no
// ld.so.cache is needed.
func (p *packer) bundle() error {
	if p.added["libs"] {
		return nil
	}
	p.added["libs"] = true
	host, ok := os.DirFS("/").(fs.ReadLinkFS)
	if !ok {
		return fmt.Errorf("cannot read this machine's file system for libraries")
	}
	loader := analyze.NewLoader(host, os.Environ())
	placed := map[string]bool{}
	for _, pb := range p.bins {
		b := pb.bin
		if b == nil || b.Linking != analyze.Dynamic {
			continue
		}
		abs, err := filepath.Abs(pb.host)
		if err != nil {
			return err
		}
		res := loader.Resolve(abs, b)
		if res.InterpMissing {
			return fmt.Errorf("bundle libraries of %s: its loader %s is not on this machine either: %w", pb.host, res.Interp, errdefs.ErrNotFound)
		}
		if len(res.Missing) > 0 {
			var names []string
			for _, m := range res.Missing {
				names = append(names, m.Name)
			}
			return fmt.Errorf("bundle libraries of %s: this machine's loader does not find %s either: %w", pb.host, strings.Join(names, ", "), errdefs.ErrNotFound)
		}
		if res.Interp != "" && !placed[res.Interp] {
			placed[res.Interp] = true
			if err := p.hostFile("libraries", res.Interp, res.Interp, 0o755); err != nil {
				return err
			}
		}
		dir := analyze.DefaultLibraryDirs(b)[0]
		for _, lib := range res.Libraries {
			dst := path.Join(dir, lib.Name)
			if strings.Contains(lib.Name, "/") {
				dst = lib.Path
			}
			if placed[dst] {
				continue
			}
			placed[dst] = true
			if err := p.hostFile("libraries", lib.Path, dst, 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// config is the image's config.
func (p *packer) config() (*v1.ConfigFile, error) {
	cfg := &v1.ConfigFile{
		Created:      v1.Time{Time: p.ts.UTC()},
		OS:           "linux",
		Architecture: analyze.HostArch(),
		RootFS:       v1.RootFS{Type: "layers"},
	}
	if len(p.bins) > 0 && p.bins[0].bin != nil && p.bins[0].bin.Arch != "" {
		cfg.Architecture = p.bins[0].bin.Arch
	}
	c := &cfg.Config
	c.Env = []string{defaultPATH}
	for _, kv := range p.o.env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("--env %q: want K=V: %w", kv, errdefs.ErrInvalidArgument)
		}
		c.Env = append(c.Env, kv)
	}
	if len(p.o.labels) > 0 {
		c.Labels = map[string]string{}
		for _, kv := range p.o.labels {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("--label %q: want K=V: %w", kv, errdefs.ErrInvalidArgument)
			}
			c.Labels[k] = v
		}
	}
	switch {
	case p.o.entrypoint != "":
		c.Entrypoint = []string{p.o.entrypoint}
	case len(p.bins) > 0:
		c.Entrypoint = []string{p.bins[0].dest}
	}
	c.Cmd = p.o.cmd
	c.User = p.o.user
	c.WorkingDir = "/"
	return cfg, nil
}

// check runs the doctor on what is laid out so far.
func (p *packer) check(ctx context.Context) (analyze.Report, error) {
	cfg, err := p.config()
	if err != nil {
		return analyze.Report{}, err
	}
	var opts analyze.Options
	if p.forImage {
		opts.HostArch = cfg.Architecture
	}
	return analyze.Check(ctx, "packed image", cfg, p.tree, opts)
}

// complete adds, with --auto, what the doctor finds missing, and returns
// the doctor's report on the result.
func (p *packer) complete(ctx context.Context) (analyze.Report, error) {
	r, err := p.check(ctx)
	if err != nil || !p.o.auto {
		return r, err
	}
	changed := false
	for _, f := range r.Findings {
		switch f.Check {
		case "ca-certificates":
			err, changed = p.addCACerts(fromHost), true
		case "zoneinfo":
			err, changed = p.addTZData(fromHost), true
		case "user", "group", "os-user":
			p.addUsers()
			changed = true
		case "missing-loader", "missing-library":
			err, changed = p.bundle(), true
		}
		if err != nil {
			return r, err
		}
	}
	if !changed {
		return r, nil
	}
	return p.check(ctx)
}

// image assembles the layers, one per kind of content, and the config.
func (p *packer) image(ctx context.Context) (v1.Image, error) {
	cfg, err := p.config()
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, err
	}
	opts := layer.Options{GzipLevel: 2, Timestamp: p.ts}
	var adds []mutate.Addendum
	kinds := layerOrder
	for _, kind := range kinds {
		files := p.kinds[kind]
		if len(files) == 0 {
			continue
		}
		l, err := layer.New(ctx, files, opts)
		if err != nil {
			return nil, fmt.Errorf("write the %s layer: %w", kind, err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, History: v1.History{
			Created:   v1.Time{Time: p.ts.UTC()},
			CreatedBy: "tabula pack: " + kind,
		}})
	}
	return mutate.Append(img, adds...)
}
