"""The benchmark harness runs and reports numbers for each implementation."""

import re
import subprocess
import sys

from conftest import SCRIPTS


def test_run_bench_prints_a_table():
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench" / "run_bench.py"), "fallback",
         str(SCRIPTS / "fallback"), "-n", "50", "--repeat", "1"],
        capture_output=True, text=True, timeout=60, check=True)
    lines = proc.stdout.splitlines()
    assert "- fallback: tsl2591 = %s" % (SCRIPTS / "fallback" / "tsl2591.py") \
        in proc.stdout
    rows = [line for line in lines if line.startswith("| ")][1:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| `tsl.sample()`", "| `writer.on_next(event)`",
        "| sample + event tuple + on_next"]
    for r in rows:
        cells = r.strip("| ").split(" | ")[1:]
        assert len(cells) == 4  # two implementations x (µs, bytes)
        assert all(re.fullmatch(r"\d+\.\d", c) for c in cells), r
        assert float(cells[0]) > 0
