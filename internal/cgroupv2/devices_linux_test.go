package cgroupv2

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/tabula-dev/tabula/errdefs"
)

// dockerRules are Docker's default device rules, as runtime.DefaultDeviceRules
// has them: deny everything, then allow null, zero, full, random, urandom,
// tty, console, ptmx and the ptys.
func dockerRules() []specs.LinuxDeviceCgroup {
	rule := func(major, minor *int64) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: major, Minor: minor, Access: "rwm"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		rule(i64(1), i64(3)), rule(i64(1), i64(5)), rule(i64(1), i64(7)), rule(i64(1), i64(8)), rule(i64(1), i64(9)),
		rule(i64(5), i64(0)), rule(i64(5), i64(1)), rule(i64(5), i64(2)), rule(i64(136), nil),
	}
}

// showFilter formats a filter as "allow" or "deny" and its exceptions,
// like devices.list lines.
func showFilter(f deviceFilter) string {
	s := "deny"
	if f.allow {
		s = "allow"
	}
	for _, e := range f.exceptions {
		s += "; " + e.String()
	}
	return s
}

// TestCompileDevices checks the state rules leave, v1's semantics.
func TestCompileDevices(t *testing.T) {
	c := func(allow bool, typ string, major, minor *int64, access string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Minor: minor, Access: access}
	}
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"no rules", nil, "allow"},
		{"docker", dockerRules(), "deny; c 1:3 rwm; c 1:5 rwm; c 1:7 rwm; c 1:8 rwm; c 1:9 rwm; c 5:0 rwm; c 5:1 rwm; c 5:2 rwm; c 136:* rwm"},
		{"deny all, with a type and -1", []specs.LinuxDeviceCgroup{c(false, "a", i64(-1), i64(-1), "")}, "deny"},
		{"deny all, then allow all", []specs.LinuxDeviceCgroup{c(false, "", nil, nil, "rwm"), c(true, "c", i64(1), i64(3), "r"), c(true, "a", nil, nil, "")}, "allow"},
		{"accesses merge", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, "rwm"), c(true, "c", i64(1), i64(3), "r"), c(true, "c", i64(1), i64(3), "w")}, "deny; c 1:3 rw"},
		{"a later deny takes access away", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, "rwm"), c(true, "c", i64(1), i64(3), "rwm"), c(false, "c", i64(1), i64(3), "w")}, "deny; c 1:3 rm"},
		{"a later deny takes all access away", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, "rwm"), c(true, "c", i64(1), i64(3), "rw"), c(true, "c", i64(1), i64(5), "r"), c(false, "c", i64(1), i64(3), "rwm")}, "deny; c 1:5 r"},
		{"a partial a rule is c and b", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, "rwm"), c(true, "a", nil, nil, "r"), c(true, "", i64(8), nil, "m")}, "deny; c *:* r; b *:* r; c 8:* m; b 8:* m"},
		{"allow all, deny some", []specs.LinuxDeviceCgroup{c(false, "c", i64(1), i64(7), "w"), c(false, "b", i64(8), nil, "")}, "allow; c 1:7 w; b 8:* rwm"},
		{"an allow removes a deny", []specs.LinuxDeviceCgroup{c(false, "c", i64(1), i64(7), "rw"), c(true, "c", i64(1), i64(7), "w")}, "allow; c 1:7 r"},
		{"a wider deny leaves a narrower allow", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, ""), c(true, "c", i64(1), i64(3), "rwm"), c(false, "c", i64(1), nil, "rwm")}, "deny; c 1:3 rwm"},
		{"a deny of other access inside a wider allow", []specs.LinuxDeviceCgroup{c(false, "a", nil, nil, ""), c(true, "c", i64(1), nil, "r"), c(false, "c", i64(1), i64(3), "w")}, "deny; c 1:* r"},
		{"an allow that matches the default does nothing", []specs.LinuxDeviceCgroup{c(true, "c", i64(1), i64(3), "rwm")}, "allow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := compileDevices(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := showFilter(f); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestCompileDevicesErrors checks that bad rules, and holes punched in wider exceptions, are refused naming the rule.
func TestCompileDevicesErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []specs.LinuxDeviceCgroup
		want  string
	}{
		{"type", []specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "x"}}, `linux.resources.devices[1]: type "x"`},
		{"access", []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Access: "rx"}}, `linux.resources.devices[0]: access "rx"`},
		{"major", []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(-2)}}, "linux.resources.devices[0]: device number -2"},
		{"minor", []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Minor: i64(1 << 32)}}, "linux.resources.devices[0]: device number 4294967296"},
		{
			"deny inside a wider allow",
			[]specs.LinuxDeviceCgroup{{Allow: false}, {Allow: true, Type: "c", Major: i64(1), Access: "rw"}, {Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "w"}},
			"linux.resources.devices[2]: cannot deny c 1:3 w inside the wider exception c 1:* rw",
		},
		{
			"allow inside a wider deny",
			[]specs.LinuxDeviceCgroup{{Allow: false, Type: "b"}, {Allow: true, Type: "b", Major: i64(8), Minor: i64(0)}},
			"linux.resources.devices[1]: cannot allow b 8:0 rwm inside the wider exception b *:* rwm",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileDevices(tc.rules)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Errorf("error %v, want one starting with %q", err, tc.want)
			}
		})
	}
}

// run interprets the encoded device program code on the request (type,
// access, major, minor) as the kernel would, for the instructions the
// compiler emits, and returns R0.
func run(t *testing.T, code []byte, typ, access, major, minor uint32) uint32 {
	t.Helper()
	var ctx [12]byte
	binary.NativeEndian.PutUint32(ctx[0:], access<<16|typ)
	binary.NativeEndian.PutUint32(ctx[4:], major)
	binary.NativeEndian.PutUint32(ctx[8:], minor)
	var r [11]uint64
	for pc, steps := 0, 0; ; pc, steps = pc+1, steps+1 {
		if pc < 0 || 8*pc >= len(code) || steps > 10000 {
			t.Fatalf("pc %d out of the program of %d instructions", pc, len(code)/8)
		}
		w := code[8*pc:]
		op, dst, src := w[0], w[1]&0xf, w[1]>>4
		off := int(int16(binary.NativeEndian.Uint16(w[2:])))
		imm := uint32(binary.NativeEndian.Uint32(w[4:]))
		switch op {
		case opLoadWord:
			if src != 1 || off < 0 || off+4 > len(ctx) {
				t.Fatalf("insn %d: load from r%d%+d", pc, src, off)
			}
			r[dst] = uint64(binary.NativeEndian.Uint32(ctx[off:]))
		case opMov32:
			r[dst] = uint64(imm)
		case opLoadHalf:
			if src != 1 || off < 0 || off+2 > len(ctx) || off%2 != 0 {
				t.Fatalf("insn %d: load from r%d%+d", pc, src, off)
			}
			r[dst] = uint64(binary.NativeEndian.Uint16(ctx[off:]))
		case opRsh32Reg:
			if uint32(r[src]) > 31 {
				t.Fatalf("insn %d: shift by %d", pc, r[src])
			}
			r[dst] = uint64(uint32(r[dst]) >> uint32(r[src]))
		case opJgt32:
			if uint32(r[dst]) > imm {
				pc += off
			}
		case opJne32:
			if uint32(r[dst]) != imm {
				pc += off
			}
		case opJset32:
			if uint32(r[dst])&imm != 0 {
				pc += off
			}
		case opJa:
			pc += off
		case opExit:
			return uint32(r[0])
		default:
			t.Fatalf("insn %d: opcode %#x", pc, op)
		}
	}
}

// exception is the reference model's exception: the v1 kernel's.
type exception struct {
	typ          byte
	major, minor int64
	access       uint8
}

// reference decides a request the way the cgroup v1 devices controller
// does after the rules are written to devices.allow and devices.deny in
// order (an "a" rule with numbers or partial access standing for a "c"
// and a "b" rule, as internal/cgroupv1 writes it): an independent model
// of the semantics compileDevices and the program implement together.
func reference(rules []specs.LinuxDeviceCgroup, typ byte, access uint8, major, minor int64) bool {
	allow := true
	var exs []exception
	for _, r := range rules {
		acc := uint8(0)
		for _, c := range r.Access {
			acc |= map[rune]uint8{'r': accRead, 'w': accWrite, 'm': accMknod}[c]
		}
		if r.Access == "" {
			acc = accAll
		}
		maj, mnr := int64(-1), int64(-1)
		if r.Major != nil {
			maj = *r.Major
		}
		if r.Minor != nil {
			mnr = *r.Minor
		}
		if (r.Type == "" || r.Type == "a") && maj == -1 && mnr == -1 && acc == accAll {
			allow, exs = r.Allow, nil
			continue
		}
		types := r.Type
		if types == "" || types == "a" {
			types = "cb"
		}
		for _, t := range []byte(types) {
			if r.Allow != allow { // the kernel's dev_exception_add
				found := false
				for i := range exs {
					if exs[i].typ == t && exs[i].major == maj && exs[i].minor == mnr {
						exs[i].access |= acc
						found = true
					}
				}
				if !found {
					exs = append(exs, exception{t, maj, mnr, acc})
				}
			} else { // dev_exception_rm
				for i := range exs {
					if exs[i].typ == t && exs[i].major == maj && exs[i].minor == mnr {
						exs[i].access &^= acc
					}
				}
			}
		}
	}
	matches := func(e exception) bool {
		return e.access != 0 && e.typ == typ && (e.major == -1 || e.major == major) && (e.minor == -1 || e.minor == minor)
	}
	if allow { // match_exception_partial: any access in common denies
		for _, e := range exs {
			if matches(e) && e.access&access != 0 {
				return false
			}
		}
		return true
	}
	for _, e := range exs { // match_exception: one exception must grant all
		if matches(e) && access&^e.access == 0 {
			return true
		}
	}
	return false
}

// TestProgramMatchesV1 runs the compiled program, decoded from its bytes,
// on every request over a set of devices, for hand-picked and random rule
// lists, and compares its verdict with the v1 controller's.
func TestProgramMatchesV1(t *testing.T) {
	lists := [][]specs.LinuxDeviceCgroup{
		nil,
		dockerRules(),
		{{Allow: false, Type: "c", Major: i64(1), Minor: i64(7), Access: "w"}},
		{{Allow: false}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}, {Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"}},
		{{Allow: false}, {Allow: true, Type: "a", Access: "r"}},
		{{Allow: false}, {Allow: true, Type: "b", Major: i64(4294967295), Minor: i64(2147483648), Access: "w"}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(n []*int64) *int64 { return n[rng.IntN(len(n))] }
	for range 3000 {
		rules := make([]specs.LinuxDeviceCgroup, rng.IntN(7))
		for i := range rules {
			rules[i] = specs.LinuxDeviceCgroup{
				Allow:  rng.IntN(2) == 0,
				Type:   []string{"", "a", "c", "b", "c", "b"}[rng.IntN(6)],
				Major:  pick([]*int64{nil, i64(-1), i64(1), i64(5), i64(136)}),
				Minor:  pick([]*int64{nil, i64(3), i64(5), i64(7), i64(0), i64(31), i64(32), i64(40)}),
				Access: []string{"", "r", "w", "m", "rw", "rm", "wm", "rwm", "mr"}[rng.IntN(9)],
			}
		}
		lists = append(lists, rules)
	}
	checked := 0
	for _, rules := range lists {
		f, err := compileDevices(rules)
		if err != nil {
			if !strings.Contains(err.Error(), "inside the wider exception") {
				t.Fatalf("%v: %v", rules, err)
			}
			continue // v1 would ignore the rule silently
		}
		checked++
		p, err := f.program()
		if err != nil {
			t.Fatal(err)
		}
		code := encode(p)
		for _, typ := range []byte{'c', 'b'} {
			for _, major := range []int64{0, 1, 5, 136, 4294967295} {
				for _, minor := range []int64{0, 3, 5, 7, 31, 32, 40, 2147483648} {
					for access := uint8(1); access <= accAll; access++ {
						want := reference(rules, typ, access, major, minor)
						got := true
						if len(code) > 0 {
							bt := uint32(2)
							if typ == 'b' {
								bt = 1
							}
							got = run(t, code, bt, uint32(access), uint32(major), uint32(minor)) == 1
						}
						if got != want {
							t.Fatalf("rules %s\nfilter %s\nrequest %c %d:%d access %03b: program says %v, v1 says %v",
								showRules(rules), showFilter(f), typ, major, minor, access, got, want)
						}
					}
				}
			}
		}
	}
	t.Logf("%d rule lists compared, %d refused", checked, len(lists)-checked)
	if checked < len(lists)/2 {
		t.Errorf("only %d of %d rule lists compiled", checked, len(lists))
	}
}

// showRules formats spec rules for a failure message.
func showRules(rules []specs.LinuxDeviceCgroup) string {
	var b strings.Builder
	for _, r := range rules {
		n := func(p *int64) string {
			if p == nil {
				return "nil"
			}
			return fmt.Sprint(*p)
		}
		fmt.Fprintf(&b, "[allow=%v %q %s:%s %q] ", r.Allow, r.Type, n(r.Major), n(r.Minor), r.Access)
	}
	return b.String()
}

// TestProgramShape checks the program for Docker's rules: the type
// tested once, each major number once, the minor numbers of majors 1 and 5
// as bitmaps; 8 conditional jumps in all. Rules that allow everything have
// no program.
func TestProgramShape(t *testing.T) {
	f, err := compileDevices(dockerRules())
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.program()
	if err != nil {
		t.Fatal(err)
	}
	branches := 0
	var bitmaps []int32
	for _, in := range p {
		switch in.code {
		case opJne32, opJgt32, opJset32:
			branches++
		case opMov32:
			if in.dst == 3 {
				bitmaps = append(bitmaps, in.imm)
			}
		}
	}
	// type; major 1 and its bitmap; major 5 and its bitmap; major 136
	// then a jump to the verdict; the default; the verdict.
	if want := 2 + (2 + 5) + (2 + 5) + (2 + 1) + 2 + 2; len(p) != want {
		t.Errorf("%d instructions, want %d", len(p), want)
	}
	if branches != 8 {
		t.Errorf("%d conditional jumps, want 8", branches)
	}
	if want := []int32{1<<3 | 1<<5 | 1<<7 | 1<<8 | 1<<9, 1<<0 | 1<<1 | 1<<2}; fmt.Sprint(bitmaps) != fmt.Sprint(want) {
		t.Errorf("bitmaps %#x, want %#x", bitmaps, want)
	}
	if def := p[len(p)-4]; def.code != opMov32 || def.imm != 0 {
		t.Errorf("the default is %+v, want r0 = 0", def)
	}
	allowAll, err := compileDevices([]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"}})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := allowAll.program(); p != nil || err != nil {
		t.Errorf("allow-all filter has a program of %d instructions (%v)", len(p), err)
	}
}
