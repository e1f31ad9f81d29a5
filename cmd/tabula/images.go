package main

import (
	"archive/tar"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tabula-dev/tabula/archive"
	"github.com/tabula-dev/tabula/container"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/layer"
	"github.com/tabula-dev/tabula/registry"
	"github.com/tabula-dev/tabula/store"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"image", "images", "rmi", "tag", "save", "load", "pull", "push", "login", "logout"},
		add: func(root *cobra.Command, g *globalOptions) {
			image := &cobra.Command{
				Use:   "image",
				Short: "Manage images",
				Args:  cobra.NoArgs,
				RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
			}
			ls := newImagesCmd(g)
			ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
			image.AddCommand(ls, newImageInspectCmd(g), newImageHistoryCmd(g), newImageRmCmd(g, "rm"),
				newTagCmd(g), newImageFilesCmd(g), newImagePruneCmd(g), newSaveCmd(g), newLoadCmd(g), newPullCmd(g), newPushCmd(g))
			root.AddCommand(image, newImagesCmd(g), newImageRmCmd(g, "rmi"), newTagCmd(g), newSaveCmd(g), newLoadCmd(g),
				newPullCmd(g), newPushCmd(g), newLoginCmd(), newLogoutCmd())
		},
	})
}

// openImageStore opens the image store under the root.
func openImageStore(g *globalOptions) (*store.Store, error) {
	return store.Open(filepath.Join(g.root, "images"))
}

// formatOption checks --format: empty (a table), json, or a Go template
// as Docker takes ("{{.Repository}}:{{.Tag}}").
func formatOption(f string) error {
	if f == "" || f == "json" || f == "table" {
		return nil
	}
	if isTemplate(f) {
		_, err := parseTemplate(f)
		return err
	}
	return fmt.Errorf("--format %q: want json, table or a Go template such as '{{.ID}}': %w", f, errdefs.ErrInvalidArgument)
}

func isTemplate(f string) bool { return strings.Contains(f, "{{") }

func parseTemplate(f string) (*template.Template, error) {
	t, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join":  strings.Join,
		"lower": strings.ToLower,
		"upper": strings.ToUpper,
	}).Parse(f)
	if err != nil {
		return nil, fmt.Errorf("--format %q: %v: %w", f, err, errdefs.ErrInvalidArgument)
	}
	return t, nil
}

// writeTemplate prints each value through the --format template, one per line.
func writeTemplate[T any](w io.Writer, f string, values []T) error {
	t, err := parseTemplate(f)
	if err != nil {
		return err
	}
	for _, v := range values {
		if err := t.Execute(w, v); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// writeJSONLines writes one JSON object a line, as docker's --format json
// lists do.
func writeJSONLines[T any](w io.Writer, values []T) error {
	enc := json.NewEncoder(w)
	for _, v := range values {
		if err := enc.Encode(v); err != nil {
			return err
		}
	}
	return nil
}

// writeInspect writes values as docker inspect does: through the --format
// template, or as one indented JSON array.
func writeInspect[T any](w io.Writer, format string, values []T) error {
	if isTemplate(format) {
		return writeTemplate(w, format, values)
	}
	b, err := json.MarshalIndent(values, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// humanSize prints a size as Docker does: three significant digits,
// decimal units ("0B", "153kB", "5.32MB").
func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// createdSince is the CREATED column: "N minutes ago"; an image without a
// created time shows "N/A". The epoch, which reproducible builds use, shows
// as Docker shows it: some fifty years ago.
func createdSince(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// --- images / image ls ---

type imagesOptions struct {
	digests bool
	quiet   bool
	noTrunc bool
	all     bool
	format  string
	filters []string
}

// imageFilter is what --filter keeps: dangling=true|false and
// reference=PATTERN (a glob on REPOSITORY[:TAG]), as Docker's.
type imageFilter struct {
	dangling   *bool
	references []string
}

func parseImageFilters(fs []string) (imageFilter, error) {
	var f imageFilter
	for _, kv := range fs {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case ok && k == "dangling" && (v == "true" || v == "false"):
			b := v == "true"
			f.dangling = &b
		case ok && k == "reference" && v != "":
			if _, err := path.Match(v, ""); err != nil {
				return f, fmt.Errorf("--filter %q: %v: %w", kv, err, errdefs.ErrInvalidArgument)
			}
			f.references = append(f.references, v)
		default:
			return f, fmt.Errorf("--filter %q: want dangling=true|false or reference=PATTERN: %w", kv, errdefs.ErrInvalidArgument)
		}
	}
	return f, nil
}

func (f imageFilter) keep(name string) bool {
	if f.dangling != nil && *f.dangling != (name == "") {
		return false
	}
	if len(f.references) == 0 {
		return true
	}
	if name == "" {
		return false
	}
	repo, _ := store.SplitName(name)
	for _, p := range f.references {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
		if ok, _ := path.Match(p, repo); ok {
			return true
		}
	}
	return false
}

func newImagesCmd(g *globalOptions) *cobra.Command {
	o := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Long: `List images: REPOSITORY, TAG, IMAGE ID, CREATED and SIZE, one row per name.

An image whose manifest or config cannot be read (a blob missing, truncated or
not matching its digest) does not stop the listing: it is left out, a warning
on stderr names it, and the command still exits 0, as docker images lists the
images its daemon can load. ` + "`tabula system check`" + ` verifies every blob and
exits 1 on any problem; ` + "`tabula rmi NAME`" + ` removes a broken image.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImages(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.digests, "digests", false, "show the manifest digests")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only image IDs")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "print full image IDs")
	f.StringVar(&o.format, "format", "", "output format: json (one object per line), table or a Go template")
	f.BoolVarP(&o.all, "all", "a", false, "show all images (tabula keeps no intermediate images, so the same as without)")
	f.StringArrayVarP(&o.filters, "filter", "f", nil, "keep images matching dangling=true|false or reference=PATTERN; repeatable")
	return cmd
}

// imageRow is one line of `tabula images`: an image under one of its names.
type imageRow struct {
	Repository   string
	Tag          string
	Digest       string
	ID           string
	CreatedAt    string
	CreatedSince string
	Size         string
	Bytes        int64 `json:"VirtualSize"`
}

func runImages(ctx context.Context, g *globalOptions, o *imagesOptions, args []string, stdout, stderr io.Writer) error {
	if err := formatOption(o.format); err != nil {
		return err
	}
	filter, err := parseImageFilters(o.filters)
	if err != nil {
		return err
	}
	var filterRepo, filterTag string
	if len(args) == 1 {
		if strings.Contains(args[0], ":") && !strings.Contains(args[0][strings.LastIndex(args[0], ":"):], "/") {
			n, err := store.NormalizeName(args[0])
			if err != nil {
				return err
			}
			filterRepo, filterTag = store.SplitName(n)
		} else {
			n, err := store.NormalizeName(args[0])
			if err != nil {
				return err
			}
			filterRepo, _ = store.SplitName(n)
		}
	}
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	entries, err := listImages(ctx, st, stderr)
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []imageRow
	for _, e := range entries {
		names := e.Names
		if len(names) == 0 {
			if filterRepo != "" {
				continue
			}
			names = []string{""}
		}
		for _, n := range names {
			if !filter.keep(n) {
				continue
			}
			repo, tag := "<none>", "<none>"
			if n != "" {
				repo, tag = store.SplitName(n)
			}
			if filterRepo != "" && (repo != filterRepo || (filterTag != "" && tag != filterTag)) {
				continue
			}
			id := e.ID.String()
			if !o.noTrunc {
				id = store.ShortID(e.ID)
			}
			created := ""
			if !e.Created.IsZero() {
				created = e.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
			}
			rows = append(rows, imageRow{Repository: repo, Tag: tag, Digest: e.Manifest.Digest.String(), ID: id,
				CreatedAt: created, CreatedSince: createdSince(e.Created, now), Size: humanSize(e.Size), Bytes: e.Size})
		}
	}
	switch {
	case o.quiet:
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Fprintln(stdout, r.ID)
			}
		}
		return nil
	case isTemplate(o.format):
		return writeTemplate(stdout, o.format, rows)
	case o.format == "json":
		return writeJSONLines(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 10, 1, 3, ' ', 0)
	if o.digests {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
	} else {
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
	}
	for _, r := range rows {
		if o.digests {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size)
		}
	}
	return tw.Flush()
}

// listImages lists the store's images; those that cannot be read are left
// out with a warning on stderr each, so one broken image does not hide the
// others.
func listImages(ctx context.Context, st *store.Store, stderr io.Writer) ([]store.Entry, error) {
	entries, err := st.List(ctx)
	var le *store.ListError
	if errors.As(err, &le) {
		for _, b := range le.Broken {
			fmt.Fprintf(stderr, "tabula: warning: %s\n", b)
		}
		return entries, nil
	}
	return entries, err
}

// --- image inspect ---

// imageInspect is Docker's `image inspect` object.
type imageInspect struct {
	Id           string           `json:"Id"` // Docker spells it so, and --format templates use it
	RepoTags     []string         `json:"RepoTags"`
	RepoDigests  []string         `json:"RepoDigests"`
	Parent       string           `json:"Parent"`
	Comment      string           `json:"Comment"`
	Created      string           `json:"Created"`
	Author       string           `json:"Author"`
	Config       v1.Config        `json:"Config"`
	Architecture string           `json:"Architecture"`
	Variant      string           `json:"Variant,omitempty"`
	Os           string           `json:"Os"`
	OsVersion    string           `json:"OsVersion,omitempty"`
	Size         int64            `json:"Size"`
	RootFS       imageInspectFS   `json:"RootFS"`
	History      []v1.History     `json:"History"`
	Descriptor   v1.Descriptor    `json:"Descriptor"`
	Metadata     map[string]any   `json:"Metadata"`
	Layers       []imageLayerInfo `json:"Layers,omitempty"`
}

type imageInspectFS struct {
	Type   string   `json:"Type"`
	Layers []string `json:"Layers"`
}

type imageLayerInfo struct {
	Digest    string `json:"Digest"`
	MediaType string `json:"MediaType"`
	Size      int64  `json:"Size"`
}

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Show images' details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := formatOption(format); err != nil {
				return err
			}
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			out := []imageInspect{}
			var errs []error
			for _, ref := range args {
				ii, err := inspectImage(cmd.Context(), st, ref)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				out = append(out, ii)
			}
			if err := writeInspect(cmd.OutOrStdout(), format, out); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "output format: json (the default) or a Go template such as '{{.Id}}'")
	return cmd
}

func inspectImage(ctx context.Context, st *store.Store, ref string) (imageInspect, error) {
	e, img, err := st.ResolveImage(ctx, ref)
	if err != nil {
		return imageInspect{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return imageInspect{}, fmt.Errorf("image %s: %w", ref, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return imageInspect{}, fmt.Errorf("image %s: %w", ref, err)
	}
	ii := imageInspect{
		Id:           e.ID.String(),
		RepoTags:     append([]string{}, e.Names...),
		RepoDigests:  []string{},
		Comment:      "",
		Author:       cfg.Author,
		Config:       cfg.Config,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		OsVersion:    cfg.OSVersion,
		Size:         e.Size,
		RootFS:       imageInspectFS{Type: "layers", Layers: []string{}},
		History:      cfg.History,
		Descriptor:   v1.Descriptor{MediaType: e.Manifest.MediaType, Digest: e.Manifest.Digest, Size: e.Manifest.Size},
		Metadata:     map[string]any{"LastTagTime": "0001-01-01T00:00:00Z"},
	}
	if ii.History == nil {
		ii.History = []v1.History{}
	}
	if !cfg.Created.IsZero() {
		ii.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	seenRepo := map[string]bool{}
	for _, n := range e.Names {
		repo, _ := store.SplitName(n)
		if !seenRepo[repo] {
			seenRepo[repo] = true
			ii.RepoDigests = append(ii.RepoDigests, repo+"@"+e.Manifest.Digest.String())
		}
	}
	for _, d := range cfg.RootFS.DiffIDs {
		ii.RootFS.Layers = append(ii.RootFS.Layers, d.String())
	}
	for _, l := range m.Layers {
		ii.Layers = append(ii.Layers, imageLayerInfo{Digest: l.Digest.String(), MediaType: string(l.MediaType), Size: l.Size})
	}
	return ii, nil
}

// --- image history ---

func newImageHistoryCmd(g *globalOptions) *cobra.Command {
	var noTrunc, quiet bool
	var format string
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := formatOption(format); err != nil {
				return err
			}
			return runHistory(cmd.Context(), g, args[0], noTrunc, quiet, format, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only image IDs")
	cmd.Flags().StringVar(&format, "format", "", "output format: json (one object per line) or table")
	return cmd
}

type historyRow struct {
	ID           string
	CreatedAt    string
	CreatedSince string
	CreatedBy    string
	Size         string
	Bytes        int64 `json:"-"`
	Comment      string
}

func runHistory(ctx context.Context, g *globalOptions, ref string, noTrunc, quiet bool, format string, stdout io.Writer) error {
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	e, img, err := st.ResolveImage(ctx, ref)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	history := cfg.History
	if len(history) == 0 {
		// No history recorded: one entry per layer.
		for range layers {
			history = append(history, v1.History{})
		}
	}
	now := time.Now()
	var rows []historyRow
	li := 0
	for _, h := range history {
		var size int64
		if !h.EmptyLayer && li < len(layers) {
			size, err = layerContentSize(ctx, layers[li])
			if err != nil {
				return fmt.Errorf("image %s: layer %d: %w", ref, li+1, err)
			}
			li++
		}
		by := h.CreatedBy
		if !noTrunc && len([]rune(by)) > 45 {
			by = string([]rune(by)[:44]) + "…"
		}
		created := ""
		if !h.Created.IsZero() {
			created = h.Created.Time.Format(time.RFC3339)
		}
		rows = append(rows, historyRow{ID: "<missing>", CreatedAt: created, CreatedSince: createdSince(h.Created.Time, now),
			CreatedBy: by, Size: humanSize(size), Bytes: size, Comment: h.Comment})
	}
	// Newest first, the top row carrying the image ID, as Docker prints it.
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	if len(rows) > 0 {
		rows[0].ID = store.ShortID(e.ID)
		if noTrunc {
			rows[0].ID = e.ID.String()
		}
	}
	switch {
	case quiet:
		for _, r := range rows {
			fmt.Fprintln(stdout, r.ID)
		}
		return nil
	case isTemplate(format):
		return writeTemplate(stdout, format, rows)
	case format == "json":
		return writeJSONLines(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment)
	}
	return tw.Flush()
}

// layerContentSize sums the sizes of a layer's regular files, as Docker
// counts an image's SIZE.
func layerContentSize(ctx context.Context, l v1.Layer) (int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return layer.ContentSize(ctx, rc)
}

// walkLayer calls fn for each entry of a layer's tar, reading the whole
// stream so that the blob's digest is verified.
func walkLayer(ctx context.Context, l v1.Layer, fn func(h *tar.Header) error) error {
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	err = layer.Walk(ctx, rc, func(h *tar.Header, _ io.Reader) error { return fn(h) })
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, rc)
	return err
}

// --- image rm / rmi ---

func newImageRmCmd(g *globalOptions, use string) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove images by name or ID",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			inUse := imageUsers(cmd.Context(), g)
			var errs []error
			for _, ref := range args {
				lines, err := st.RemoveWith(cmd.Context(), ref, store.RemoveOptions{Force: force, InUse: inUse})
				for _, l := range lines {
					fmt.Fprintln(cmd.OutOrStdout(), l)
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			// The layers unpacked for the images removed go too, unless a
			// container being made (unpacking a large image, say) keeps
			// them locked for long: the next rmi or prune frees them then.
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Second)
			defer cancel()
			if _, err := pruneLayers(ctx, g, st); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				errs = append(errs, err)
			}
			return errors.Join(errs...)
		},
	}
	if use == "rm" {
		cmd.Aliases = []string{"rmi", "remove"}
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove an image with several names by ID, and all its names; untag or remove an image that containers use")
	return cmd
}

// pruneLayers frees the layers unpacked for containers that neither an
// image left in st nor a container uses, and returns their size. While an
// image cannot be read, its layers are unknown, and none is freed.
func pruneLayers(ctx context.Context, g *globalOptions, st *store.Store) (int64, error) {
	entries, err := st.List(ctx)
	if err != nil {
		var le *store.ListError
		if errors.As(err, &le) {
			return 0, nil
		}
		return 0, err
	}
	keep := map[string]bool{}
	for _, e := range entries {
		img, err := st.Image(ctx, e.Manifest.Digest.String())
		if err != nil {
			return 0, err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return 0, err
		}
		for _, d := range cf.RootFS.DiffIDs {
			keep[d.String()] = true
		}
	}
	return containersOf(g).PruneLayers(ctx, func(diffID string) bool { return keep[diffID] })
}

// imageUsers returns the function that tells the store which containers use
// an image, reading the container records once, when first needed.
func imageUsers(ctx context.Context, g *globalOptions) func(id v1.Hash) ([]store.ContainerUse, error) {
	var recs []*container.Record
	var err error
	read := false
	return func(id v1.Hash) ([]store.ContainerUse, error) {
		if !read {
			recs, err = (&container.Containers{Root: g.root}).List(ctx)
			read = true
		}
		if err != nil {
			return nil, err
		}
		var out []store.ContainerUse
		for _, r := range recs {
			if r.Image == id.String() {
				out = append(out, store.ContainerUse{ID: r.ID, Running: r.State.Status == container.StatusRunning})
			}
		}
		return out, nil
	}
}

// --- tag ---

func newTagCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			return st.Tag(cmd.Context(), args[0], args[1])
		},
	}
}

// --- image files ---

// fileRow is one entry of one layer, as `tar tvf` lists it.
type fileRow struct {
	Layer    int    `json:"layer"`
	DiffID   string `json:"diffID"`
	Mode     string `json:"mode"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Size     int64  `json:"size"`
	ModTime  string `json:"modTime"`
	Path     string `json:"path"`
	Linkname string `json:"linkname,omitempty"`
	Type     string `json:"type"`
}

func newImageFilesCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "files [OPTIONS] IMAGE",
		Short: "List every file of every layer of an image",
		Long: `List every entry of every layer of an image with its mode, owner, size and
path, as tar tvf shows a layer, and the layer it comes from (1 is the lowest).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := formatOption(format); err != nil {
				return err
			}
			return runImageFiles(cmd.Context(), g, args[0], format, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "output format: json or table")
	return cmd
}

func runImageFiles(ctx context.Context, g *globalOptions, ref, format string, stdout io.Writer) error {
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	img, err := st.Image(ctx, ref)
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	rows := []fileRow{}
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return err
		}
		err = walkLayer(ctx, l, func(h *tar.Header) error {
			rows = append(rows, fileRow{Layer: i + 1, DiffID: diffID.String(), Mode: tarMode(h), UID: h.Uid, GID: h.Gid,
				Size: h.Size, ModTime: h.ModTime.UTC().Format("2006-01-02 15:04"), Path: h.Name, Linkname: h.Linkname, Type: tarType(h.Typeflag)})
			return nil
		})
		if err != nil {
			return fmt.Errorf("image %s: layer %d (%s): %w", ref, i+1, diffID, err)
		}
	}
	if isTemplate(format) {
		return writeTemplate(stdout, format, rows)
	}
	if format == "json" {
		b, err := json.MarshalIndent(rows, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(b))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tMODE\tOWNER\tSIZE\tMODIFIED\tPATH")
	for _, r := range rows {
		p := r.Path
		switch r.Type {
		case "symlink":
			p += " -> " + r.Linkname
		case "hardlink":
			p += " link to " + r.Linkname
		}
		fmt.Fprintf(tw, "%d %s\t%s\t%d/%d\t%d\t%s\t%s\n", r.Layer, r.DiffID[7:19], r.Mode, r.UID, r.GID, r.Size, r.ModTime, p)
	}
	return tw.Flush()
}

func tarType(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeChar:
		return "char"
	case tar.TypeBlock:
		return "block"
	case tar.TypeFifo:
		return "fifo"
	}
	return string(t)
}

// tarMode is the mode column of `tar tv`: type letter and permissions with
// set-id and sticky bits.
func tarMode(h *tar.Header) string {
	b := []byte("----------")
	switch h.Typeflag {
	case tar.TypeDir:
		b[0] = 'd'
	case tar.TypeSymlink:
		b[0] = 'l'
	case tar.TypeLink:
		b[0] = 'h'
	case tar.TypeChar:
		b[0] = 'c'
	case tar.TypeBlock:
		b[0] = 'b'
	case tar.TypeFifo:
		b[0] = 'p'
	}
	m := h.Mode
	for i, c := range "rwxrwxrwx" {
		if m&(1<<uint(8-i)) != 0 {
			b[i+1] = byte(c)
		}
	}
	special := func(bit int64, pos int, set, unset byte) {
		if m&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}

// --- image prune ---

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var all bool
	cmd := newPruneCmd("Remove dangling images (-a: every image) and unused blobs",
		func(cmd *cobra.Command) error { return pruneImageStore(cmd, g, all) })
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every image, not only dangling ones")
	return cmd
}

// pruneImageStore opens the image store and prunes it (see pruneImages).
func pruneImageStore(cmd *cobra.Command, g *globalOptions, all bool) error {
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	return pruneImages(cmd.Context(), g, st, all, cmd.OutOrStdout(), cmd.ErrOrStderr())
}

// pruneImages removes dangling images (all images with all) and collects
// unused blobs, printing what it removed as Docker does.
// Images that containers use are kept, as Docker keeps them.
func pruneImages(ctx context.Context, g *globalOptions, st *store.Store, all bool, stdout, stderr io.Writer) error {
	entries, err := listImages(ctx, st, stderr)
	if err != nil {
		return err
	}
	inUse := imageUsers(ctx, g)
	var lines []string
	for _, e := range entries {
		if len(e.Names) > 0 && !all {
			continue
		}
		users, err := inUse(e.ID)
		if err != nil {
			return fmt.Errorf("cannot tell which containers use images, so none is pruned: %w", err)
		}
		if len(users) > 0 {
			continue
		}
		l, err := st.Remove(ctx, e.Manifest.Digest.String(), true)
		if err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		lines = append(lines, l...)
	}
	freed, err := st.GC(ctx)
	if err != nil {
		return err
	}
	unpacked, err := pruneLayers(ctx, g, st)
	if err != nil {
		return err
	}
	freed += unpacked
	if len(lines) > 0 {
		fmt.Fprintln(stdout, "Deleted Images:")
		for _, l := range lines {
			fmt.Fprintln(stdout, strings.ToLower(l[:1])+l[1:])
		}
		fmt.Fprintln(stdout)
	}
	fmt.Fprintf(stdout, "Total reclaimed space: %s\n", humanSize(freed))
	return nil
}

// --- pull / push ---

func newPullCmd(g *globalOptions) *cobra.Command {
	var platform string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [flags] NAME[:TAG|@DIGEST]",
		Short: "Fetch an image from a registry into the store (credentials from docker login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := registry.Options{Progress: cmd.OutOrStdout()}
			if quiet {
				o.Progress = nil
			}
			if platform != "" {
				p, err := registry.ParsePlatform(platform)
				if err != nil {
					return err
				}
				o.Platform = p
			}
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			if _, err := registry.Pull(cmd.Context(), st, args[0], o); err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(cmd.OutOrStdout(), args[0])
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&platform, "platform", "", "the image of a multi-platform image to fetch, OS/ARCH[/VARIANT] (default linux and this machine's)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image's name")
	return cmd
}

func newPushCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [flags] NAME[:TAG]",
		Short: "Send an image of the store to the registry its name names (credentials from docker login)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := registry.Options{Progress: cmd.OutOrStdout()}
			if quiet {
				o.Progress = nil
			}
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			_, err = registry.Push(cmd.Context(), st, args[0], o)
			return err
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return cmd
}

func newLoginCmd() *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [flags] [SERVER]",
		Short: "Log in to a registry (Docker Hub by default): the credentials go where docker login puts them",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, key, err := registryArg(args)
			if err != nil {
				return err
			}
			if passwordStdin {
				if password != "" {
					return fmt.Errorf("--password and --password-stdin: give one: %w", errdefs.ErrInvalidArgument)
				}
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			tty := term.IsTerminal(int(os.Stdin.Fd()))
			if user == "" && tty && !passwordStdin {
				fmt.Fprintf(cmd.OutOrStdout(), "Username for %s: ", key)
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil {
					return err
				}
				user = strings.TrimSpace(line)
			}
			if password == "" && tty && !passwordStdin {
				fmt.Fprint(cmd.OutOrStdout(), "Password: ")
				b, err := term.ReadPassword(int(os.Stdin.Fd()))
				fmt.Fprintln(cmd.OutOrStdout())
				if err != nil {
					return err
				}
				password = string(b)
			}
			if err := registry.Login(cmd.Context(), server, user, password, registry.Options{}); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password (--password-stdin keeps it out of the process list)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	return cmd
}

// registryArg is login's and logout's SERVER argument (Docker Hub when
// none) and the key its credentials are filed under.
func registryArg(args []string) (server, key string, err error) {
	if len(args) == 1 {
		server = args[0]
	}
	key, err = registry.LoginKey(server)
	return server, key, err
}

func newLogoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Forget the credentials of a registry (Docker Hub by default)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, key, err := registryArg(args)
			if err != nil {
				return err
			}
			had, err := registry.Logout(server)
			if err != nil {
				return err
			}
			if had {
				fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", key)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s\n", key)
			}
			return nil
		},
	}
}

// --- save / load ---

func newSaveCmd(g *globalOptions) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Write images to an archive (docker-archive or OCI), to a file or stdout",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSave(cmd, g, output, format, args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	cmd.Flags().StringVar(&format, "format", "docker", "archive format: docker (what docker load reads) or oci")
	return cmd
}

func runSave(cmd *cobra.Command, g *globalOptions, output, format string, refs []string) error {
	ctx := cmd.Context()
	f, err := archive.ParseFormat(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	stdout := cmd.OutOrStdout()
	if output == "" || output == "-" {
		if file, ok := stdout.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
			return fmt.Errorf("refusing to write an archive to a terminal; use -o FILE or redirect stdout: %w", errdefs.ErrInvalidArgument)
		}
	}
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	var images []archive.Named
	for _, ref := range refs {
		e, img, err := st.ResolveImage(ctx, ref)
		if err != nil {
			return err
		}
		n := archive.Named{Image: img}
		if nn, err := store.NormalizeName(ref); err == nil {
			for _, have := range e.Names {
				if have == nn {
					n.Name = nn
				}
			}
		}
		images = append(images, n)
	}
	if output == "" || output == "-" {
		return archive.Save(ctx, stdout, f, images)
	}
	tmp, err := os.CreateTemp(filepath.Dir(output), ".tabula-save-*")
	if err != nil {
		return fmt.Errorf("save to %s: %w", output, err)
	}
	defer os.Remove(tmp.Name())
	if err := archive.Save(ctx, tmp, f, images); err != nil {
		tmp.Close()
		return fmt.Errorf("save to %s: %w", output, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save to %s: %w", output, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("save to %s: %w", output, err)
	}
	return nil
}

func newLoadCmd(g *globalOptions) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a docker-archive or OCI archive (gzip too), a file or stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var r io.Reader = cmd.InOrStdin()
			if input != "" && input != "-" {
				f, err := os.Open(input)
				if err != nil {
					if errors.Is(err, os.ErrNotExist) {
						return fmt.Errorf("load: %s does not exist: %w", input, errdefs.ErrNotFound)
					}
					return fmt.Errorf("load: %w", err)
				}
				defer f.Close()
				r = f
			} else if f, ok := r.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return fmt.Errorf("load: stdin is a terminal; use -i FILE or pipe an archive in: %w", errdefs.ErrInvalidArgument)
			}
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			names, err := archive.Load(cmd.Context(), r, st)
			for _, n := range names {
				if quiet {
					continue
				}
				if strings.HasPrefix(n, "sha256:") {
					fmt.Fprintf(cmd.OutOrStdout(), "Loaded image ID: %s\n", n)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "Loaded image: %s\n", n)
				}
			}
			if err != nil && input != "" {
				return fmt.Errorf("%s: %w", input, err)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from this file instead of stdin")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return cmd
}
