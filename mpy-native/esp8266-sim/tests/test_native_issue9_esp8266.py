"""Issue 9's claims about the native modules, checked on the ESP8266-configured MicroPython
under QEMU (build/xtensa/*.mpy; written by the micropython-rt/modules owner, using this
folder's harness):

* `on_next` payloads equal the device's own `json.dumps(event)` for a table of floats, ints
  (small, negative, long), long ids with escapes and non-ASCII text, and nested values;
* the native lux is within one unit in the last place of the port's 30-bit float of the exact
  formula, over the x64 lux table;
* `sample()` and `on_next()` allocate nothing (measured with the GC off over many calls, with
  a bus and a connection object that allocate nothing themselves), and their instruction
  counts are printed.
"""

import binascii
import json
import math
from fractions import Fraction

import pytest

from conftest import BOARD, SIM_TSL, XTENSA, as_mpy, run_json, x64_tables

writer_tables = x64_tables("test_mqtt_writer_fallback")
tsl_tables = x64_tables("test_tsl2591_fallback")

# Written as MicroPython source with repr(): no nan/inf (no literal for them).
EVENTS = [
    ("lux-1", 624, 284.1312),
    ("lux-1", 0, 0.0),
    ("l" * 120, 2 ** 40, -0.0),
    ("id-2", -5, 1e-7),
    ("é \"q\" \\ \n\t\x01", 1, 3.4e38),
    ("long", 123456789012345678901234567890, 1.0 / 3),
    ("nested", [1, [2, (3, None)], True, False], {"k": [1.5, "v"]}),
    [100.0, 1e16, 1e-5, 12345.678, -2.5e-12],
    (1, 2),
    "just a string",
    42,
]

WRITER = """
import json, binascii, socket
from mqtt_writer import MQTTWriter
m = MQTTWriter('lux-1', '127.0.0.1', 1883, 'sensor-data')
for e in {events!r}:
    m.on_next(e)
    print('JSON', json.dumps(json.dumps(e)))
m.on_completed()
for n, p in socket.broker.packets:
    print('JSON', json.dumps(binascii.hexlify(p).decode()))
"""


def test_on_next_payloads_equal_json_dumps_on_the_device():
    files = [XTENSA / "mqtt_writer.mpy", as_mpy(BOARD / "socket.py")]
    rows = run_json(WRITER.format(events=EVENTS), files, first=["mqtt_writer"])
    dumps, packets = rows[:len(EVENTS)], [binascii.unhexlify(r) for r in rows[len(EVENTS):]]
    publishes = [p for p in packets if p[0] & 0xF0 == 0x30]
    assert len(publishes) == len(EVENTS)
    topic = b"\x00\x0bsensor-data"
    for want, p in zip(dumps, publishes):
        # fixed header: type byte, remaining length (1-2 bytes here), then topic and payload
        body = p[p.index(topic) + len(topic):]
        assert body.decode() == want


def ulp30(x):
    """One unit in the last place of the ESP8266's 30-bit float (21 fraction bits) at |x|."""
    return 2.0 ** (math.frexp(abs(x))[1] - 1 - 21)


def test_native_lux_is_within_one_30_bit_ulp_of_the_exact_formula():
    files = [XTENSA / "tsl2591.mpy", as_mpy(SIM_TSL)]
    rows = []
    for it, _ in tsl_tables.ITS:
        part = [c for c in tsl_tables.CASES if c[0] == it]
        code = "CASES = %r\n" % json.dumps(part) + tsl_tables.LUX_TABLE
        rows += run_json(code, files, first=["tsl2591"])
    assert len(rows) == len(tsl_tables.CASES)
    worst = 0.0
    for r in rows:
        it, gain, ch0, ch1, kind, hexbits = r[:6]
        exact = tsl_tables.exact_lux(dict(tsl_tables.ITS)[it], dict(tsl_tables.GAINS)[gain], ch0, ch1)
        got = tsl_tables.from_bits(hexbits)
        assert kind == "float"
        if exact == 0:
            assert got == 0.0, r
            continue
        err = abs(Fraction(got) - exact) / Fraction(ulp30(float(exact)))
        worst = max(worst, float(err))
        assert err <= 1, (r, float(exact), got)
    print("worst error: %.3f units of the 30-bit float" % worst)


PER_CALL = """
import esp, gc
from tsl2591 import Tsl2591
from mqtt_writer import MQTTWriter
from sim_tsl2591 import SimTsl2591

class Sink:
    # A broker connection that allocates nothing itself: CONNACK once, then silence.
    def __init__(self):
        self.ack = 4
    def write(self, buf, off, n):
        return n
    def readinto(self, buf, n):
        if self.ack == 0:
            return None
        k = 0
        while k < n and self.ack:
            buf[k] = (0x20, 0x02, 0, 0)[4 - self.ack]
            self.ack -= 1
            k += 1
        return k
    def settimeout(self, t):
        pass
    def close(self):
        pass

N = 50
tsl = Tsl2591('lux-1', i2c=SimTsl2591())
m = MQTTWriter('lux-1', '127.0.0.1', 1883, 'sensor-data', sock=Sink())
ev = ('lux-1', 624, 284.1312)
def measure(f, arg):
    f(arg) if arg is not None else f()
    gc.collect()
    gc.disable()
    i = 0
    a, t0 = gc.mem_alloc(), esp.icount()
    while i < N:
        f(arg) if arg is not None else f()
        i += 1
    t1, b = esp.icount(), gc.mem_alloc()
    gc.enable()
    return (b - a), ((t1 - t0) & 0x3fffffff) // N
print('JSON', list(measure(tsl.sample, None)))
print('JSON', list(measure(m.on_next, ev)))
"""


def test_sample_and_on_next_allocate_nothing_on_the_device():
    files = [XTENSA / "tsl2591.mpy", XTENSA / "mqtt_writer.mpy", as_mpy(SIM_TSL)]
    (sample_bytes, sample_instr), (next_bytes, next_instr) = run_json(
        PER_CALL, files, first=["mqtt_writer", "tsl2591"])
    print("per sample(): %d instructions (the simulated bus in Python included); per on_next(): %d"
          % (sample_instr, next_instr))
    assert sample_bytes == 0
    assert next_bytes == 0
