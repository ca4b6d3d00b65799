"""Per-call cost on the simulated ESP8266, run by bench_esp8266.py (as .mpy bytecode).

``tsl2591`` and ``mqtt_writer`` are whichever implementation the runner put on the board
(imported first, right after boot). The sensor sits on the simulated bus (``sim_tsl2591``,
which tells drivers not to wait for the integration time), the writer gets a ``DiscardSocket``
through its ``sock=`` hook (the tutorial's writer: ``send``/``recv``). Instructions:
``esp.icount()`` (QEMU -icount, exact to 25) over N calls with the GC enabled (collections
included, as in real use), minus the same loop with an empty body. Heap: ``gc.mem_alloc()``
before/after M calls with the GC disabled (M small: the tutorial's code allocates per call).
Prints ``JSON [sample_insns, sample_bytes, on_next_insns, on_next_bytes]``.
"""

import gc

import esp
import micropython
from mqtt_writer import MQTTWriter
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591

_CONNACK = b'\x20\x02\x00\x00'
N = 40
M = 8


class DiscardSocket:
    """Answers CONNECT with CONNACK, then has nothing to read; counts and drops writes."""

    def __init__(self):
        self.pos = 0
        self.written = 0

    @micropython.native
    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        self.written += n
        return n

    @micropython.native
    def send(self, buf):
        n = len(buf)
        self.written += n
        return n

    @micropython.native
    def readinto(self, buf, n=-1):
        if self.pos >= 4:
            return None
        if n < 0:
            n = len(buf)
        n = min(n, 4 - self.pos)
        for i in range(n):
            buf[i] = _CONNACK[self.pos + i]
        self.pos += n
        return n

    def recv(self, n):
        b = bytearray(n)
        got = self.readinto(b, n) or 0
        return bytes(b[:got])

    def settimeout(self, t):
        pass

    def close(self):
        pass


bus = SimTsl2591()
bus.set_channels(611, 284)
tsl = Tsl2591('lux-1', i2c=bus)
w = MQTTWriter('lux-1', 'bench', 1883, 'sensor-data', sock=DiscardSocket())
ev = ('lux-1', 624, 284.1312)


def loop_empty(n):
    for _ in range(n):
        pass


def loop_sample(n):
    for _ in range(n):
        tsl.sample()


def loop_on_next(n):
    for _ in range(n):
        w.on_next(ev)


def cost(loop):
    loop(3)
    gc.collect()
    i0 = esp.icount()
    loop(N)
    i1 = esp.icount()
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    loop(M)
    b = gc.mem_alloc()
    gc.enable()
    return (i1 - i0) & 0x3fffffff, b - a


e_insns, e_bytes = cost(loop_empty)
s_insns, s_bytes = cost(loop_sample)
n_insns, n_bytes = cost(loop_on_next)
print('JSON', [(s_insns - e_insns) / N, (s_bytes - e_bytes) / M,
               (n_insns - e_insns) / N, (n_bytes - e_bytes) / M])
