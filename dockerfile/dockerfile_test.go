package dockerfile

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/tabula-dev/tabula/errdefs"
)

func parse(t *testing.T, src string, opts Options) *Dockerfile {
	t.Helper()
	d, err := Parse(strings.NewReader(src), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		opts      Options
		want      string
	}{
		{"unknown instruction", "FROM scratch\nCOPY a /a\nCOPPY b /b\n", Options{}, "Dockerfile:3: unknown instruction: COPPY"},
		{"run in target", "FROM scratch\nCOPY a /a\nRUN echo hi\n", Options{}, "Dockerfile:3: RUN is not supported yet"},
		{"run in needed base stage", "FROM scratch AS b\nRUN x\nFROM b\nCOPY a /a\n", Options{}, "Dockerfile:2: RUN is not supported yet"},
		{"run in needed from stage", "FROM scratch AS b\nRUN x\nFROM scratch\nCOPY --from=b a /a\n", Options{}, "Dockerfile:2: RUN is not supported yet"},
		{"no from", "COPY a /a\n", Options{}, "Dockerfile:1: COPY comes before the first FROM"},
		{"empty", "# nothing\n", Options{}, "Dockerfile:1: file with no instructions"},
		{"only args", "ARG A=1\n", Options{}, "Dockerfile: the file has no FROM instruction"},
		{"bad stage name", "FROM scratch AS 1x\n", Options{}, "Dockerfile:1: invalid name for build stage"},
		{"duplicate stage", "FROM scratch AS a\nFROM scratch AS a\n", Options{}, "Dockerfile:2: stage name \"a\" is already used by the stage at line 1"},
		{"copy no dest", "FROM scratch\nCOPY a\n", Options{}, "Dockerfile:2: COPY requires at least two arguments"},
		{"unknown flag", "FROM scratch\nCOPY --frm=a a /a\n", Options{}, "Dockerfile:2: unknown flag: --frm"},
		{"unknown target", "FROM scratch AS a\n", Options{Target: "b"}, "--target b: Dockerfile has no stage named b; its stages are a"},
		{"name in error", "FROM scratch\nFOO x\n", Options{Name: "build/app.Dockerfile"}, "build/app.Dockerfile:2: unknown instruction: FOO"},
		{"bad expansion", "FROM scratch\nCOPY ${x:?needs x} /a\n", Options{}, "Dockerfile:2: expand"},
		{"from index ahead", "FROM scratch\nFROM scratch\nCOPY --from=1 a /a\n", Options{}, "Dockerfile:3: COPY --from=1: a stage index must name an earlier stage"},
		{"from itself", "FROM scratch AS a\nCOPY --from=a x /x\n", Options{}, "Dockerfile:2: COPY --from=a names the stage it is in"},
		{"cycle", "FROM scratch AS a\nCOPY --from=b x /x\nFROM scratch AS b\nCOPY --from=a x /x\n", Options{}, "makes a cycle"},
		{"empty from", "ARG IMG\nFROM ${IMG}\n", Options{}, "Dockerfile:2: FROM ${IMG} expands to an empty image name"},
		{"image env failure", "FROM app:1\n", Options{ImageEnv: func(string) ([]string, error) {
			return nil, fmt.Errorf("no image app:1 in the store: %w", errdefs.ErrNotFound)
		}}, "Dockerfile:1: no image app:1 in the store"},
		{"copy parents", "FROM scratch\nCOPY --parents a /b/\n", Options{}, "Dockerfile:2: COPY --parents is not supported"},
		{"unterminated heredoc escape", "# escape=x\nFROM scratch\n", Options{}, "invalid escape token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src), tt.opts)
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not contain %q", err, tt.want)
			}
			if !errdefs.IsInvalidArgument(err) {
				t.Errorf("error %v is not ErrInvalidArgument", err)
			}
		})
	}
}

func TestUnneededStagesMayRun(t *testing.T) {
	src := "FROM golang:1 AS builder\nRUN go build -o /app .\nFROM scratch AS files\nCOPY app /app\nFROM scratch\nCOPY --from=files /app /app\n"
	d := parse(t, src, Options{ImageEnv: func(string) ([]string, error) { return nil, errors.New("no such image") }})
	if d.Stages[0].Needed || !d.Stages[1].Needed || !d.Stages[2].Needed {
		t.Fatalf("needed = %v %v %v, want false true true", d.Stages[0].Needed, d.Stages[1].Needed, d.Stages[2].Needed)
	}
	cp := d.Target.Instructions[0]
	if cp.FromStage != d.Stages[1] {
		t.Fatalf("COPY --from=files resolved to %v", cp.FromStage)
	}
	// The same file targeting the builder stage fails at the RUN line.
	_, err := Parse(strings.NewReader(src), Options{Target: "builder", ImageEnv: func(string) ([]string, error) { return []string{"GOPATH=/go"}, nil }})
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:2: RUN is not supported yet") {
		t.Fatalf("err = %v", err)
	}
}

func TestArgs(t *testing.T) {
	src := `ARG BASE=scr
ARG TAG
ARG VERSION=1.0
FROM ${BASE}atch AS a
ARG VERSION
ARG TARGETARCH
ARG OTHER=${VERSION}-x
ARG UNSET
ENV FROMENV=${OTHER} DEFAULTED=${UNSET:-dflt} TAGGED=${TAG:-none}
COPY src-${VERSION} /dst/${FROMENV}/${TARGETARCH}/
ENV VERSION=env
LABEL v=${VERSION}
FROM a
ARG VERSION=2
WORKDIR /w/${VERSION}/${FROMENV}
USER ${NOPE:-65532}:${NOPE:-65532}
`
	tests := []struct {
		name string
		args map[string]string
		want []string // COPY dest, LABEL v, WORKDIR, USER
	}{
		{"defaults", nil, []string{"/dst/1.0-x/${ARCH}/", "env", "/w/env/1.0-x", "65532:65532"}},
		{"build args", map[string]string{"VERSION": "9", "TAG": "t"}, []string{"/dst/9-x/${ARCH}/", "env", "/w/env/9-x", "65532:65532"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parse(t, src, Options{BuildArgs: tt.args})
			a, b := d.Stages[0], d.Stages[1]
			if a.Base != "scratch" || b.BaseStage != a {
				t.Fatalf("bases: %q, %v", a.Base, b.BaseStage)
			}
			cp := a.Instructions[5].Command.(*instructions.CopyCommand)
			lbl := a.Instructions[7].Command.(*instructions.LabelCommand)
			wd := b.Instructions[1].Command.(*instructions.WorkdirCommand)
			usr := b.Instructions[2].Command.(*instructions.UserCommand)
			got := []string{cp.DestPath, lbl.Labels[0].Value, wd.Path, usr.User}
			for i := range got {
				want := strings.ReplaceAll(tt.want[i], "${ARCH}", predefinedArgs().vals["TARGETARCH"])
				if got[i] != want {
					t.Errorf("value %d = %q, want %q", i, got[i], want)
				}
			}
			env := a.Instructions[4].Command.(*instructions.EnvCommand)
			// TAG is a global ARG not declared again in the stage: not visible.
			if env.Env[1].Value != "dflt" || env.Env[2].Value != "none" {
				t.Errorf("ENV = %v", env.Env)
			}
			if cp.SourcePaths[0] != "src-"+map[bool]string{true: "9", false: "1.0"}[tt.args["VERSION"] == "9"] {
				t.Errorf("COPY source = %q", cp.SourcePaths[0])
			}
		})
	}
}

func TestEscapeDirectiveAndHeredoc(t *testing.T) {
	src := "# escape=`\nFROM scratch\nENV A=1\nCOPY <<EOF /greeting\nhello $A\nEOF\nCOPY <<'EOF' /raw\nraw $A\nEOF\nLABEL x=a`\n  y=b\n"
	d := parse(t, src, Options{})
	if d.Escape != '`' {
		t.Fatalf("escape = %q", d.Escape)
	}
	ins := d.Target.Instructions
	hd := ins[1].Command.(*instructions.CopyCommand).SourceContents[0]
	if hd.Data != "hello 1\n" || hd.Path != "EOF" {
		t.Errorf("heredoc = %+v", hd)
	}
	raw := ins[2].Command.(*instructions.CopyCommand).SourceContents[0]
	if raw.Data != "raw $A\n" {
		t.Errorf("quoted heredoc expanded: %+v", raw)
	}
	lbl := ins[3].Command.(*instructions.LabelCommand)
	if len(lbl.Labels) != 2 || lbl.Labels[0].Value != "a" || lbl.Labels[1].Key != "y" {
		t.Errorf("labels = %v", lbl.Labels)
	}
	if ins[3].Line != 10 {
		t.Errorf("LABEL line = %d, want 10", ins[3].Line)
	}
}

func TestImageEnvAndNoExpansionInCmd(t *testing.T) {
	src := "FROM base:1\nWORKDIR $HOME\nCMD echo $HOME\nEXPOSE ${PORT:-80} 443/udp\n"
	var asked []string
	d := parse(t, src, Options{ImageEnv: func(ref string) ([]string, error) {
		asked = append(asked, ref)
		return []string{"HOME=/home/app"}, nil
	}})
	if len(asked) != 1 || asked[0] != "base:1" {
		t.Fatalf("ImageEnv asked %v", asked)
	}
	if wd := d.Target.Instructions[0].Command.(*instructions.WorkdirCommand).Path; wd != "/home/app" {
		t.Errorf("WORKDIR = %q", wd)
	}
	if cmd := d.Target.Instructions[1].Command.(*instructions.CmdCommand).CmdLine; cmd[0] != "echo $HOME" {
		t.Errorf("CMD = %q", cmd)
	}
	if ports := d.Target.Instructions[2].Command.(*instructions.ExposeCommand).Ports; strings.Join(ports, " ") != "80 443/udp" {
		t.Errorf("EXPOSE = %q", ports)
	}
}

func TestTargetAndCopyFromIndex(t *testing.T) {
	src := "FROM scratch\nCOPY a /a\nFROM scratch AS mid\nCOPY --from=0 /a /b\nFROM scratch AS last\nCOPY --from=zzz:1 /c /c\n"
	d := parse(t, src, Options{Target: "MID"})
	if d.Target != d.Stages[1] || !d.Stages[0].Needed || d.Stages[2].Needed {
		t.Fatalf("target %v, needed %v %v %v", d.Target.Ref(), d.Stages[0].Needed, d.Stages[1].Needed, d.Stages[2].Needed)
	}
	if d.Stages[1].Instructions[0].FromStage != d.Stages[0] {
		t.Error("--from=0 did not resolve to stage 0")
	}
	d = parse(t, src, Options{})
	if d.Stages[2].Instructions[0].FromStage != nil {
		t.Error("--from=zzz:1 should be an image")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"FROM scratch\nCOPY a /a\n",
		"ARG X=1\nFROM scratch AS a\nARG X\nENV Y=${X:-2}\nCOPY <<EOF /f\n$Y\nEOF\n",
		"# escape=`\nFROM scratch\nLABEL a=b`\n c\n",
		"FROM scratch\nRUN x\nFROM scratch\nCOPY --from=0 a b\n",
		"FROM a AS b\nFROM b\nHEALTHCHECK --interval=5s CMD x\nONBUILD COPY a b\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		d, err := Parse(strings.NewReader(src), Options{BuildArgs: map[string]string{"X": "y"}})
		if err != nil {
			if !errdefs.IsInvalidArgument(err) {
				t.Fatalf("error %v is not ErrInvalidArgument", err)
			}
			return
		}
		if d.Target == nil || !d.Target.Needed {
			t.Fatal("no needed target after a successful parse")
		}
	})
}

func TestOnBuildTriggers(t *testing.T) {
	onbuild := func(ref string) ([]string, error) { return []string{"COPY app /app", "ENV FROM_TRIGGER=$HOME"}, nil }
	env := func(string) ([]string, error) { return []string{"HOME=/h"}, nil }
	d := parse(t, "FROM base:1\nLABEL x=y\n", Options{ImageEnv: env, ImageOnBuild: onbuild})
	ins := d.Target.Instructions
	if len(ins) != 3 || ins[0].Text != "COPY app /app" || ins[0].Line != 1 || ins[2].Text != "LABEL x=y" {
		t.Fatalf("instructions %+v", ins)
	}
	if v := ins[1].Command.(*instructions.EnvCommand).Env[0].Value; v != "/h" {
		t.Errorf("trigger ENV expanded to %q", v)
	}
	_, err := Parse(strings.NewReader("FROM base:1\n"), Options{ImageOnBuild: func(string) ([]string, error) { return []string{"RUN make"}, nil }})
	if err == nil || !strings.HasPrefix(err.Error(), "Dockerfile:1: RUN is not supported yet") {
		t.Errorf("RUN trigger: %v", err)
	}
	_, err = Parse(strings.NewReader("FROM base:1\n"), Options{ImageOnBuild: func(string) ([]string, error) { return []string{"FROM x"}, nil }})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:1: the ONBUILD trigger \"FROM x\" of image base:1: FROM is not allowed as a trigger") {
		t.Errorf("FROM trigger: %v", err)
	}
}

func TestUnusedArgs(t *testing.T) {
	src := "ARG G\nFROM scratch AS unused\nARG U\nFROM scratch\nARG S\n"
	d := parse(t, src, Options{BuildArgs: map[string]string{"G": "1", "S": "2", "U": "3", "NOPE": "4"}})
	if strings.Join(d.UnusedArgs, ",") != "NOPE,U" {
		t.Errorf("unused = %v, want NOPE,U", d.UnusedArgs)
	}
}
