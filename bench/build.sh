#!/usr/bin/env bash
# tabula build side by side with `docker build --no-cache` on the same
# contexts, medians of several runs (hyperfine), and the ratios:
#   hello   FROM scratch + COPY of a ~1.6 MB static binary   target ≤ 0.1×
#   big     one 50 MB file                                    target ≤ 0.5×
#   many    5,000 small files                                 target ≤ 0.5×
#   repeat  tabula build again with nothing changed           target ≤ 20 ms
# Needs Go, Docker (a running daemon), hyperfine and python3.
# RUNS=N sets the number of runs (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-10}
work=$(mktemp -d /tmp/tabula-bench-build.XXXXXX)
trap 'rm -rf "$work"; docker rmi -f tabula-bench-hello tabula-bench-big tabula-bench-many >/dev/null 2>&1 || true' EXIT

echo "building tabula and the contexts in $work"
bench/gobuild "$work/tabula" ./cmd/tabula
tabula="$work/tabula"
root="$work/root"

mkdir -p "$work/hello" "$work/big" "$work/many/files"
bench/gobuild "$work/hello/app" ./examples/hello
printf 'FROM scratch\nCOPY app /app\nENTRYPOINT ["/app"]\n' >"$work/hello/Dockerfile"
head -c $((50 << 20)) /dev/urandom >"$work/big/blob"
printf 'FROM scratch\nCOPY blob /blob\n' >"$work/big/Dockerfile"
python3 - "$work/many/files" <<'EOF'
import os, sys
d = sys.argv[1]
for i in range(5000):
    sub = os.path.join(d, "d%02d" % (i % 50))
    os.makedirs(sub, exist_ok=True)
    with open(os.path.join(sub, "f%04d.txt" % i), "w") as f:
        f.write("file %d\n" % i * (1 + i % 20))
EOF
printf 'FROM scratch\nCOPY files /files\n' >"$work/many/Dockerfile"
echo "hello binary: $(stat -c %s "$work/hello/app") bytes"

median() { # hyperfine JSON → median seconds
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$1"
}

declare -A ratio
for ctx in hello big many; do
	echo
	echo "== $ctx"
	hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/t-$ctx.json" \
		"$tabula --root $root build --no-cache -q -t tabula-bench-$ctx $work/$ctx"
	hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/d-$ctx.json" \
		"docker build --no-cache -q -t tabula-bench-$ctx $work/$ctx"
	t=$(median "$work/t-$ctx.json")
	d=$(median "$work/d-$ctx.json")
	ratio[$ctx]=$(python3 -c "print(f'{$t/$d:.3f}')")
	printf '%s: tabula %.1f ms, docker %.1f ms, ratio %s\n' "$ctx" "$(python3 -c "print($t*1000)")" "$(python3 -c "print($d*1000)")" "${ratio[$ctx]}"
done

echo
echo "== hello without the doctor (--check off): the build alone"
hyperfine --style basic --warmup 1 --runs "$RUNS" --export-json "$work/t-hello-nocheck.json" \
	"$tabula --root $root build --no-cache --check off -q -t tabula-bench-hello $work/hello"
nocheck=$(python3 -c "print(f'{$(median "$work/t-hello-nocheck.json")/$(median "$work/d-hello.json"):.3f}')")

echo
echo "== repeat (hello, nothing changed, step cache on)"
"$tabula" --root "$root" build -q -t tabula-bench-hello "$work/hello" >/dev/null
hyperfine --style basic --warmup 3 --runs $((RUNS * 3)) --export-json "$work/repeat.json" \
	"$tabula --root $root build -q -t tabula-bench-hello $work/hello"
repeat_ms=$(python3 -c "print(f'{$(median "$work/repeat.json")*1000:.1f}')")

echo
echo "summary (medians of $RUNS runs)"
printf '  hello  tabula/docker = %s  (target ≤ 0.1; %s with --check off)\n' "${ratio[hello]}" "$nocheck"
printf '  big    tabula/docker = %s  (target ≤ 0.5)\n' "${ratio[big]}"
printf '  many   tabula/docker = %s  (target ≤ 0.5)\n' "${ratio[many]}"
printf '  repeat tabula        = %s ms (target ≤ 20)\n' "$repeat_ms"
