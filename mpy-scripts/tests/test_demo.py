"""`make demo` (demo/run-demo.sh) written to a file, as `make demo > log 2>&1`
does: every line labelled by its source, the lines in the order they
happened, nothing held back until the end."""

import os
import re
import subprocess

import pytest

from conftest import HOST_SERVICE, free_port
from mpyrun import REPO

DEMO = REPO / "demo" / "run-demo.sh"
LABELS = {"demo", "host-service", "mosquitto_sub", "device", "mosquitto_pub", "curl",
          "csv", "rejects"}


@pytest.mark.parametrize("impl", ["native", "fallback"])
def test_demo_log_is_labelled_and_in_order(impl, tmp_path):
    assert HOST_SERVICE.exists(), "build it first: make host"
    log = tmp_path / "demo.log"
    env = {"DEMO_SECONDS": "4", "IMPL": impl, "DEMO_PORT": str(free_port()),
           "STATUS_PORT": str(free_port()), "DEMO_DIR": str(tmp_path / "demo")}
    with open(log, "w") as f:
        p = subprocess.run(["bash", str(DEMO)], stdout=f, stderr=subprocess.STDOUT,
                           env={**os.environ, **env}, timeout=60)
    text = log.read_text()
    assert p.returncode == 0, text
    assert "\033[" not in text  # no terminal escapes in a log
    lines = text.splitlines()
    parsed = []
    for line in lines:
        m = re.fullmatch(r"(\S+) +\| (.*)", line)
        assert m and m.group(1) in LABELS, "unlabelled line: %r" % line
        parsed.append((m.group(1), m.group(2)))

    def first(label, pred=lambda s: True):
        return next(i for i, (lab, s) in enumerate(parsed) if lab == label and pred(s))

    def every(label, pred=lambda s: True):
        return [i for i, (lab, s) in enumerate(parsed) if lab == label and pred(s)]

    device_header = first("demo", lambda s: s.startswith("== micropython -c 'import client'"))
    running = first("device", lambda s: s.startswith("Running main loop"))
    stopped = first("demo", lambda s: s.startswith("== stopped the device"))
    stopping = first("demo", lambda s: s.startswith("== stopping host-service"))
    events = every("host-service", lambda s: s.startswith("SensorEvent(sensor_id='lux-1'"))
    wire = every("mosquitto_sub", lambda s: s.startswith('["lux-1", '))
    device = every("device")
    csv_rows = every("csv", lambda s: s.endswith(",lux-1,284.1312")
                     or s.endswith(",lux-1,284.13120000000004"))
    # The device's lines come under its heading, before it is stopped; the
    # events it published appear while it runs, on the wire and in the
    # recorder, not held back until the end. (Lines of different sources
    # pass different labellers, so only lines a sample period (1 s) apart are
    # compared across sources.)
    assert device_header < device[0] and device[-1] < stopped
    assert len(events) >= 2 and len(wire) >= 2
    assert running < events[1] < stopped and running < wire[1] < stopped
    # The recorder's lines are all out before the CSV is shown, which has
    # one row per event it printed.
    assert stopping < first("csv") and every("host-service")[-1] < first("csv")
    assert len(csv_rows) == len(events)
    assert parsed[-1] == ("rejects", "hi, there")
