#!/usr/bin/env python3
"""Run bench_device.py on MicroPython for each implementation, side by side.

    python3 mpy-scripts/bench/run_bench.py fallback build/x64 [-n 2000]

Each argument is an implementation: a name from mpyrun.IMPL_DIRS
(``fallback``, ``native``) or a directory holding ``tsl2591`` and
``mqtt_writer`` (.py or .mpy). Prints a markdown table: microseconds and
heap bytes per event for each phase (see bench_device.py), one column per
implementation. ``--repeat`` runs each implementation several times and
keeps the fastest time (heap bytes do not vary between runs).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = BENCH.parent
sys.path.insert(0, str(SCRIPTS / "tests"))
from mpyrun import IMPL_DIRS, SIM_DIR, find_micropython, mpy_env  # noqa: E402

PHASES = [
    ("sample", "`tsl.sample()`"),
    ("on_next", "`writer.on_next(event)`"),
    ("event", "sample + event tuple + on_next"),
]


def resolve(impl):
    if impl in IMPL_DIRS:
        return impl, IMPL_DIRS[impl]
    d = Path(impl)
    if not d.is_dir():
        raise SystemExit("error: %s is neither %s nor a directory"
                         % (impl, "/".join(IMPL_DIRS)))
    return impl, d.resolve()


def run_one(micropython, impl_dir, events):
    proc = subprocess.run(
        [micropython, str(BENCH / "bench_device.py"), str(events)],
        env=mpy_env([impl_dir, SIM_DIR]), capture_output=True, text=True,
        timeout=600)
    if proc.returncode != 0:
        raise SystemExit("error: bench failed for %s (exit %d)\n%s%s"
                         % (impl_dir, proc.returncode, proc.stdout,
                            proc.stderr))
    results, info = {}, {}
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            results[r["phase"]] = r
        elif line.startswith("INFO "):
            info.update(json.loads(line[5:]))
    return results, info


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("impls", nargs="+",
                    help="implementation names or directories")
    ap.add_argument("-n", "--events", type=int, default=2000,
                    help="events per phase (default 2000)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per implementation; fastest kept (default 3)")
    ap.add_argument("--micropython", default=None,
                    help="MicroPython binary (default: $MICROPYTHON, "
                         ".venv/bin/micropython, PATH)")
    args = ap.parse_args()
    micropython = args.micropython or find_micropython()

    columns = []
    for impl in args.impls:
        name, d = resolve(impl)
        best, info = None, {}
        for _ in range(max(1, args.repeat)):
            res, info = run_one(micropython, d, args.events)
            if best is None:
                best = res
            else:
                for phase, r in res.items():
                    if r["us_per_event"] < best[phase]["us_per_event"]:
                        best[phase]["us_per_event"] = r["us_per_event"]
        columns.append((name, best, info))

    print("MicroPython: %s; %d events per phase, best of %d runs"
          % (micropython, args.events, max(1, args.repeat)))
    print()
    for name, _, info in columns:
        print("- %s: tsl2591 = %s, mqtt_writer = %s"
              % (name, info.get("tsl2591"), info.get("mqtt_writer")))
    print()
    header = "| phase | " + " | ".join(
        "%s µs/event | %s bytes/event" % (n, n) for n, _, _ in columns) + " |"
    print(header)
    print("|---|" + "---:|---:|" * len(columns))
    for phase, label in PHASES:
        cells = []
        for _, res, _ in columns:
            r = res.get(phase)
            if r is None:
                cells += ["n/a", "n/a"]
            else:
                cells += ["%.1f" % r["us_per_event"],
                          "%.1f" % r["bytes_per_event"]]
        print("| %s | %s |" % (label, " | ".join(cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
