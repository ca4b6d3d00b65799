"""The firmware's own `machine` module (port/modmachine.c): machine.I2C in C, as on a board,
with the simulated TSL2591 at 0x29 on it.

* `Tsl2591('lux-1')` with no `i2c=` opens `machine.I2C(scl=Pin(5), sda=Pin(4))` and reads
  the firmware's sensor: the same lux (bit for bit) and the same bus traffic as on the Python
  simulator (mpy-scripts/sim/sim_tsl2591.py), for the native module and the pure-Python
  fallback (.mpy bytecode); faults (no acknowledge, bus error, another chip) give the
  drivers' messages.
* The C sensor behaves as the Python model byte for byte: one script of transfers (command
  bit, normal and special transactions, pointer auto-increment and wrap, read-only
  registers, SRESET, AVALID and late integrations) run on both, every result, buffer, error,
  register and counter compared.
* machine.I2C's methods as a board's: scan(), writeto's ACK count, readfrom/readfrom_mem's
  bytes, OSError(ENODEV) for an address nobody acknowledges, the constructor's checks.
* The metering (machine.sim_meter, sim_meter_calibrate): calls counted per method, each
  window and the calibration plausible (the bench's split relies on them).
"""

import errno

import pytest

from conftest import NATIVE_FLASH, SIM_TSL, as_mpy, run_json, x64_tables

tables = x64_tables("test_tsl2591_fallback")


# (integration, gain, full, ir): a few pairs over the settings, with a saturated channel and
# a negative (IR only) reading.
PAIRS = [(0, 0x00, 611, 284), (0, 0x00, 109, 24), (0, 0x00, 0, 0), (0, 0x00, 0, 1),
         (1, 0x10, 37888, 1200), (5, 0x30, 65534, 65534), (2, 0x20, 65535, 10),
         (3, 0x00, 1000, 300)]

LUX = tables.PRELUDE + """
import machine
log = []
machine.sim_i2c_log(log)
c = tsl2591.Tsl2591('lux-1')
out('init_log', fmt(log))
bus = SimTsl2591()
bus.log = []
p = tsl2591.Tsl2591('lux-1', i2c=bus)
out('init_log_py', fmt(bus.log))
out('bus', type(c.i2c).__name__, repr(c.i2c))
for it, gain, full, ir in %r:
    for s in (c, p):
        s.set_timing(it)
        s.set_gain(gain)
    machine.sim_tsl2591(full, ir)
    bus.set_channels(full, ir)
    del log[:]
    bus.log = []
    lc = c.sample()
    lp = p.sample()
    out('lux', it, gain, full, ir, bits(lc), bits(lp), fmt(log), fmt(bus.log),
        list(machine.sim_tsl2591_state()[0][:2]), list(bus.regs[:2]))
""" % (PAIRS,)


@pytest.fixture(scope="module")
def lux_rows(tsl_impl, esp):
    _, files = tsl_impl
    return run_json(LUX, files, first=["tsl2591"])


def test_default_bus_is_the_firmwares_machine_i2c(lux_rows):
    rows = {r[0]: r[1:] for r in lux_rows if r[0] != "lux"}
    assert rows["bus"] == ["I2C", "I2C(scl=5, sda=4, freq=400000)"]
    # Construction: the ID read, CONTROL, power off; the same transfers as on the Python bus.
    assert rows["init_log"][0] == [
        ["readfrom_mem_into", 0x29, 0xB2, [0x50]],
        ["writeto", 0x29, [0xA1, 0x00]],
        ["writeto", 0x29, [0xA0, 0x00]],
    ]
    assert rows["init_log"] == rows["init_log_py"]


def test_lux_and_traffic_equal_the_python_bus(lux_rows):
    rows = [r[1:] for r in lux_rows if r[0] == "lux"]
    assert [tuple(r[:4]) for r in rows] == PAIRS
    for it, gain, full, ir, c_bits, p_bits, c_log, p_log, c_regs, p_regs in rows:
        # The same driver on either bus: the same float, bit for bit ...
        assert c_bits == p_bits, (it, gain, full, ir)
        lux = tables.from_bits(c_bits)
        atime, again = dict(tables.ITS)[it], dict(tables.GAINS)[gain]
        terms = (full + 1.64 * ir) / (atime * again / 408.0)
        # ... within the port's float precision of the formula (test_tsl2591_esp8266.py).
        assert abs(lux - tables.reference_lux(atime, again, full, ir)) <= 2.0 ** -20 * terms
        if full == 0xFFFF or ir == 0xFFFF:
            assert lux == 0.0
        # A sample: enable, one 5-byte read from STATUS, disable; byte for byte as the model.
        assert c_log == p_log
        assert c_log[0] == ["writeto", 0x29, [0xA0, 0x13]]
        assert c_log[1] == ["readfrom_mem_into", 0x29, 0xB3,
                            [0x01, full & 0xFF, full >> 8, ir & 0xFF, ir >> 8]]
        assert c_log[2] == ["writeto", 0x29, [0xA0, 0x00]]
        assert c_regs == p_regs == [0x00, it | gain]
    assert abs(tables.from_bits(rows[0][4]) - 592.5792) < 1e-3


FAULTS = tables.PRELUDE + """
import machine
def make(**kw):
    return tsl2591.Tsl2591('f', **kw)
attempt('other_addr', lambda: make(addr=0x28))
machine.sim_tsl2591(present=False)
attempt('absent', make)
machine.sim_tsl2591(present=True, fail_bus=True)
attempt('bus_error', make)
machine.sim_tsl2591(fail_bus=False, device_id=0x44)
attempt('wrong_id', make)
machine.sim_tsl2591(device_id=0x50)
s = make()
machine.sim_tsl2591(500, 100)
machine.sim_tsl2591(present=False)
attempt('sample_absent', s.sample)
machine.sim_tsl2591(present=True)
attempt('sample_recovers', s.get_full_luminosity)
machine.sim_tsl2591(not_ready_reads=3)
waits = []
s = make(sleep_ms=waits.append)
attempt('avalid_late', s.get_full_luminosity)
out('avalid_late_waits', waits, machine.sim_tsl2591_state()[0][0])
"""


def test_faults_give_the_drivers_messages(tsl_impl, esp):
    _, files = tsl_impl
    rows = {r[0]: r[1:] for r in run_json(FAULTS, files, first=["tsl2591"])}
    tables.oserror(rows, "other_addr", errno.ENODEV, "TSL2591 not found at 0x28",
                   "no acknowledge (ENODEV)")
    tables.oserror(rows, "absent", errno.ENODEV, "TSL2591 not found at 0x29", "ENODEV")
    tables.oserror(rows, "bus_error", errno.EIO, "TSL2591 not found at 0x29", "EIO")
    tables.oserror(rows, "wrong_id", errno.ENODEV, "TSL2591 not found at 0x29", "0x44")
    tables.oserror(rows, "sample_absent", errno.ENODEV, "TSL2591 at 0x29", "ENODEV")
    assert rows["sample_recovers"] == ["ok", None, "(500, 100)"]
    assert rows["avalid_late"] == ["ok", None, "(500, 100)"]
    assert rows["avalid_late_waits"] == [[110, 5, 5, 5], 0]


# One script of transfers, run on the C bus and on the Python model: every result (or the
# exception), the registers, the pointer and the counters after each step.
SAME = """
import json, machine
from machine import I2C, Pin
from sim_tsl2591 import SimTsl2591

STEPS = [
    ('readfrom_mem', 0x29, 0xB2, 1), ('readfrom_mem', 0x29, 0xB1, 3),
    ('writeto', 0x29, b'\\xa1\\x25'), ('writeto', 0x29, b'\\xa0\\x13'),
    ('readfrom_mem', 0x29, 0xB3, 5), ('readfrom', 0x29, 4), ('readfrom', 0x29, 40),
    ('writeto', 0x29, b'\\xb4\\x55\\x66'), ('readfrom_mem', 0x29, 0xB0, 32),
    ('writeto', 0x29, b'\\xbe\\x01\\x02\\x03\\x04'), ('readfrom_mem_into', 0x29, 0xBE, 4),
    ('writeto', 0x29, b'\\xb3'), ('readfrom_into', 0x29, 5),
    ('writeto', 0x29, b'\\xe6'), ('writeto', 0x29, b'\\xe6\\x00'), ('writeto', 0x29, b'\\x20'),
    ('writeto', 0x29, b'\\xc0'), ('readfrom_mem', 0x29, 0xE6, 1), ('readfrom_mem', 0x29, 0x13, 1),
    ('writeto_mem', 0x29, 0xA1, b'\\x10'), ('writeto_mem', 0x29, 0xE6, b'\\x99'),
    ('writeto_mem', 0x29, 0xA0, b'\\x00\\x07'), ('readfrom_mem', 0x29, 0xA0, 2),
    ('writeto', 0x29, b'\\xa0\\x03'), ('readfrom_mem', 0x29, 0xB3, 5),
    ('writeto', 0x29, b'\\xa0\\x01'), ('readfrom_mem', 0x29, 0xB3, 5),
    ('writeto', 0x29, b'\\xa1\\x80'), ('readfrom_mem', 0x29, 0xA0, 2),
    ('late', 2), ('writeto', 0x29, b'\\xa0\\x03'), ('readfrom_mem', 0x29, 0xB3, 1),
    ('readfrom_mem', 0x29, 0xB3, 1), ('readfrom_mem', 0x29, 0xB3, 5),
    ('writeto', 0x29, b'\\xa0\\x03'), ('readfrom_mem', 0x29, 0xB3, 5),
    ('writeto', 0x28, b'\\xa0\\x03'), ('readfrom_mem', 0x30, 0xB3, 1),
    ('readfrom_into', 0x10, 2), ('writeto_mem', 0x7F, 0xA0, b'\\x00'),
]

def run(bus, state, late):
    rows = []
    for step in STEPS:
        op, args = step[0], step[1:]
        try:
            if op == 'late':
                late(args[0])
                r = None
            elif op == 'readfrom_into':
                b = bytearray(args[1])
                bus.readfrom_into(args[0], b)
                r = ['into', list(b)]
            elif op == 'readfrom_mem_into':
                b = bytearray(args[2])
                bus.readfrom_mem_into(args[0], args[1], b)
                r = ['into', list(b)]
            else:
                r = getattr(bus, op)(*args)
                if isinstance(r, bytes):
                    r = list(r)
        except Exception as e:
            r = [type(e).__name__, e.args[0] if isinstance(e.args[0], int) else str(e)]
        rows.append([op, r] + state())
    return rows

machine.sim_tsl2591(611, 284)
c = I2C(scl=Pin(5), sda=Pin(4))
def c_state():
    regs, ptr, writes, reads = machine.sim_tsl2591_state()
    return [list(regs), ptr, writes, reads]
def c_late(n):
    machine.sim_tsl2591(not_ready_reads=n)
p = SimTsl2591()
p.set_channels(611, 284)
def p_state():
    return [list(p.regs), p.ptr, p.writes, p.reads]
def p_late(n):
    p.not_ready_reads = n
for r in zip(run(c, c_state, c_late), run(p, p_state, p_late)):
    print('JSON', json.dumps(r))
"""


def test_c_sensor_equals_the_python_model_byte_for_byte(esp):
    # (sim_tsl2591.mpy has native code: the flash region, as boot.py sets it.)
    rows = run_json(NATIVE_FLASH + SAME, [as_mpy(SIM_TSL)])
    assert len(rows) == 40
    seen = set()
    for c, p in rows:
        assert c == p
        seen.add(str(c[1][0]) if isinstance(c[1], list) else "")
    # The script went through the interesting paths: errors of each kind happened.
    assert {"ValueError", "OSError", "into"} <= seen


BUS = """
import json, machine
from machine import I2C, Pin
def out(*v):
    print('JSON', json.dumps(list(v)))
def err(f):
    try:
        return ['ok', f()]
    except Exception as e:
        return [type(e).__name__, e.args[0] if isinstance(e.args[0], int) else str(e)]
i2c = I2C(scl=Pin(5), sda=Pin(4), freq=100000)
out('scan', i2c.scan())
machine.sim_tsl2591(present=False)
out('scan_absent', i2c.scan(), err(lambda: i2c.writeto(0x29, b'\\xa0\\x00')))
machine.sim_tsl2591(present=True)
out('acks', i2c.writeto(0x29, b'\\xa0\\x00'), i2c.writeto(0x29, b'\\xb2'),
    i2c.writeto(0x29, bytearray(b'\\xa4\\x01\\x02\\x03')), i2c.writeto(0x29, b''),
    i2c.writeto(0x29, b'\\xa0\\x00', False))
out('id', list(i2c.readfrom_mem(0x29, 0xB2, 1)), i2c.writeto(0x29, b'\\xb2'),
    list(i2c.readfrom(0x29, 1, True)))
b = bytearray(2)
out('mem_into', i2c.readfrom_mem_into(0x29, 0xA4, b, addrsize=8), list(b))
out('writeto_mem', i2c.writeto_mem(0x29, 0xA4, b'\\x07', addrsize=8),
    list(i2c.readfrom_mem(0x29, 0xA4, 1)))
# addrsize=16: two memaddr bytes, most significant first (command, then a register value).
out('addrsize16', i2c.writeto_mem(0x29, 0xA509, b'', addrsize=16),
    list(i2c.readfrom_mem(0x29, 0xA5, 1)), err(lambda: i2c.readfrom_mem(0x29, 0xA5, 1, addrsize=12)))
out('enodev', [err(lambda: i2c.writeto(0x28, b'\\xa0')), err(lambda: i2c.readfrom(0x30, 1)),
               err(lambda: i2c.readfrom_into(0x08, bytearray(1))),
               err(lambda: i2c.readfrom_mem(0x77, 0xB2, 1)),
               err(lambda: i2c.readfrom_mem_into(0x00, 0xB2, bytearray(1))),
               err(lambda: i2c.writeto_mem(0x28, 0xA0, b'\\x00'))])
out('ctor', err(lambda: I2C(Pin(5), Pin(4))), err(lambda: I2C(scl=5, sda=4)),
    err(lambda: repr(I2C(-1, Pin(14), Pin(2)))), err(lambda: Pin(7)), repr(Pin(16)),
    err(lambda: machine.sim_tsl2591(70000, 0)), err(lambda: machine.sim_tsl2591(1)))
# Metering: calls per method, and plausible windows.
machine.sim_meter(True)
for _ in range(10):
    i2c.writeto(0x29, b'\\xa0\\x00')
    i2c.readfrom_mem_into(0x29, 0xB3, b)
into = [0] * 14
machine.sim_meter(False, into)
m = machine.sim_meter(True)
out('meter', [list(x) for x in m], [list(x) for x in machine.sim_meter()])
out('meter_into', into, err(lambda: machine.sim_meter(False, [0] * 3)))
u = machine.SimI2CUnmetered(scl=Pin(5), sda=Pin(4))
out('unmetered', u.writeto(0x29, b'\\xa0\\x00'), list(u.readfrom_mem(0x29, 0xB2, 1)),
    [x[3] for x in machine.sim_meter()])
out('cal', [list(x) for x in machine.sim_meter_calibrate()])
"""


def test_machine_i2c_methods_as_a_boards(esp):
    rows = {r[0]: r[1:] for r in run_json(BUS, [])}
    assert rows["scan"] == [[0x29]]
    assert rows["scan_absent"] == [[], ["OSError", errno.ENODEV]]
    # writeto returns the number of bytes acknowledged (the sensor acknowledges every byte);
    # a zero-length write is an address probe: 0.
    assert rows["acks"] == [2, 1, 4, 0, 2]
    assert rows["id"] == [[0x50], 1, [0x50]]
    assert rows["mem_into"] == [None, [1, 2]]
    assert rows["writeto_mem"] == [None, [7]]
    assert rows["addrsize16"] == [None, [9], ["ValueError", "addrsize must be 8, 16, 24 or 32"]]
    assert rows["enodev"] == [[["OSError", errno.ENODEV]] * 6]
    ctor, kw, other_pins, bad_pin, pin16, big, half = rows["ctor"]
    assert ctor == ["ValueError", "invalid I2C peripheral"]
    assert kw == ["ValueError", "expecting a pin"]
    assert other_pins == ["ok", "I2C(scl=14, sda=2, freq=400000)"]
    assert bad_pin == ["ValueError", "invalid pin"]
    assert pin16 == "Pin(16)"
    assert big == ["ValueError", "channel counts must be 0..65535"]
    assert half[0] == "TypeError"
    meter, after_reset = rows["meter"]
    calls = {name: (kind, insns, n) for name, kind, insns, n in meter}
    assert calls["writeto"][0] == "var" and calls["writeto"][2] == 10
    assert calls["readfrom_mem_into"][0] == "kw" and calls["readfrom_mem_into"][2] == 10
    assert calls["sleep_ms"][0] == "fun_1"
    assert all(n == 0 for name, _, _, n in meter if name not in ("writeto", "readfrom_mem_into"))
    # A method's body: at least tens of instructions (argument parsing, the transfer).
    assert calls["writeto"][1] >= 10 * 30 and calls["readfrom_mem_into"][1] >= 10 * 30
    assert all(x[2] == 0 and x[3] == 0 for x in after_reset)
    # The same sums into a list (no allocation: what the bench reads between rounds).
    into, bad = rows["meter_into"]
    assert into == [v for _, _, insns, n in meter for v in (insns, n)]
    assert bad == ["ValueError", "sim_meter: into must have 14 items"]
    # The bench's check bus: the same sensor, nothing metered.
    assert rows["unmetered"] == [2, [0x50], [0] * 7]
    (cal,) = rows["cal"]
    assert [c[0] for c in cal] == ["fun_1", "var", "kw"]
    for kind, window, whole, k, nop in cal:
        # The window holds the do-nothing function and a little metering; the whole metering
        # (thunk + metered call) costs more than the window's part of it, and not hundreds.
        assert k % 25 == 0 and nop == 2
        assert nop * k < window < 10 * k, (kind, window)
        assert window - nop * k < whole < 100 * k, (kind, whole)
