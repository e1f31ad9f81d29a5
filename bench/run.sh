#!/usr/bin/env bash
# tabula run side by side with other ways to start the same FROM scratch
# hello image (a static Go binary printing one line), medians of several runs
# and the ratios. The commands take turns run by run (bench/interleave.py),
# so that a machine whose speed drifts (a shared VM) slows them all alike
# instead of whichever ran last.
#   tabula run --rm hello    vs  runc run of a prepared bundle   target ≤ 0.5×
#                            vs  unshare --pid --fork --mount --uts --ipc --net ./hello   target ≤ 3×
#                            vs  crun run (where it runs: not on hybrid cgroup hosts),
#                                docker run --rm --network none (for reference)
# then tabula exec vs runc exec of hello into a running container, and 100
# detached containers started at once: wall time, and the memory of tabula's
# own processes per container (each monitor ≤ 4 MB RSS).
# Needs root, Go, python3, runc, crun; Docker when a daemon runs.
# RUNS=N sets the number of runs of each command (default 30), N_CONCURRENT
# the 100.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-30}
N=${N_CONCURRENT:-100}
work=$(mktemp -d /tmp/tabula-bench-run.XXXXXX)
tabula="$work/tabula"
root="$work/root"
cleanup() {
	runc delete -f tabula-bench-exec >/dev/null 2>&1 || true
	"$tabula" --root "$root" ps -aq 2>/dev/null | xargs -r "$tabula" --root "$root" rm -f >/dev/null 2>&1 || true
	docker rmi -f tabula-bench-hello >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap - EXIT

echo "building tabula and hello in $work"
bench/gobuild "$tabula" ./cmd/tabula
bench/gobuild "$work/hello" ./e2e/testdata/hello.go
bench/gobuild "$work/sleep" ./e2e/testdata/sleep.go
# Nothing is left for the kernel to write back while runs are timed.
sync
"$tabula" --root "$root" pack "$work/hello" -t hello >/dev/null
"$tabula" --root "$root" pack "$work/sleep" -t sleep >/dev/null
"$tabula" --root "$root" run --rm hello >/dev/null # unpack the layer once

# The same image as an OCI bundle for runc and crun: its layers unpacked.
bundle="$work/bundle"
mkdir -p "$bundle/rootfs"
"$tabula" --root "$root" save -o "$work/hello.tar" hello
python3 - "$work/hello.tar" "$bundle/rootfs" <<'PY'
import io, json, sys, tarfile
outer = tarfile.open(sys.argv[1])
manifest = json.load(outer.extractfile("manifest.json"))[0]
for l in manifest["Layers"]:
    data = outer.extractfile(l).read()
    tarfile.open(fileobj=io.BytesIO(data)).extractall(sys.argv[2])
cfg = json.load(outer.extractfile(manifest["Config"]))["config"]
print(json.dumps((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])), file=open(sys.argv[2] + "/../args.json", "w"))
PY
args=$(cat "$bundle/args.json")
(cd "$bundle" && runc spec)
python3 - "$bundle/config.json" "$args" <<'PY'
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["process"]["terminal"] = False
s["process"]["args"] = json.loads(sys.argv[2])
s["root"]["readonly"] = False
json.dump(s, open(p, "w"))
PY
cp "$work/hello" "$work/floor-hello"

# timed NAME CMD...: every command RUNS times, taking turns, the times in
# $work/NAME.json ({"results": [{"command", "times"}]}).
timed() {
	local name=$1
	shift
	python3 bench/interleave.py "$RUNS" "$work/$name.json" "$@"
}

# median of the times of result i of a timed run's JSON, in seconds.
cat >"$work/median.py" <<'PY'
import json, statistics, sys
def medians(path):
    return [statistics.median(r["times"]) for r in json.load(open(path))["results"]]
PY

cmds=(
	"$tabula --root $root run --rm hello"
	"runc run --bundle $bundle tabula-bench-runc"
	"unshare --pid --fork --mount --uts --ipc --net $work/floor-hello"
)
names=(tabula runc floor)
if crun_err=$(crun run --bundle "$bundle" tabula-bench-crun 2>&1 >/dev/null); then
	cmds+=("crun run --bundle $bundle tabula-bench-crun")
	names+=(crun)
else
	echo "(crun cannot run here, left out: $crun_err)"
fi
docker=
if docker info >/dev/null 2>&1; then
	docker load -i "$work/hello.tar" >/dev/null
	docker tag hello:latest tabula-bench-hello >/dev/null 2>&1 || true
	docker="docker run --rm --network none tabula-bench-hello"
else
	echo "(no Docker daemon: docker run left out)"
fi

echo
echo "== one container: start, print, exit, clean up ($RUNS runs each)"
timed run "${cmds[@]}"
# Docker's daemons go on working after each run (the shim, the network
# namespace): timed apart, after the others, for reference.
if [ -n "$docker" ]; then
	timed docker "$docker"
	names+=(docker)
	python3 - "$work/run.json" "$work/docker.json" <<'PY'
import json, sys
run, docker = (json.load(open(p)) for p in sys.argv[1:])
run["results"] += docker["results"]
json.dump(run, open(sys.argv[1], "w"))
PY
fi
PYTHONPATH="$work" python3 - "$work/run.json" "${names[@]}" <<'PY'
import sys
from median import medians
names = sys.argv[2:]
med = dict(zip(names, medians(sys.argv[1])))
for n in names:
    print(f"  {n:8s} median {med[n]*1000:8.2f} ms")
t = med["tabula"]
print(f"  tabula / runc  = {t/med['runc']:.2f}x  (target <= 0.5)")
if "crun" in med:
    print(f"  tabula / crun  = {t/med['crun']:.2f}x")
print(f"  tabula / floor = {t/med['floor']:.2f}x  (target <= 3)")
if "docker" in med:
    print(f"  tabula / docker = {t/med['docker']:.3f}x")
PY

echo
echo "== exec of hello into a running container ($RUNS runs each)"
# An image with both programs, as tabula's and as a runc bundle's rootfs.
mkdir -p "$work/both"
cp "$work/hello" "$work/sleep" "$work/both/"
printf 'FROM scratch\nCOPY hello /hello\nCOPY sleep /sleep\nENTRYPOINT ["/sleep"]\n' >"$work/both/Dockerfile"
"$tabula" --root "$root" build -q -t both "$work/both" >/dev/null
"$tabula" --root "$root" run -d --name bench-exec both >/dev/null
bundle2="$work/bundle2"
mkdir -p "$bundle2/rootfs"
cp "$work/hello" "$work/sleep" "$bundle2/rootfs/"
cp "$bundle/config.json" "$bundle2/"
python3 - "$bundle2/config.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["process"]["args"] = ["/sleep"]
json.dump(s, open(sys.argv[1], "w"))
PY
runc run -d --bundle "$bundle2" tabula-bench-exec </dev/null >/dev/null 2>&1
timed exec "$tabula --root $root exec bench-exec /hello" "runc exec tabula-bench-exec /hello"
runc delete -f tabula-bench-exec >/dev/null 2>&1 || true
"$tabula" --root "$root" rm -f bench-exec >/dev/null
PYTHONPATH="$work" python3 - "$work/exec.json" <<'PY'
import sys
from median import medians
t, r = medians(sys.argv[1])
print(f"  tabula   median {t*1000:8.2f} ms")
print(f"  runc     median {r*1000:8.2f} ms")
print(f"  tabula / runc  = {t/r:.2f}x")
PY

echo
echo "== $N detached containers started at once"
start=$(date +%s.%N)
seq "$N" | xargs -P "$N" -I{} "$tabula" --root "$root" run -d --name bench-{} sleep >/dev/null
end=$(date +%s.%N)
running=$("$tabula" --root "$root" ps -q | wc -l)
python3 - "$start" "$end" "$N" "$running" "$root" <<'PY'
import glob, os, sys
start, end, n, running = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
root = sys.argv[5].encode()
print(f"  wall time {end-start:.2f} s for {n} containers ({(end-start)/n*1000:.1f} ms each), {running} running")
rss, pss, count, worst = 0, 0, 0, 0
for d in glob.glob("/proc/[0-9]*"):
    try:
        argv = open(d + "/cmdline", "rb").read().split(b"\0")
        if argv[0] != b"tabula-monitor" or argv[1:2] != [root]:
            continue  # not one of this run's monitors
        roll = dict(l.split(":", 1) for l in open(d + "/smaps_rollup").read().splitlines()[1:])
    except OSError:
        continue
    r, p = int(roll["Rss"].split()[0]), int(roll["Pss"].split()[0])
    rss, pss, count, worst = rss + r, pss + p, count + 1, max(worst, r)
if count:
    print(f"  {count} monitors: RSS mean {rss/count/1024:.2f} MB (max {worst/1024:.2f} MB, target <= 4), PSS mean {pss/count/1024:.2f} MB")
    print(f"  tabula's own memory per container: {pss/count/1024:.2f} MB proportional")
PY
start=$(date +%s.%N)
"$tabula" --root "$root" ps -aq | xargs -P 8 -n 10 "$tabula" --root "$root" rm -f >/dev/null
end=$(date +%s.%N)
python3 -c "import sys; print(f'  removed them in {float(sys.argv[2])-float(sys.argv[1]):.2f} s')" "$start" "$end"
