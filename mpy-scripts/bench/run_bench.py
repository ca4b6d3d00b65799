#!/usr/bin/env python3
"""Run bench_device.py on MicroPython for each implementation, side by side.

    .venv/bin/python mpy-scripts/bench/run_bench.py [tutorial fallback native] [-n 5000]

Each argument is an implementation: ``tutorial`` (the tutorial's costs,
bench/tutorial_baseline/), ``fallback`` (our pure-Python modules),
``native`` (build/x64, ``make natmods``) or a directory holding
``tsl2591`` and ``mqtt_writer`` (.py or .mpy); the default is all three.
Prints two markdown tables:

1. microseconds and heap bytes per event for each phase (see
   bench_device.py), one pair of columns per implementation, then the
   speed-up of the LAST implementation against each of the others;
2. "bus cost": what the Python stand-ins under the modules cost: I2C calls
   per sample, microseconds per simulated I2C call, the simulator's share
   of one sample, the floor of a do-nothing Python bus, and the same for
   the discard socket under ``on_next``.

``--repeat`` runs each implementation several times and keeps the fastest
time (heap bytes do not vary between runs). ``--sim DIR`` takes
``sim_tsl2591`` from DIR instead of mpy-scripts/sim (e.g. an older version,
to compare simulators).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SCRIPTS = BENCH.parent
sys.path.insert(0, str(SCRIPTS / "tests"))
from mpyrun import IMPL_DIRS, SIM_DIR, find_micropython, mpy_env  # noqa: E402

IMPLS = dict(IMPL_DIRS, tutorial=BENCH / "tutorial_baseline")
DEFAULT_IMPLS = ["tutorial", "fallback", "native"]

PHASES = [
    ("sample", "`tsl.sample()`"),
    ("on_next", "`writer.on_next(event)`"),
    ("event", "sample + event tuple + on_next"),
]


def resolve(impl):
    if impl in IMPLS:
        return impl, IMPLS[impl]
    d = Path(impl)
    if not d.is_dir():
        raise SystemExit("error: %s is neither %s nor a directory"
                         % (impl, "/".join(IMPLS)))
    return impl, d.resolve()


def run_one(micropython, impl_dir, sim_dir, events):
    proc = subprocess.run(
        [micropython, str(BENCH / "bench_device.py"), str(events)],
        env=mpy_env([impl_dir, sim_dir]), capture_output=True, text=True,
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


def best_of(micropython, d, sim_dir, events, repeat):
    best, info = None, {}
    for _ in range(max(1, repeat)):
        res, info = run_one(micropython, d, sim_dir, events)
        if best is None:
            best = res
        else:
            for phase, r in res.items():
                if r["us_per_event"] < best[phase]["us_per_event"]:
                    best[phase]["us_per_event"] = r["us_per_event"]
    return best, info


def us(res, phase):
    r = res.get(phase)
    return None if r is None else r["us_per_event"]


def fmt(v, spec="%.1f"):
    return "n/a" if v is None else spec % v


def speedup(slow, fast):
    if slow is None or fast is None or fast <= 0:
        return "n/a"
    return "%.1fx" % (slow / fast)


def main_table(columns):
    last = columns[-1][0]
    others = [n for n, _, _ in columns[:-1]]
    head = ["phase"]
    for n, _, _ in columns:
        head += ["%s µs/event" % n, "%s bytes/event" % n]
    head += ["%s speed-up vs %s" % (last, o) for o in others]
    lines = ["| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (len(head) - 1)]
    last_res = columns[-1][1]
    for phase, label in PHASES:
        cells = [label]
        for _, res, _ in columns:
            r = res.get(phase)
            cells += [fmt(r and r["us_per_event"]),
                      fmt(r and r["bytes_per_event"])]
        for _, res, _ in columns[:-1]:
            cells.append(speedup(us(res, phase), us(last_res, phase)))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def bus_table(columns):
    def row(label, fn, spec="%.2f"):
        cells = []
        for _, res, _ in columns:
            try:
                cells.append(fmt(fn(res), spec))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("n/a")
        return "| %s | %s |" % (label, " | ".join(cells))

    def share(res):
        return 100.0 * min(us(res, "bus") / us(res, "sample"), 1.0)

    def sock_share(res):
        return 100.0 * min(us(res, "sock") / us(res, "on_next"), 1.0)

    return [
        "| | " + " | ".join(n for n, _, _ in columns) + " |",
        "|---|" + "---:|" * len(columns),
        row("I2C calls per sample", lambda r: r["bus"]["calls"], "%d"),
        row("µs per simulated I2C call",
            lambda r: us(r, "bus") / r["bus"]["calls"]),
        row("simulator µs per sample", lambda r: us(r, "bus")),
        row("simulator bytes per sample",
            lambda r: r["bus"]["bytes_per_event"], "%.0f"),
        row("`tsl.sample()` µs", lambda r: us(r, "sample")),
        row("`tsl.sample()` µs without the simulator",
            lambda r: max(us(r, "sample") - us(r, "bus"), 0.0)),
        row("simulator share of `tsl.sample()`", share, "%.0f %%"),
        row("floor: the same calls on a do-nothing Python bus, µs",
            lambda r: us(r, "bus_nop")),
        row("socket calls per `on_next`", lambda r: r["sock"]["calls"], "%d"),
        row("discard-socket µs per `on_next`", lambda r: us(r, "sock")),
        row("`on_next` µs without the socket",
            lambda r: max(us(r, "on_next") - us(r, "sock"), 0.0)),
        row("discard-socket share of `on_next`", sock_share, "%.0f %%"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("impls", nargs="*", default=DEFAULT_IMPLS,
                    help="implementation names (%s) or directories; "
                         "default: %s" % ("/".join(IMPLS),
                                          " ".join(DEFAULT_IMPLS)))
    ap.add_argument("-n", "--events", type=int, default=5000,
                    help="events per phase (default 5000)")
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs per implementation; fastest kept (default 5)")
    ap.add_argument("--sim", type=Path, default=SIM_DIR,
                    help="directory with sim_tsl2591.py (default %s)"
                         % SIM_DIR)
    ap.add_argument("--micropython", default=None,
                    help="MicroPython binary (default: $MICROPYTHON, "
                         ".venv/bin/micropython, PATH)")
    args = ap.parse_args()
    micropython = args.micropython or find_micropython()

    columns = []
    for impl in args.impls:
        name, d = resolve(impl)
        best, info = best_of(micropython, d, args.sim.resolve(), args.events,
                             args.repeat)
        columns.append((name, best, info))

    print("MicroPython: %s; %d events per phase, best of %d runs; "
          "simulator: %s"
          % (micropython, args.events, max(1, args.repeat),
             args.sim / "sim_tsl2591.py"))
    print()
    for name, _, info in columns:
        print("- %s: tsl2591 = %s, mqtt_writer = %s"
              % (name, info.get("tsl2591"), info.get("mqtt_writer")))
    print()
    print("\n".join(main_table(columns)))
    print()
    print("Bus cost: the simulated I2C bus and the discard socket are Python "
          "code, so their calls are inside every number above.")
    print()
    print("\n".join(bus_table(columns)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
