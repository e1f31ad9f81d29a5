#!/usr/bin/env bash
# tabula doctor and tabula pack, medians of several runs (hyperfine):
#   doctor  a ~100 MB image of this machine's programs and libraries   target ≤ 1 s
#   pack    the ~1.6 MB static hello binary                            target ≤ 50 ms
# and the Go benchmarks of the analyze package (CheckImage on the same
# kind of image, ReadBinary). Needs Go, hyperfine and python3.
# RUNS=N sets the number of runs (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
work=$(mktemp -d /tmp/tabula-bench-doctor.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "building tabula and the inputs in $work"
bench/gobuild "$work/tabula" ./cmd/tabula
tabula="$work/tabula"
root="$work/root"
bench/gobuild "$work/hello" ./examples/hello
echo "hello binary: $(stat -c %s "$work/hello") bytes"

# ~100 MB of real ELF programs and libraries from /usr/bin and the library
# directory, copied so that the image does not change under the benchmark.
python3 - "$work/big" <<'EOF2'
import os, shutil, sys, sysconfig
out = sys.argv[1]
def fill(src, dst, limit):
    os.makedirs(dst, exist_ok=True)
    total = 0
    for n in sorted(os.listdir(src)):
        p = os.path.join(src, n)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        s = os.path.getsize(p)
        if s > 20e6 or total + s > limit:
            continue
        shutil.copy2(p, os.path.join(dst, n))
        total += s
    return total
libdir = sysconfig.get_config_var("LIBDIR") or "/usr/lib"
multi = sysconfig.get_config_var("MULTIARCH")
if multi and os.path.isdir(os.path.join("/usr/lib", multi)):
    libdir = os.path.join("/usr/lib", multi)
a = fill("/usr/bin", os.path.join(out, "usr/bin"), 60e6)
b = fill(libdir, os.path.join(out, libdir.lstrip("/")), 40e6)
print(f"big image content: {(a + b) / 1e6:.1f} MB")
EOF2
"$tabula" --root "$root" pack --auto=false -q -t bench-big --add "$work/big/usr:/usr" "$work/hello" >/dev/null
"$tabula" --root "$root" images bench-big

median() { # hyperfine JSON → median seconds
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

echo
echo "== doctor on the ~100 MB image (target ≤ 1 s)"
# The doctor exits 1 when it finds errors; the image has some on purpose
# (libraries left out), so the exit status is ignored.
hyperfine --style basic --warmup 1 --runs "$RUNS" -i --export-json "$work/doctor.json" \
	"$tabula --root $root doctor bench-big"
d=$(median "$work/doctor.json")

echo
echo "== pack of the hello binary (target ≤ 50 ms)"
hyperfine --style basic --warmup 2 --runs $((RUNS * 2)) -N --export-json "$work/pack.json" \
	"$tabula --root $root pack -q -t bench-hello $work/hello"
p=$(median "$work/pack.json")

echo
echo "== Go benchmarks (analyze)"
go test -run '^$' -bench 'CheckImage|ReadBinary' -benchtime 5x ./analyze | grep -E '^(Benchmark|ok)'

echo
python3 - "$d" "$p" <<'EOF2'
import sys
d, p = float(sys.argv[1]), float(sys.argv[2])
print(f"doctor 100 MB image: {d*1000:.0f} ms (target ≤ 1000 ms) {'OK' if d <= 1 else 'SLOW'}")
print(f"pack hello:          {p*1000:.1f} ms (target ≤ 50 ms) {'OK' if p <= 0.05 else 'SLOW'}")
EOF2
