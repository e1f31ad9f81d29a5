package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tabula-dev/tabula/layer"
)

func init() {
	commandGroups = append(commandGroups, commandGroup{
		names: []string{"system", "builder"},
		add: func(root *cobra.Command, g *globalOptions) {
			system := &cobra.Command{
				Use:   "system",
				Short: "Check, measure and clean tabula's root",
				Args:  cobra.NoArgs,
				RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
			}
			system.AddCommand(newSystemCheckCmd(g), newSystemDfCmd(g), newSystemPruneCmd(g))
			builder := &cobra.Command{
				Use:   "builder",
				Short: "Manage the build cache",
				Args:  cobra.NoArgs,
				RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
			}
			builder.AddCommand(newBuilderPruneCmd(g))
			root.AddCommand(system, builder)
		},
	})
}

func newSystemCheckCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify every image's blobs against their sizes and digests",
		Long: `Verify the image store: index.json parses, and every manifest, config and
layer it references exists with the right size and digest. Each problem is
printed on its own line and the command exits 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := openImageStore(g)
			if err != nil {
				return err
			}
			if err := st.Check(cmd.Context()); err != nil {
				return err
			}
			entries, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "The image store %s is consistent: %d image(s).\n", st.Dir(), len(entries))
			return nil
		},
	}
}

func newSystemDfCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "df",
		Short: "Show the disk space tabula uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSystemDf(cmd.Context(), g, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
}

func runSystemDf(ctx context.Context, g *globalOptions, stdout, stderr io.Writer) error {
	st, err := openImageStore(g)
	if err != nil {
		return err
	}
	entries, err := listImages(ctx, st, stderr)
	if err != nil {
		return err
	}
	dangling := 0
	for _, e := range entries {
		if len(e.Names) == 0 {
			dangling++
		}
	}
	imagesSize, err := layer.DiskUsage(ctx, st.Dir())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 10, 1, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tDANGLING\tSIZE")
	fmt.Fprintf(tw, "Images\t%d\t%d\t%s\n", len(entries), dangling, humanSize(imagesSize))
	// Layers are those unpacked for containers, each a directory of
	// layers/sha256; the rest, one entry each.
	for _, d := range []struct{ name, dir, entries string }{
		{"Layers", "layers", "layers/sha256"}, {"Containers", "containers", "containers"}, {"Build Cache", "cache", "cache"},
	} {
		n, err := layer.DiskUsage(ctx, filepath.Join(g.root, d.dir))
		if err != nil {
			return err
		}
		count := 0
		if des, err := os.ReadDir(filepath.Join(g.root, d.entries)); err == nil {
			count = len(des)
		}
		fmt.Fprintf(tw, "%s\t%d\t\t%s\n", d.name, count, humanSize(n))
	}
	return tw.Flush()
}

// newSystemPruneCmd removes what nothing uses, as docker system prune does:
// stopped containers, the build cache, then dangling images (-a: every
// unused image) and blobs no image uses.
func newSystemPruneCmd(g *globalOptions) *cobra.Command {
	var all bool
	cmd := newPruneCmd("Remove stopped containers, the build cache, dangling images (-a: every unused image) and unused blobs",
		func(cmd *cobra.Command) error {
			if err := pruneContainers(cmd.Context(), containersOf(g), cmd.OutOrStdout()); err != nil {
				return err
			}
			if err := pruneBuildCache(cmd.Context(), g, cmd.OutOrStdout()); err != nil {
				return err
			}
			return pruneImageStore(cmd, g, all)
		})
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every unused image, not only dangling ones")
	return cmd
}

// newPruneCmd is a prune command: no arguments, and Docker's -f, which
// tabula accepts and needs not (it never asks).
func newPruneCmd(short string, run func(cmd *cobra.Command) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "prune [flags]",
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return run(cmd) },
	}
	cmd.Flags().BoolP("force", "f", false, "do not ask for confirmation (tabula never asks)")
	return cmd
}

func newBuilderPruneCmd(g *globalOptions) *cobra.Command {
	return newPruneCmd("Remove the build cache: the step cache's layers and the doctor's reports",
		func(cmd *cobra.Command) error { return pruneBuildCache(cmd.Context(), g, cmd.OutOrStdout()) })
}

// pruneBuildCache removes <root>/cache. It is renamed away first, so that a
// build running meanwhile finds an empty cache rather than half of one.
func pruneBuildCache(ctx context.Context, g *globalOptions, stdout io.Writer) error {
	dir := filepath.Join(g.root, "cache")
	n, err := layer.DiskUsage(ctx, dir)
	if err != nil {
		return err
	}
	gone := filepath.Join(g.root, ".cache-pruned")
	os.RemoveAll(gone) // left by a prune that was interrupted
	if err := os.Rename(dir, gone); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if err := os.RemoveAll(gone); err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stdout, "Deleted build cache: %s\n\n", humanSize(n))
	}
	return nil
}
