#!/usr/bin/env python3
"""Times commands run by run, taking turns in a new random order each round.

    interleave.py RUNS OUT.json CMD [CMD...]

Each CMD is split like a shell would (no shell runs it) and run RUNS times,
after two warm-up rounds, with its output thrown away. On a machine whose
speed drifts (a shared VM: here by up to a third within minutes), commands
timed in blocks, one after the other, each meet a different machine; taking
turns run by run, every command meets the same one, and their ratios hold.
The wall time of each run, from before its fork to after its wait, goes to
OUT.json as hyperfine writes it: {"results": [{"command", "times"}]}.
"""
import json
import os
import random
import shlex
import subprocess
import sys
import time


def main():
    runs, out, cmds = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    argvs = [shlex.split(c) for c in cmds]
    times = [[] for _ in cmds]
    with open(os.devnull, "wb") as null:
        for rnd in range(runs + 2):
            order = list(range(len(cmds)))
            random.shuffle(order)
            for i in order:
                start = time.perf_counter()
                rc = subprocess.call(argvs[i], stdin=subprocess.DEVNULL, stdout=null, stderr=null)
                took = time.perf_counter() - start
                if rc != 0:
                    sys.exit(f"interleave.py: {cmds[i]}: exit status {rc}")
                if rnd >= 2:
                    times[i].append(took)
    with open(out, "w") as f:
        json.dump({"results": [{"command": c, "times": t} for c, t in zip(cmds, times)]}, f)


if __name__ == "__main__":
    main()
