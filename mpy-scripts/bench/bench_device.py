"""Per-event cost of the device pipeline, run inside MicroPython.

    MICROPYPATH=<impl dir>:mpy-scripts/sim:.frozen micropython bench_device.py [N]

``tsl2591`` and ``mqtt_writer`` are imported from whatever comes first on
sys.path (our fallback .py files, the native .mpy files, or the tutorial
baseline in bench/tutorial_baseline/), the sensor sits on the simulated bus
(``sim_tsl2591``, which tells the drivers not to sleep for the integration
time), and the writer is given a ``DiscardSocket`` through its ``sock=``
hook, so only the modules' own work is measured.

Phases, each over N events:
  sample   ``tsl.sample()``
  on_next  ``writer.on_next(event)`` with a prebuilt event tuple
  event    ``sample()`` + building ``(sensor_id, ts, value)`` + ``on_next``
           (what SensorAsOutputThing does for each event)
  bus      the simulator's share of one sample: the exact I2C calls the
           driver made for one sample (recorded once through a proxy bus),
           replayed on the simulator, minus the cost of an empty step
  bus_nop  the same calls on a bus whose methods do nothing: what calling
           any Python-level bus costs, however fast its model
  sock     the discard socket's share of one ``on_next``: the socket calls
           the writer made for one event, recorded and replayed likewise

Time: ``time.ticks_us`` with the GC enabled (collections included, as in
real use); each phase is timed ``REPS`` times and the fastest kept, since
other processes on the machine only ever add time; the cost of the timing
loop's own call (an empty function) is taken off every phase. Heap: ``gc.mem_alloc()``
before/after min(N, 200) events with the GC disabled, so nothing is freed
in between.

Prints one ``BENCH {json}`` line per phase, plus ``INFO {json}``.
"""

import gc
import json
import sys
import time

import micropython

import mqtt_writer
import tsl2591
from mqtt_writer import MQTTWriter
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591

_CONNACK = b'\x20\x02\x00\x00'
REPS = 3


class DiscardSocket:
    """Stream stand-in: answers the CONNECT with a CONNACK, then has nothing
    to read, and counts and discards everything written. Has both the
    stream methods our writers use and the ``send``/``recv`` the tutorial's
    writer uses. The per-event methods are native code: like the simulator,
    this Python stand-in is part of every measured ``on_next``."""

    def __init__(self):
        self.pos = 0
        self.written = 0
        self.writes = 0

    @micropython.native
    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        self.written += n
        self.writes += 1
        return n

    @micropython.native
    def send(self, buf):
        n = len(buf)
        self.written += n
        self.writes += 1
        return n

    @micropython.native
    def readinto(self, buf, n=-1):
        if self.pos >= 4:  # len(_CONNACK)
            return None  # a non-blocking stream with nothing pending
        if n < 0:
            n = len(buf)
        n = min(n, len(_CONNACK) - self.pos)
        for i in range(n):
            buf[i] = _CONNACK[self.pos + i]
        self.pos += n
        return n

    def recv(self, n):
        b = bytearray(n)
        got = self.readinto(b, n) or 0
        return bytes(b[:got])

    @micropython.native
    def settimeout(self, t):
        pass

    def close(self):
        pass


class Recorder:
    """Passes every call to ``target`` (a bus or a socket) and, while
    ``calls`` is a list, records ``(method, args)`` there."""

    def __init__(self, target):
        self.target = target
        self.calls = None

    def __getattr__(self, name):
        attr = getattr(self.target, name)
        if not callable(attr):
            return attr

        def call(*args):
            if self.calls is not None:
                self.calls.append((name, args))
            return attr(*args)
        return call


class NopBus:
    """A bus whose methods return at once: the floor of any Python bus."""

    def writeto(self, addr, buf, stop=True):
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        pass

    def readfrom(self, addr, nbytes, stop=True):
        return b'\x00' * nbytes

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        pass

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        pass


def replay_step(bus, calls):
    """A function making ``calls`` on ``bus`` as a driver does
    (``bus.method(args)``), with private copies of the buffers."""
    env = {'bus': bus}
    lines = ['def step():']
    for i, (name, args) in enumerate(calls):
        names = []
        for j, a in enumerate(args):
            if isinstance(a, (bytes, bytearray, memoryview)):
                a = bytes(a) if isinstance(a, bytes) else bytearray(a)
            key = 'a%d_%d' % (i, j)
            env[key] = a
            names.append(key)
        lines.append('    bus.%s(%s)' % (name, ', '.join(names)))
    if not calls:
        lines.append('    pass')
    exec('\n'.join(lines) + '\n', env)
    return env['step']


def timed(step, n):
    best = None
    for _ in range(REPS):
        gc.collect()
        t0 = time.ticks_us()
        for _ in range(n):
            step()
        us = time.ticks_diff(time.ticks_us(), t0) / n
        if best is None or us < best:
            best = us
    return best


def allocated(step, n):
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
    return (a1 - a0) / m


def measure(name, step, n, base_us=0.0, **extra):
    for _ in range(10):  # warm-up: one-time buffers, caches
        step()
    r = {'phase': name, 'events': n,
         'us_per_event': max(timed(step, n) - base_us, 0.0),
         'bytes_per_event': allocated(step, n)}
    r.update(extra)
    print('BENCH ' + json.dumps(r))
    return r


def empty():
    pass


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
        'first_sample': tsl.sample(),
    }))

    # What the timing loop itself costs per step; taken off every phase.
    base = timed(empty, n)
    measure('sample', tsl.sample, n, base)
    measure('on_next', lambda: w.on_next(ev), n, base)

    def event():
        w.on_next((sid, int(time.time()), tsl.sample()))
    measure('event', event, n, base)
    w.on_completed()
    print('INFO ' + json.dumps({'bytes_written': sock.written,
                                'writes': sock.writes}))

    # The simulator's share: record one sample's bus calls, replay them.
    rec_sim = SimTsl2591()
    rec_sim.set_channels(611, 284)
    rec = Recorder(rec_sim)
    tsl_rec = Tsl2591('lux-1', i2c=rec)
    rec.calls = []
    tsl_rec.sample()
    calls = rec.calls
    rec.calls = None
    names = [c[0] for c in calls]
    measure('bus', replay_step(bus, calls), n, base, calls=len(calls),
            methods=names)
    measure('bus_nop', replay_step(NopBus(), calls), n, base,
            calls=len(calls))

    # The discard socket's share of on_next, the same way.
    rec = Recorder(DiscardSocket())
    w_rec = MQTTWriter('lux-1', 'bench.invalid', 1883, 'sensor-data',
                       sock=rec)
    w_rec.on_next(ev)
    rec.calls = []
    w_rec.on_next(ev)
    calls = rec.calls
    rec.calls = None
    sock2 = DiscardSocket()
    sock2.pos = len(_CONNACK)  # past the handshake, as during events
    measure('sock', replay_step(sock2, calls), n, base, calls=len(calls),
            methods=[c[0] for c in calls])


main()
