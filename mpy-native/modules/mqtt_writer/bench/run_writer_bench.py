#!/usr/bin/env python3
"""Native vs fallback MQTTWriter.on_next, side by side (prints a markdown table).

    python3 mpy-native/modules/mqtt_writer/bench/run_writer_bench.py [-n 5000] [--repeat 3]

Starts its own mosquitto on a free loopback port; runs bench_writer.py in the MicroPython
binary (env MICROPYTHON, .venv/bin/micropython, ...) once per implementation directory
(mpy-scripts/fallback and build/x64) and keeps the fastest of --repeat runs.
"""

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO / "mpy-scripts" / "tests"))
from mpyrun import IMPL_DIRS, find_micropython, mpy_env  # noqa: E402

PHASES = [
    ("discard-short", "tutorial event, discard socket"),
    ("discard-long", "17-digit float + 40-char id, discard socket"),
    ("broker-qos0", "tutorial event, TCP to mosquitto, QoS 0"),
    ("broker-qos1", "tutorial event, TCP to mosquitto, QoS 1 (PUBACK wait)"),
]


def start_broker(tmp):
    """mosquitto on a free 127.0.0.1 port; returns (process, port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = Path(tmp) / "mosquitto.conf"
    conf.write_text("listener %d 127.0.0.1\nallow_anonymous true\nuser %s\n"
                    % (port, pwd.getpwuid(os.geteuid()).pw_name))
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(250):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("error: mosquitto did not start on port %d" % port)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--events", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    micropython = find_micropython()
    if not (IMPL_DIRS["native"] / "mqtt_writer.mpy").exists():
        raise SystemExit("error: build/x64/mqtt_writer.mpy missing: run `make natmods`")

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        broker, port = start_broker(tmp)
        try:
            for impl in ("fallback", "native"):
                best = {}
                for _ in range(args.repeat):
                    proc = subprocess.run(
                        [micropython, str(HERE / "bench_writer.py"), str(args.events),
                         str(port)],
                        env=mpy_env([IMPL_DIRS[impl]]), capture_output=True, text=True,
                        timeout=600)
                    if proc.returncode != 0:
                        raise SystemExit("error: %s run failed\n%s%s"
                                         % (impl, proc.stdout, proc.stderr))
                    for line in proc.stdout.splitlines():
                        if line.startswith("BENCH "):
                            r = json.loads(line[6:])
                            old = best.get(r["phase"])
                            if old is None or r["us_per_event"] < old["us_per_event"]:
                                best[r["phase"]] = r
                results[impl] = best
        finally:
            broker.terminate()
            broker.wait(5)

    print("MicroPython: %s; %d events per phase (QoS 1: %d), best of %d runs\n"
          % (micropython, args.events, max(args.events // 4, 1), args.repeat))
    print("| on_next | fallback µs | native µs | speed-up | fallback B/event "
          "| native B/event |")
    print("|---|---:|---:|---:|---:|---:|")
    for phase, label in PHASES:
        f, n = results["fallback"][phase], results["native"][phase]
        print("| %s | %.2f | %.2f | %.1fx | %.1f | %.1f |" % (
            label, f["us_per_event"], n["us_per_event"],
            f["us_per_event"] / n["us_per_event"], f["bytes_per_event"],
            n["bytes_per_event"]))


if __name__ == "__main__":
    main()
