package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/tabula-dev/tabula/analyze"
	"github.com/tabula-dev/tabula/errdefs"
	"github.com/tabula-dev/tabula/store"
)

// buildCheck is `tabula build --check`: what the doctor's findings on the
// built image do to the build.
type buildCheck string

const (
	// checkPrint runs the doctor and prints its findings; none fails the
	// build. It is the default.
	checkPrint buildCheck = ""
	// checkError fails the build on errors (the container would not start).
	checkError buildCheck = "error"
	// checkWarning fails the build on errors and warnings.
	checkWarning buildCheck = "warning"
	// checkOff does not run the doctor.
	checkOff buildCheck = "off"
)

// checkFlagHelp is the help of build's --check flag.
const checkFlagHelp = `run the doctor on the built image and fail the build on its findings of this severity or worse: error, warning, or off to not run it (default: print the findings, fail on none). ` +
	`A build that fails the check exits 1 and, as docker build with check=error=true, stores, tags and writes nothing (the step cache keeps its steps). ` +
	`With -q the findings are printed only when they fail the build`

// parseBuildCheck validates a --check value.
func parseBuildCheck(v string) (buildCheck, error) {
	switch c := buildCheck(v); c {
	case checkPrint, checkError, checkWarning, checkOff:
		return c, nil
	}
	return "", fmt.Errorf("--check %q: want error, warning or off: %w", v, errdefs.ErrInvalidArgument)
}

// checkFailedError fails a build whose image the doctor found wanting; the
// exit status is 1, as for `tabula doctor`.
type checkFailedError struct {
	check  buildCheck
	report analyze.Report
}

func (e checkFailedError) Error() string {
	var parts []string
	for _, sev := range []analyze.Severity{analyze.Error, analyze.Warning} {
		if !sev.AtLeast(analyze.Severity(e.check)) {
			continue
		}
		var names []string
		for _, f := range e.report.Findings {
			if f.Severity == sev && !slices.Contains(names, f.Check) {
				names = append(names, f.Check)
			}
		}
		if n := e.report.Count(sev); n > 0 {
			word := string(sev)
			if n > 1 {
				word += "s"
			}
			parts = append(parts, fmt.Sprintf("%d %s (%s)", n, word, strings.Join(names, ", ")))
		}
	}
	return fmt.Sprintf("--check %s: the doctor found %s in the image, so it was not stored; fix the Dockerfile as the findings say, or build with --check %s",
		e.check, strings.Join(parts, " and "), e.looser())
}

// looser names the --check values that would let the image through.
func (e checkFailedError) looser() string {
	if e.check == checkWarning && e.report.AtLeast(analyze.Error) == 0 {
		return "error or --check off"
	}
	return "off"
}

func (checkFailedError) ExitCode() int { return 1 }

// run checks the built image img, named name in the output, before it is
// stored: it prints the findings to w (all of them, or with quiet only
// those of a failing check) and returns a checkFailedError when they fail
// the build. Reports are kept in cacheDir, so a build that made the same
// image before costs no second look.
func (c buildCheck) run(ctx context.Context, w io.Writer, quiet bool, cacheDir string, img v1.Image, name string) error {
	if c == checkOff {
		return nil
	}
	r, err := doctorReports{dir: filepath.Join(cacheDir, "doctor")}.check(ctx, img, name)
	if err != nil {
		return fmt.Errorf("check the built image: %w", err)
	}
	failed := c != checkPrint && r.AtLeast(analyze.Severity(c)) > 0
	if len(r.Findings) == 0 || (quiet && !failed) {
		return nil
	}
	r.Name = "doctor: " + name
	if err := r.WriteText(w); err != nil {
		return err
	}
	if failed {
		return checkFailedError{check: c, report: r}
	}
	return nil
}

// checkedName names the built image in the doctor's output: its first -t,
// else its short ID.
func checkedName(tags []string, id v1.Hash) string {
	if len(tags) > 0 {
		return tags[0]
	}
	return "image " + store.ShortID(id)
}

// doctorReports are the doctor's reports on images, one file each under
// dir, named by a key of the image ID and of the tabula executable that
// wrote it: the report is a function of the image's config and layers, and
// of the checks, which change only with the executable.
type doctorReports struct{ dir string }

// key is the file name of img's report, "" when the executable cannot be
// told (then nothing is kept).
func (d doctorReports) key(img v1.Image) string {
	id, err := img.ConfigName()
	if err != nil {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "tabula-doctor-v1\x00%s\x00%s\x00%s\x00%d\x00%d", id, analyze.HostArch(), exe, fi.Size(), fi.ModTime().UnixNano())
	return hex.EncodeToString(h.Sum(nil)) + ".json"
}

// check returns the report on img, from the cache or from the doctor.
func (d doctorReports) check(ctx context.Context, img v1.Image, name string) (analyze.Report, error) {
	key := d.key(img)
	if key != "" {
		if data, err := os.ReadFile(filepath.Join(d.dir, key)); err == nil {
			var r analyze.Report
			if json.Unmarshal(data, &r) == nil {
				r.Name = name
				return r, nil
			}
		}
	}
	r, err := analyze.CheckImage(ctx, name, img, analyze.Options{})
	if err != nil || key == "" {
		return r, err
	}
	// Keeping the report is an optimisation: failures to write are ignored.
	if data, err := json.Marshal(r); err == nil && os.MkdirAll(d.dir, 0o755) == nil {
		if f, err := os.CreateTemp(d.dir, ".report-*"); err == nil {
			_, werr := f.Write(data)
			if cerr := f.Close(); werr == nil && cerr == nil {
				werr = os.Rename(f.Name(), filepath.Join(d.dir, key))
			}
			if werr != nil {
				os.Remove(f.Name())
			}
		}
	}
	return r, nil
}
