package dockerfile

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/tabula-dev/tabula/errdefs"
)

// DefaultPath is the PATH a scratch stage starts with, as Docker sets it.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Options shape Parse.
type Options struct {
	// Name is the Dockerfile's name in errors; "Dockerfile" when empty.
	Name string
	// BuildArgs are the --build-arg values.
	BuildArgs map[string]string
	// Target names the stage to build; the last stage when empty.
	Target string
	// ImageEnv returns the environment of an image that a FROM names (its
	// config's Env), for expanding variables in that stage. It is called only
	// for image bases; nil means images bring no environment.
	ImageEnv func(ref string) ([]string, error)
	// ImageOnBuild returns the ONBUILD triggers of an image that a FROM
	// names; they run first in the stage, as Docker runs them. Nil means none.
	ImageOnBuild func(ref string) ([]string, error)
}

// Dockerfile is a parsed, expanded and validated Dockerfile.
type Dockerfile struct {
	// Name is the file's name as errors show it.
	Name string
	// Escape is the escape character (the escape directive, '\\' by default).
	Escape rune
	// Stages in the order of the file.
	Stages []*Stage
	// Target is the stage to build.
	Target *Stage
	// UnusedArgs are the build args no ARG of the built stages (or of the
	// global scope) declares, sorted: Docker warns about them.
	UnusedArgs []string

	declared map[string]bool
}

// Stage is one FROM and the instructions that follow it.
type Stage struct {
	// Index is the stage's position, from 0.
	Index int
	// Name is the lowercased AS name, empty when the stage has none.
	Name string
	// Base is the expanded FROM argument: "scratch", an earlier stage's name
	// or index, or an image reference.
	Base string
	// BaseStage is the earlier stage that FROM names, if it names one.
	BaseStage *Stage
	// Platform is the expanded FROM --platform value, if any.
	Platform string
	// Line is the FROM instruction's line; Text its source.
	Line int
	Text string
	// Instructions in order, expanded.
	Instructions []*Instruction
	// Needed says whether the target depends on the stage (or is it).
	Needed bool

	env  []string // environment at the end of the stage, for stages FROM it
	err  error    // the first error found while expanding the stage
	deps []*Instruction
}

// Instruction is one instruction of a stage, with its variables expanded.
type Instruction struct {
	// Line is where the instruction starts; Text is its source.
	Line int
	Text string
	// Command is BuildKit's typed instruction: *instructions.CopyCommand,
	// *instructions.EnvCommand, and so on.
	Command instructions.Command
	// FromStage is the stage that COPY --from names, when it names a stage.
	FromStage *Stage
}

// Ref is how progress output names the stage: its name or its index.
func (s *Stage) Ref() string {
	if s.Name != "" {
		return s.Name
	}
	return strconv.Itoa(s.Index)
}

// Error is an error at a line of a Dockerfile; it matches
// errdefs.ErrInvalidArgument as well as the error it wraps.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() []error { return []error{e.Err, errdefs.ErrInvalidArgument} }

// At wraps err as an error at line of the Dockerfile.
func (d *Dockerfile) At(line int, err error) error {
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return &Error{File: d.Name, Line: line, Err: err}
}

// Errorf is At with a formatted error.
func (d *Dockerfile) Errorf(line int, format string, args ...any) error {
	return d.At(line, fmt.Errorf(format, args...))
}

// Parse reads, expands and validates a Dockerfile.
func Parse(r io.Reader, opts Options) (*Dockerfile, error) {
	d := &Dockerfile{Name: opts.Name, Escape: '\\', declared: map[string]bool{}}
	if d.Name == "" {
		d.Name = "Dockerfile"
	}
	res, err := parser.Parse(r)
	if err != nil {
		return nil, d.At(errorLine(err), cleanError(err))
	}
	d.Escape = res.EscapeToken
	lex := shell.NewLex(d.Escape)

	meta := predefinedArgs()
	var cur *Stage
	for _, n := range res.AST.Children {
		v, err := instructions.ParseInstruction(n)
		if err != nil {
			return nil, d.At(n.StartLine, cleanError(err))
		}
		text := strings.TrimSpace(n.Original)
		switch c := v.(type) {
		case *instructions.Stage:
			cur = &Stage{Index: len(d.Stages), Name: c.Name, Base: c.BaseName, Platform: c.Platform, Line: n.StartLine, Text: text}
			for _, s := range d.Stages {
				if c.Name != "" && s.Name == c.Name {
					return nil, d.Errorf(n.StartLine, "stage name %q is already used by the stage at line %d", c.Name, s.Line)
				}
			}
			d.Stages = append(d.Stages, cur)
		case *instructions.ArgCommand:
			if cur != nil {
				cur.Instructions = append(cur.Instructions, &Instruction{Line: n.StartLine, Text: text, Command: c})
				continue
			}
			for _, a := range c.Args {
				key, err := expand(lex, a.Key, meta)
				if err != nil {
					return nil, d.At(n.StartLine, err)
				}
				d.declared[key] = true
				if bv, ok := opts.BuildArgs[key]; ok {
					meta.set(key, bv)
				} else if a.Value != nil {
					val, err := expand(lex, *a.Value, meta)
					if err != nil {
						return nil, d.At(n.StartLine, err)
					}
					meta.set(key, val)
				}
			}
		case instructions.Command:
			if cur == nil {
				return nil, d.Errorf(n.StartLine, "%s comes before the first FROM; only ARG may precede FROM", strings.ToUpper(n.Value))
			}
			cur.Instructions = append(cur.Instructions, &Instruction{Line: n.StartLine, Text: text, Command: c})
		default:
			return nil, d.Errorf(n.StartLine, "%s is not an instruction tabula knows", n.Value)
		}
	}
	if len(d.Stages) == 0 {
		return nil, d.Errorf(0, "the file has no FROM instruction; start it with FROM scratch")
	}

	for _, s := range d.Stages {
		s.err = d.expandStage(lex, s, meta, opts)
	}

	d.Target = d.Stages[len(d.Stages)-1]
	if opts.Target != "" {
		d.Target = nil
		for _, s := range d.Stages {
			if s.Name == strings.ToLower(opts.Target) {
				d.Target = s
			}
		}
		if d.Target == nil {
			var names []string
			for _, s := range d.Stages {
				if s.Name != "" {
					names = append(names, s.Name)
				}
			}
			have := "it has no named stages"
			if len(names) > 0 {
				have = "its stages are " + strings.Join(names, ", ")
			}
			return nil, fmt.Errorf("--target %s: %s has no stage named %s; %s: %w", opts.Target, d.Name, opts.Target, have, errdefs.ErrInvalidArgument)
		}
	}
	if err := d.markNeeded(d.Target, map[*Stage]bool{}); err != nil {
		return nil, err
	}
	for _, s := range d.Stages {
		if !s.Needed {
			continue
		}
		if s.err != nil {
			return nil, s.err
		}
		if err := d.checkSupported(s); err != nil {
			return nil, err
		}
		for _, in := range s.Instructions {
			if a, ok := in.Command.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					d.declared[kv.Key] = true
				}
			}
		}
	}
	for k := range opts.BuildArgs {
		if !d.declared[k] {
			d.UnusedArgs = append(d.UnusedArgs, k)
		}
	}
	sort.Strings(d.UnusedArgs)
	return d, nil
}

// markNeeded marks s and every stage it depends on, refusing cycles.
func (d *Dockerfile) markNeeded(s *Stage, visiting map[*Stage]bool) error {
	if s.Needed {
		return nil
	}
	if visiting[s] {
		return d.Errorf(s.Line, "stage %s depends on itself through COPY --from", s.Ref())
	}
	visiting[s] = true
	defer delete(visiting, s)
	if s.BaseStage != nil {
		if err := d.markNeeded(s.BaseStage, visiting); err != nil {
			return err
		}
	}
	for _, in := range s.deps {
		if in.FromStage == s {
			return d.Errorf(in.Line, "COPY --from=%s names the stage it is in", in.FromStage.Ref())
		}
		if visiting[in.FromStage] {
			return d.Errorf(in.Line, "COPY --from=%s makes a cycle: stage %s depends on stage %s", in.FromStage.Ref(), in.FromStage.Ref(), s.Ref())
		}
		if err := d.markNeeded(in.FromStage, visiting); err != nil {
			return err
		}
	}
	s.Needed = true
	return nil
}

// checkSupported refuses what tabula cannot build yet, at its line.
func (d *Dockerfile) checkSupported(s *Stage) error {
	for _, in := range s.Instructions {
		switch c := in.Command.(type) {
		case *instructions.RunCommand:
			return d.Errorf(in.Line, "RUN is not supported yet: tabula builds without running commands; build the program outside and COPY it in, or build it in a stage the target does not need (stage %s is needed)", s.Ref())
		case *instructions.CopyCommand:
			if c.Parents {
				return d.Errorf(in.Line, "COPY --parents is not supported")
			}
		case *instructions.AddCommand:
			if c.KeepGitDir != nil {
				return d.Errorf(in.Line, "ADD --keep-git-dir is not supported: tabula does not add git repositories")
			}
		}
	}
	return nil
}

// expandStage resolves the stage's base and expands its instructions with
// Docker's rules: FROM sees the global ARGs; inside the stage, ARGs declared
// in it and the environment (from the base and ENV) are visible, ENV winning.
func (d *Dockerfile) expandStage(lex *shell.Lex, s *Stage, meta *vars, opts Options) error {
	base, err := expand(lex, s.Base, meta)
	if err != nil {
		return d.At(s.Line, err)
	}
	if base == "" {
		return d.Errorf(s.Line, "FROM %s expands to an empty image name", s.Base)
	}
	s.Base = base
	if s.Platform != "" {
		if s.Platform, err = expand(lex, s.Platform, meta); err != nil {
			return d.At(s.Line, err)
		}
	}
	env := &vars{}
	switch {
	case strings.EqualFold(base, "scratch"):
		s.Base = "scratch"
		env.setAll([]string{DefaultPath})
	default:
		if b := d.stageNamed(base, s.Index); b != nil {
			s.BaseStage = b
			if b.err != nil {
				return b.err
			}
			env.setAll(b.env)
		} else {
			if opts.ImageEnv != nil {
				ie, err := opts.ImageEnv(base)
				if err != nil {
					return d.At(s.Line, err)
				}
				env.setAll(ie)
			}
			if opts.ImageOnBuild != nil {
				triggers, err := opts.ImageOnBuild(base)
				if err != nil {
					return d.At(s.Line, err)
				}
				if err := d.addTriggers(s, triggers); err != nil {
					return err
				}
			}
		}
	}
	args := &vars{}
	both := &layered{top: env, bottom: args}
	for _, in := range s.Instructions {
		switch c := in.Command.(type) {
		case *instructions.ArgCommand:
			for i, a := range c.Args {
				key, err := expand(lex, a.Key, both)
				if err != nil {
					return d.At(in.Line, err)
				}
				c.Args[i].Key = key
				switch bv, ok := opts.BuildArgs[key]; {
				case ok:
					args.set(key, bv)
				case a.Value != nil:
					val, err := expand(lex, *a.Value, both)
					if err != nil {
						return d.At(in.Line, err)
					}
					args.set(key, val)
				default:
					if mv, ok := meta.Get(key); ok {
						args.set(key, mv)
					}
				}
				if v, ok := args.Get(key); ok {
					c.Args[i].Value = &v
				}
			}
			continue
		case *instructions.RunCommand, *instructions.CmdCommand, *instructions.EntrypointCommand,
			*instructions.HealthCheckCommand, *instructions.ShellCommand, *instructions.OnbuildCommand:
			continue // Docker expands no variables in these
		case *instructions.ExposeCommand:
			var ports []string
			for _, p := range c.Ports {
				words, err := lex.ProcessWords(p, both)
				if err != nil {
					return d.At(in.Line, err)
				}
				ports = append(ports, words...)
			}
			c.Ports = ports
			continue
		}
		if ex, ok := in.Command.(instructions.SupportsSingleWordExpansion); ok {
			err := ex.Expand(func(word string) (string, error) { return expand(lex, word, both) })
			if err != nil {
				return d.At(in.Line, err)
			}
		}
		if ex, ok := in.Command.(instructions.SupportsSingleWordExpansionRaw); ok {
			raw := shell.NewLex('\\')
			raw.SkipProcessQuotes = true
			err := ex.ExpandRaw(func(word string) (string, error) {
				out, _, err := raw.ProcessWord(word, both)
				return out, err
			})
			if err != nil {
				return d.At(in.Line, err)
			}
		}
		switch c := in.Command.(type) {
		case *instructions.EnvCommand:
			for _, kv := range c.Env {
				env.set(kv.Key, kv.Value)
			}
		case *instructions.CopyCommand:
			if c.From == "" {
				break
			}
			from, err := d.fromStage(c.From, s, in.Line)
			if err != nil {
				return err
			}
			if from != nil {
				in.FromStage = from
				s.deps = append(s.deps, in)
			}
		}
	}
	s.env = env.list()
	return nil
}

// addTriggers puts the base image's ONBUILD triggers first in the stage,
// at the FROM line.
func (d *Dockerfile) addTriggers(s *Stage, triggers []string) error {
	var ins []*Instruction
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t + "\n"))
		if err != nil || len(res.AST.Children) != 1 {
			return d.Errorf(s.Line, "the ONBUILD trigger %q of image %s does not parse", t, s.Base)
		}
		n := res.AST.Children[0]
		switch strings.ToLower(n.Value) {
		case "onbuild", "from", "maintainer":
			return d.Errorf(s.Line, "the ONBUILD trigger %q of image %s: %s is not allowed as a trigger", t, s.Base, strings.ToUpper(n.Value))
		}
		v, err := instructions.ParseInstruction(n)
		if err != nil {
			return d.Errorf(s.Line, "the ONBUILD trigger %q of image %s: %v", t, s.Base, cleanError(err))
		}
		c, ok := v.(instructions.Command)
		if !ok {
			return d.Errorf(s.Line, "the ONBUILD trigger %q of image %s is not an instruction", t, s.Base)
		}
		ins = append(ins, &Instruction{Line: s.Line, Text: strings.TrimSpace(t), Command: c})
	}
	s.Instructions = append(ins, s.Instructions...)
	return nil
}

// stageNamed returns the stage before index before that name names (by AS
// name or by index), or nil.
func (d *Dockerfile) stageNamed(name string, before int) *Stage {
	for _, s := range d.Stages[:before] {
		if s.Name != "" && s.Name == strings.ToLower(name) {
			return s
		}
	}
	if i, err := strconv.Atoi(name); err == nil && i >= 0 && i < before {
		return d.Stages[i]
	}
	return nil
}

// fromStage resolves COPY --from: any stage by name (earlier or later, as
// BuildKit allows), an earlier stage by index, or nil for an image.
func (d *Dockerfile) fromStage(from string, s *Stage, line int) (*Stage, error) {
	for _, o := range d.Stages {
		if o.Name != "" && o.Name == strings.ToLower(from) {
			return o, nil
		}
	}
	if i, err := strconv.Atoi(from); err == nil {
		if i < 0 || i >= s.Index {
			return nil, d.Errorf(line, "COPY --from=%d: a stage index must name an earlier stage (0 to %d)", i, s.Index-1)
		}
		return d.Stages[i], nil
	}
	return nil, nil
}

// predefinedArgs are the platform ARGs BuildKit defines in the global scope.
func predefinedArgs() *vars {
	v := &vars{}
	arch := runtime.GOARCH
	platform := "linux/" + arch
	for _, kv := range [][2]string{
		{"TARGETPLATFORM", platform}, {"TARGETOS", "linux"}, {"TARGETARCH", arch}, {"TARGETVARIANT", ""},
		{"BUILDPLATFORM", platform}, {"BUILDOS", "linux"}, {"BUILDARCH", arch}, {"BUILDVARIANT", ""},
	} {
		v.set(kv[0], kv[1])
	}
	return v
}

func expand(lex *shell.Lex, word string, env shell.EnvGetter) (string, error) {
	out, _, err := lex.ProcessWord(word, env)
	if err != nil {
		return "", fmt.Errorf("expand %q: %v", word, err)
	}
	return out, nil
}

// errorLine is the first line a BuildKit error locates, or 0.
func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) {
		for _, loc := range le.Locations {
			for _, r := range loc {
				if r.Start.Line > 0 {
					return r.Start.Line
				}
			}
		}
	}
	return 0
}

// cleanError drops BuildKit's wrappers (locations, stacks) and keeps the
// message.
func cleanError(err error) error {
	return errors.New(err.Error())
}

// vars is an ordered set of variables, as a shell.EnvGetter.
type vars struct {
	keys []string
	vals map[string]string
}

func (v *vars) set(k, val string) {
	if v.vals == nil {
		v.vals = map[string]string{}
	}
	if _, ok := v.vals[k]; !ok {
		v.keys = append(v.keys, k)
	}
	v.vals[k] = val
}

func (v *vars) setAll(env []string) {
	for _, kv := range env {
		k, val, _ := strings.Cut(kv, "=")
		v.set(k, val)
	}
}

func (v *vars) Get(k string) (string, bool) {
	val, ok := v.vals[k]
	return val, ok
}

func (v *vars) Keys() []string { return append([]string(nil), v.keys...) }

func (v *vars) list() []string {
	out := make([]string, 0, len(v.keys))
	for _, k := range v.keys {
		out = append(out, k+"="+v.vals[k])
	}
	return out
}

// layered looks variables up in top, then bottom.
type layered struct{ top, bottom shell.EnvGetter }

func (l *layered) Get(k string) (string, bool) {
	if v, ok := l.top.Get(k); ok {
		return v, ok
	}
	return l.bottom.Get(k)
}

func (l *layered) Keys() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range append(l.top.Keys(), l.bottom.Keys()...) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
