"""The benchmark harness runs and reports numbers for each implementation."""

import re
import subprocess
import sys

from conftest import SCRIPTS
from mpyrun import TSL2591_IMPLS

NUM = r"\d+\.\d"


def run_bench(*args):
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench" / "run_bench.py")]
        + list(args) + ["-n", "50", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


def tables(out):
    """The markdown tables in ``out``: lists of rows, each a list of cells."""
    found, cur = [], None
    for line in out.splitlines():
        if line.startswith("|"):
            if cur is None:
                cur = []
                found.append(cur)
            if not line.startswith("|---"):
                cur.append([c.strip() for c in line.strip("|").split(" | ")])
        else:
            cur = None
    return found


def test_run_bench_prints_both_tables():
    # The tutorial baseline, then our implementations (native joins when the
    # tests run with TSL2591_IMPLS=fallback,native).
    impls = ["tutorial"] + TSL2591_IMPLS
    out = run_bench(*impls[:-1], str(SCRIPTS / "fallback")
                    if impls[-1] == "fallback" else impls[-1])
    assert "- tutorial: tsl2591 = %s" % (
        SCRIPTS / "bench" / "tutorial_baseline" / "tsl2591.py") in out
    main, bus = tables(out)
    last = impls[-1] if impls[-1] != "fallback" else str(SCRIPTS / "fallback")
    names = impls[:-1] + [last]
    assert main[0] == ["phase"] + [
        "%s %s/event" % (n, u) for n in names for u in ("µs", "bytes")] + [
        "%s speed-up vs %s" % (last, n) for n in names[:-1]]
    assert [r[0] for r in main[1:]] == [
        "`tsl.sample()`", "`writer.on_next(event)`",
        "sample + event tuple + on_next"]
    for r in main[1:]:
        cells = r[1:]
        assert len(cells) == 2 * len(names) + len(names) - 1
        nums, ups = cells[:2 * len(names)], cells[2 * len(names):]
        assert all(re.fullmatch(NUM, c) for c in nums), r
        assert all(float(c) > 0 for c in nums[0::2]), r
        assert all(re.fullmatch(NUM + "x", c) for c in ups), r
    # The tutorial allocates on every event; ours does not in on_next.
    rows = {r[0]: r[1:] for r in main[1:]}
    assert float(rows["`writer.on_next(event)`"][1]) > 100
    assert float(rows["`writer.on_next(event)`"][3]) == 0

    assert bus[0] == [""] + names
    brow = {r[0]: r[1:] for r in bus[1:]}
    # The tutorial reads each word with a command write + a 4-byte read.
    assert brow["I2C calls per sample"] == ["6"] + ["3"] * (len(names) - 1)
    assert brow["socket calls per `on_next`"][0] == "1"
    for label in ("µs per simulated I2C call", "simulator µs per sample",
                  "floor: the same calls on a do-nothing Python bus, µs",
                  "discard-socket µs per `on_next`"):
        assert all(re.fullmatch(r"\d+\.\d\d", c) and float(c) > 0
                   for c in brow[label]), (label, brow[label])
    for label in ("simulator share of `tsl.sample()`",
                  "discard-socket share of `on_next`"):
        assert all(re.fullmatch(r"\d+ %", c) for c in brow[label]), label
