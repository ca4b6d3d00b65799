"""Per-event cost of the device pipeline, run inside MicroPython.

    MICROPYPATH=<impl dir>:mpy-scripts/sim:.frozen micropython bench_device.py [N]

``tsl2591`` and ``mqtt_writer`` are imported from whatever comes first on
sys.path (the fallback .py files or the native .mpy files), the sensor sits
on the simulated bus (``sim_tsl2591``, which tells the driver not to sleep
for the integration time), and the writer is given a ``DiscardSocket``
through its ``sock=`` hook, so only the modules' own work is measured.

Phases, each over N events:
  sample   ``tsl.sample()``
  on_next  ``writer.on_next(event)`` with a prebuilt event tuple
  event    ``sample()`` + building ``(sensor_id, ts, value)`` + ``on_next``
           (what SensorAsOutputThing does for each event)

Time: ``time.ticks_us`` with the GC enabled (collections included, as in
real use). Heap: ``gc.mem_alloc()`` before/after min(N, 200) events with the
GC disabled, so nothing is freed in between.

Prints one ``BENCH {json}`` line per phase, plus ``INFO {json}``.
"""

import gc
import json
import sys
import time

import mqtt_writer
import tsl2591
from mqtt_writer import MQTTWriter
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591

_CONNACK = b'\x20\x02\x00\x00'


class DiscardSocket:
    """Stream stand-in: answers the CONNECT with a CONNACK, then has nothing
    to read, and counts and discards everything written."""

    def __init__(self):
        self.pos = 0
        self.written = 0
        self.writes = 0

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        self.written += n
        self.writes += 1
        return n

    def readinto(self, buf, n=-1):
        if self.pos >= len(_CONNACK):
            return None  # a non-blocking stream with nothing pending
        if n < 0:
            n = len(buf)
        n = min(n, len(_CONNACK) - self.pos)
        for i in range(n):
            buf[i] = _CONNACK[self.pos + i]
        self.pos += n
        return n

    def settimeout(self, t):
        pass

    def close(self):
        pass


def measure(name, step, n):
    for _ in range(10):  # warm-up: one-time buffers, caches
        step()
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        step()
    us = time.ticks_diff(time.ticks_us(), t0)
    m = min(n, 200)
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        for _ in range(m):
            step()
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    print('BENCH ' + json.dumps({'phase': name, 'events': n,
                                 'us_per_event': us / n,
                                 'bytes_per_event': (a1 - a0) / m}))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    bus = SimTsl2591()
    bus.set_channels(611, 284)
    tsl = Tsl2591('lux-1', i2c=bus)
    sock = DiscardSocket()
    w = MQTTWriter('lux-1', 'bench.invalid', 1883, 'sensor-data', sock=sock)
    sid = tsl.sensor_id
    ev = (sid, 624, 284.1312)
    print('INFO ' + json.dumps({
        'tsl2591': getattr(tsl2591, '__file__', '?'),
        'mqtt_writer': getattr(mqtt_writer, '__file__', '?'),
        'platform': sys.platform,
        'implementation': sys.implementation.name,
    }))

    measure('sample', tsl.sample, n)
    measure('on_next', lambda: w.on_next(ev), n)

    def event():
        w.on_next((sid, int(time.time()), tsl.sample()))
    measure('event', event, n)
    w.on_completed()
    print('INFO ' + json.dumps({'bytes_written': sock.written,
                                'writes': sock.writes}))


main()
