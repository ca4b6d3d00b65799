"""TSL2591 driver tests on the real MicroPython binary, against the simulator.

The driver under test is ``tsl2591`` from each directory of
``mpyrun.TSL2591_IMPLS`` (the pure-Python fallback; the native ``.mpy`` in
``build/x64`` once the lead enables it), so the same table runs on both.
Expected lux values are computed here, in CPython, from the tutorial's
formula; the snippets send MicroPython's floats back as their IEEE-754 bits.
"""

import errno
import json
import struct
import sys

import pytest

import mpyrun

# Integration code -> ms, gain code -> multiplier (tutorial's tables).
ITS = [(0, 100.0), (1, 200.0), (2, 300.0), (3, 400.0), (4, 500.0), (5, 600.0)]
GAINS = [(0x00, 1.0), (0x10, 25.0), (0x20, 428.0), (0x30, 9876.0)]
COUNTS = [
    (0, 0),            # dark
    (611, 284),
    (1, 0),
    (0, 1),            # IR only: negative lux, not clamped
    (100, 100),
    (37888, 1200),
    (40000, 39999),
    (65534, 65534),    # largest unsaturated
    (65535, 10),       # ch0 saturated
    (10, 65535),       # ch1 saturated
    (65535, 65535),
]
CASES = [(it, g, c0, c1) for it, _ in ITS for g, _ in GAINS for c0, c1 in COUNTS]

# How close each implementation's lux must be to the CPython value (relative).
# 0.0 = the same double as the tutorial's step-by-step formula, bit for bit.
# None = within half a unit in the last place of the *exact* formula (the native
# module divides one exact integer fraction with the runtime: issue 9).
LUX_REL_TOL = {"fallback": 0.0, "native": None}


def reference_lux(atime, again, full, ir):
    """The tutorial's formula, with saturation reported as 0.0."""
    if full == 0xFFFF or ir == 0xFFFF:
        return 0.0
    cpl = (atime * again) / 408.0
    lux1 = (full - (1.64 * ir)) / cpl
    lux2 = ((0.59 * full) - (0.86 * ir)) / cpl
    return max([lux1, lux2])


def exact_lux(atime, again, full, ir):
    """The formula in exact rational arithmetic (1.64 = 164/100, ..., 408/100 = 102/25)."""
    from fractions import Fraction
    if full == 0xFFFF or ir == 0xFFFF:
        return Fraction(0)
    return Fraction(max(100 * full - 164 * ir, 59 * full - 86 * ir) * 102, int(25 * atime * again))


def from_bits(hexbits):
    return struct.unpack("<d", bytes.fromhex(hexbits))[0]


@pytest.fixture(scope="module", params=mpyrun.TSL2591_IMPLS)
def impl(request):
    """(name, sys.path list) of the implementation under test."""
    name = request.param
    d = mpyrun.IMPL_DIRS[name]
    if not (d / "tsl2591.py").exists() and not (d / "tsl2591.mpy").exists():
        pytest.fail("no tsl2591 module in %s (build it first)" % d)
    return name, [d, mpyrun.SIM_DIR]


PRELUDE = """
import binascii, json, struct, sys
import tsl2591
from sim_tsl2591 import SimTsl2591

def bits(x):
    return binascii.hexlify(struct.pack('<d', x)).decode()

def out(*v):
    print('JSON', json.dumps(list(v)))

def fmt(log):
    return [[t[0]] + [list(x) if isinstance(x, bytes) else x for x in t[1:]]
            for t in log]

def attempt(name, fn):
    try:
        r = fn()
    except Exception as e:
        code = e.args[0] if e.args and isinstance(e.args[0], int) else None
        out(name, type(e).__name__, code, str(e))
    else:
        out(name, 'ok', None, repr(r))
"""


# -- lux table ---------------------------------------------------------------

LUX_TABLE = PRELUDE + """
bus = SimTsl2591()
waits = []
s = tsl2591.Tsl2591('lux-t', i2c=bus, sleep_ms=waits.append)
for it, gain, ch0, ch1 in json.loads(CASES):
    s.set_timing(it)
    s.set_gain(gain)
    bus.set_channels(ch0, ch1)
    n = len(waits)
    lux = s.sample()
    out(it, gain, ch0, ch1, type(lux).__name__, bits(lux), waits[n:],
        bus.regs[0], bus.regs[1], s.get_full_luminosity())
"""


@pytest.fixture(scope="module")
def lux_rows(impl):
    name, paths = impl
    code = "CASES = %r\n" % json.dumps(CASES) + LUX_TABLE
    rows = mpyrun.run_json(code, paths)
    assert len(rows) == len(CASES)
    return name, {tuple(r[:4]): r[4:] for r in rows}


@pytest.mark.parametrize("it,gain,ch0,ch1", CASES)
def test_lux_matches_reference(lux_rows, it, gain, ch0, ch1):
    name, rows = lux_rows
    kind, hexbits, waits, enable, control, full_ir = rows[(it, gain, ch0, ch1)]
    expected = reference_lux(dict(ITS)[it], dict(GAINS)[gain], ch0, ch1)
    got = from_bits(hexbits)
    assert kind == "float"
    tol = LUX_REL_TOL.get(name, 1e-6)
    if tol is None:
        from fractions import Fraction
        import math
        exact = exact_lux(dict(ITS)[it], dict(GAINS)[gain], ch0, ch1)
        assert abs(Fraction(got) - exact) <= Fraction(math.ulp(float(exact))) / 2, (got, float(exact))
    elif tol == 0.0:
        assert got == expected, (got, expected)
    else:
        assert abs(got - expected) <= tol * max(abs(expected), 1e-9), (got, expected)
    check_lux_traffic(waits, enable, control, full_ir, it, gain, ch0, ch1)


def check_lux_traffic(waits, enable, control, full_ir, it, gain, ch0, ch1):
    """A LUX_TABLE row's bus side (here and on the ESP8266 runtime:
    test_tsl2591_esp8266.py): one wait of the integration time + 10 %,
    settings in CONTROL, powered off, the counts read."""
    atime = (it + 1) * 100
    assert waits == [atime + atime // 10]
    assert control == it | gain
    assert enable == 0
    assert full_ir == [ch0, ch1]


def test_saturation_and_dark_values(lux_rows):
    _, rows = lux_rows
    assert from_bits(rows[(0, 0, 65535, 10)][1]) == 0.0
    assert from_bits(rows[(5, 0x30, 10, 65535)][1]) == 0.0
    assert from_bits(rows[(0, 0, 0, 0)][1]) == 0.0
    assert from_bits(rows[(0, 0, 0, 1)][1]) < 0.0
    # 611/284 at 100 ms x1, the tutorial's example counts.
    assert abs(from_bits(rows[(0, 0, 611, 284)][1]) - 592.5792) < 1e-3


# -- API, constants, waits -----------------------------------------------------

API = PRELUDE + """
for n in ('INTEGRATIONTIME_100MS', 'INTEGRATIONTIME_200MS', 'INTEGRATIONTIME_300MS',
          'INTEGRATIONTIME_400MS', 'INTEGRATIONTIME_500MS', 'INTEGRATIONTIME_600MS',
          'GAIN_LOW', 'GAIN_MED', 'GAIN_HIGH', 'GAIN_MAX',
          'VISIBLE', 'INFRARED', 'FULLSPECTRUM'):
    out('const', n, getattr(tsl2591, n))
for n in ('LUX_DF', 'LUX_COEFB', 'LUX_COEFC', 'LUX_COEFD', 'SENSOR_ADDRESS', 'ADDR'):
    v = getattr(tsl2591, n)
    out('const2', n, type(v).__name__, bits(v) if type(v) is float else v)
bus = SimTsl2591()
bus.log = []
waits = []
s = tsl2591.Tsl2591('lux-1', tsl2591.INTEGRATIONTIME_300MS, tsl2591.GAIN_HIGH,
                    i2c=bus, sleep_ms=waits.append)
out('sensor_id', s.sensor_id)
out('init_log', fmt(bus.log))
out('after_init', bus.regs[0], bus.regs[1], waits)
bus.log = []
bus.set_channels(1000, 300)
out('full_ir', s.get_full_luminosity())
out('sample_log', fmt(bus.log))
out('lum', s.get_luminosity(tsl2591.FULLSPECTRUM), s.get_luminosity(tsl2591.INFRARED),
    s.get_luminosity(tsl2591.VISIBLE), s.get_luminosity(7))
s.set_timing(tsl2591.INTEGRATIONTIME_600MS)
s.set_gain(tsl2591.GAIN_LOW)
del waits[:]
s.sample()
out('wait600', waits, bus.regs[1])
out('enable_disable', [s.enable(), bus.regs[0], s.disable(), bus.regs[0]])
# Default sleep: the simulator's no_wait skips it; without it time.sleep_ms runs.
import time
t = time.ticks_ms(); s2 = tsl2591.Tsl2591('x', i2c=bus); s2.sample()
out('no_wait_ms', time.ticks_diff(time.ticks_ms(), t))
bus.no_wait = False
t = time.ticks_ms(); s3 = tsl2591.Tsl2591('x', i2c=bus); s3.sample()
out('sleep_ms', time.ticks_diff(time.ticks_ms(), t))
"""


def test_api_constants_and_traffic(impl):
    _, paths = impl
    check_api(mpyrun.run_json(API, paths))


def check_api(out):
    """The API table's output, checked (here and on the ESP8266 runtime:
    mpy-native/esp8266-sim/tests/test_tsl2591_esp8266.py)."""
    # One value per name, or the list of values when there are several.
    rows = {r[0]: r[1] if len(r) == 2 else r[1:] for r in out if r[0] != "const"}
    consts = {r[1]: r[2] for r in out if r[0] == "const"}
    assert consts == {
        "INTEGRATIONTIME_100MS": 0, "INTEGRATIONTIME_200MS": 1,
        "INTEGRATIONTIME_300MS": 2, "INTEGRATIONTIME_400MS": 3,
        "INTEGRATIONTIME_500MS": 4, "INTEGRATIONTIME_600MS": 5,
        "GAIN_LOW": 0x00, "GAIN_MED": 0x10, "GAIN_HIGH": 0x20, "GAIN_MAX": 0x30,
        "VISIBLE": 2, "INFRARED": 1, "FULLSPECTRUM": 0,
    }
    # The float constants to the port's precision (the native module's are made at build time
    # on the ESP8266: 30-bit immediates, 2**-21 relative).
    consts2 = {r[1]: r[2:] for r in out if r[0] == "const2"}
    assert consts2["SENSOR_ADDRESS"] == consts2["ADDR"] == ["int", 0x29]
    for n, v in (("LUX_DF", 408.0), ("LUX_COEFB", 1.64), ("LUX_COEFC", 0.59), ("LUX_COEFD", 0.86)):
        kind, b = consts2[n]
        assert kind == "float" and abs(from_bits(b) - v) <= 2.0 ** -20 * v, (n, consts2[n])
    assert rows["sensor_id"] == "lux-1"
    # Construction: ID read from 0x12 (command 0xB2), one CONTROL write, power off.
    assert rows["init_log"] == [
        ["readfrom_mem_into", 0x29, 0xB2, [0x50]],
        ["writeto", 0x29, [0xA1, 0x22]],
        ["writeto", 0x29, [0xA0, 0x00]],
    ]
    assert rows["after_init"] == [0, 0x22, []]
    assert rows["full_ir"] == [1000, 300]
    # A sample: enable, one 5-byte read from STATUS (0xB3), disable.
    assert rows["sample_log"] == [
        ["writeto", 0x29, [0xA0, 0x13]],
        ["readfrom_mem_into", 0x29, 0xB3, [0x01, 0xE8, 0x03, 0x2C, 0x01]],
        ["writeto", 0x29, [0xA0, 0x00]],
    ]
    assert rows["lum"] == [1000, 300, 700, 0]
    assert rows["wait600"] == [[660], 0x05]
    assert rows["enable_disable"] == [None, 0x13, None, 0x00]
    # The sim's no_wait skips the sleep; sleeping takes at least 110 ms (of
    # the unix port's clock, or of the ESP8266 model's, which sleep advances).
    assert rows["no_wait_ms"] < 100
    assert rows["sleep_ms"] >= 110


# -- faults --------------------------------------------------------------------

FAULTS = PRELUDE + """
def make(**kw):
    return tsl2591.Tsl2591('f', **kw)

bus = SimTsl2591(); bus.present = False
attempt('absent', lambda: make(i2c=bus))
bus = SimTsl2591(); bus.fail_bus = True
attempt('bus_error', lambda: make(i2c=bus))
bus = SimTsl2591(device_id=0x44)
attempt('wrong_id', lambda: make(i2c=bus))
bus = SimTsl2591()
attempt('other_addr', lambda: make(i2c=bus, addr=0x28))
attempt('no_machine_i2c', lambda: make())
attempt('bad_integration', lambda: make(i2c=bus, integration=6))
attempt('bad_gain', lambda: make(i2c=bus, gain=0x40))

bus = SimTsl2591()
waits = []
s = make(i2c=bus, sleep_ms=waits.append)
bus.set_channels(500, 100)
attempt('set_bad_timing', lambda: s.set_timing(9))
attempt('set_bad_gain', lambda: s.set_gain(0x11))
out('settings_kept', s.integration_time, s.gain, bus.regs[1])
bus.fail_bus = True
attempt('sample_bus_error', s.sample)
attempt('set_gain_bus_error', lambda: s.set_gain(tsl2591.GAIN_MED))
out('gain_kept', s.gain)
bus.fail_bus = False
bus.present = False
attempt('sample_absent', s.sample)
bus.present = True
attempt('sample_recovers', s.get_full_luminosity)
# AVALID late: polled; never: ETIMEDOUT, sensor powered down afterwards.
bus.not_ready_reads = 3
del waits[:]
attempt('avalid_late', s.get_full_luminosity)
out('avalid_late_waits', waits, bus.regs[0])
bus.not_ready_reads = 1000
del waits[:]
attempt('avalid_never', s.get_full_luminosity)
out('avalid_never_waits', len(waits), waits[0], sum(waits[1:]), bus.regs[0])
"""


def test_faults_raise_clear_oserrors(impl):
    _, paths = impl
    rows = check_faults(mpyrun.run_json(FAULTS, paths))
    oserror(rows, "no_machine_i2c", errno.ENODEV, "machine.I2C", "i2c=")


def oserror(rows, name, code, *texts):
    kind, got_code, msg = rows[name]
    assert kind == "OSError", rows[name]
    assert got_code == code, rows[name]
    for t in texts:
        assert t in msg, (t, msg)


def check_faults(out):
    """The FAULTS table's output, checked but for "no_machine_i2c" (a port
    without a machine module fails there its own way); returns the rows.
    Also run on the ESP8266 runtime (test_tsl2591_esp8266.py)."""
    rows = {r[0]: r[1:] for r in out}
    oserror(rows, "absent", errno.ENODEV, "TSL2591 not found at 0x29", "ENODEV")
    oserror(rows, "bus_error", errno.EIO, "TSL2591 not found at 0x29", "EIO")
    oserror(rows, "wrong_id", errno.ENODEV, "TSL2591 not found at 0x29", "0x44")
    oserror(rows, "other_addr", errno.ENODEV, "TSL2591 not found at 0x28")
    for name in ("bad_integration", "bad_gain", "set_bad_timing", "set_bad_gain"):
        assert rows[name][0] == "ValueError", rows[name]
    assert rows["settings_kept"] == [0, 0, 0]
    oserror(rows, "sample_bus_error", errno.EIO, "TSL2591 at 0x29", "EIO")
    oserror(rows, "set_gain_bus_error", errno.EIO, "TSL2591 at 0x29")
    assert rows["gain_kept"] == [0]
    oserror(rows, "sample_absent", errno.ENODEV, "TSL2591 at 0x29", "ENODEV")
    assert rows["sample_recovers"] == ["ok", None, "(500, 100)"]
    assert rows["avalid_late"] == ["ok", None, "(500, 100)"]
    assert rows["avalid_late_waits"] == [[110, 5, 5, 5], 0]
    oserror(rows, "avalid_never", errno.ETIMEDOUT, "TSL2591 at 0x29", "no valid reading")
    assert rows["avalid_never_waits"] == [21, 110, 100, 0]
    return rows


# -- the simulator itself --------------------------------------------------------

# Runs both under CPython (imported directly) and under MicroPython.
SIM_CHECKS = r'''
import errno
from sim_tsl2591 import SimTsl2591

def expect_oserror(code, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        assert e.args[0] == code, e.args
        return
    raise AssertionError('no OSError')

def check_scan_and_id():
    bus = SimTsl2591()
    assert bus.scan() == [0x29]
    assert bus.readfrom_mem(0x29, 0xB2, 1) == b'\x50'
    # 0x0A (the tutorial's "ID") is the NPAIHTL threshold byte: 0 after reset.
    assert bus.readfrom_mem(0x29, 0xAA, 1) == b'\x00'
    bus.writeto(0x29, b'\xb2\x00')          # ID is read-only
    assert bus.readfrom_mem(0x29, 0xB2, 1) == b'\x50'

def check_control_and_enable():
    bus = SimTsl2591()
    assert bus.writeto(0x29, bytearray([0xA1, 0x25])) == 2
    assert bus.regs[1] == 0x25 and bus.integration == 5 and bus.gain == 0x20
    bus.writeto_mem(0x29, 0xA0, b'\x13')
    assert bus.regs[0] == 0x13 and bus.enabled
    bus.writeto(0x29, b'\xa1\x80')          # SRESET
    assert bus.regs[0] == 0 and bus.regs[1] == 0

def check_channels_little_endian_auto_increment():
    bus = SimTsl2591()
    bus.set_channels(0x1234, 0xABCD)
    bus.writeto(0x29, b'\xa0\x03')
    buf = bytearray(4)
    bus.readfrom_mem_into(0x29, 0xB4, buf)
    assert buf == b'\x34\x12\xcd\xab', buf
    assert bus.readfrom_mem(0x29, 0xB3, 1)[0] & 1   # AVALID
    # The pointer persists: a plain read continues from where it was set.
    bus.writeto(0x29, b'\xb6')
    assert bus.readfrom(0x29, 2) == b'\xcd\xab'

def check_avalid_and_stale_data():
    bus = SimTsl2591()
    bus.set_channels(10, 20)
    assert bus.readfrom_mem(0x29, 0xB3, 5) == b'\x00\x00\x00\x00\x00'  # off
    bus.not_ready_reads = 2
    bus.writeto(0x29, b'\xa0\x03')
    assert bus.readfrom_mem(0x29, 0xB3, 1) == b'\x00'
    assert bus.readfrom_mem(0x29, 0xB3, 1) == b'\x00'
    assert bus.readfrom_mem(0x29, 0xB3, 5) == b'\x01\x0a\x00\x14\x00'
    bus.writeto(0x29, b'\xa0\x00')
    bus.set_channels(30, 40)
    # Powered down: AVALID clear, the data registers keep the last reading.
    assert bus.readfrom_mem(0x29, 0xB3, 5) == b'\x00\x0a\x00\x14\x00'

def check_faults():
    bus = SimTsl2591()
    bus.fail_bus = True
    assert bus.scan() == []
    expect_oserror(errno.EIO, bus.writeto, 0x29, b'\xa0\x00')
    expect_oserror(errno.EIO, bus.readfrom_mem_into, 0x29, 0xB2, bytearray(1))
    bus.fail_bus = False
    bus.present = False
    assert bus.scan() == []
    expect_oserror(errno.ENODEV, bus.writeto, 0x29, b'\xa0\x00')
    expect_oserror(errno.ENODEV, bus.readfrom, 0x29, 1)
    expect_oserror(errno.ENODEV, bus.readfrom_mem, 0x29, 0xB2, 1)
    expect_oserror(errno.ENODEV, bus.writeto_mem, 0x29, 0xA0, b'\x00')
    bus.present = True
    expect_oserror(errno.ENODEV, bus.writeto, 0x28, b'\xa0\x00')   # nobody at 0x28
    assert errno.EIO == 5 and errno.ENODEV == 19

def check_strict_protocol():
    bus = SimTsl2591()
    for bad in (b'\x12\x00', b'\x80\x00', b''):
        try:
            bus.writeto(0x29, bad)
        except ValueError:
            pass
        else:
            raise AssertionError('accepted %r' % bad)
    bus.strict = False
    bus.writeto(0x29, b'\x12\x00')
    bus.writeto(0x29, b'\xe7')              # special function: clear interrupts
    try:
        bus.set_channels(70000, 0)
    except ValueError:
        pass
    else:
        raise AssertionError('accepted 70000')

CHECKS = [check_scan_and_id, check_control_and_enable,
          check_channels_little_endian_auto_increment,
          check_avalid_and_stale_data, check_faults, check_strict_protocol]
'''

SIM_CHECK_NAMES = [
    "check_scan_and_id", "check_control_and_enable",
    "check_channels_little_endian_auto_increment",
    "check_avalid_and_stale_data", "check_faults", "check_strict_protocol",
]


@pytest.fixture(scope="module")
def sim_cpython():
    sys.path.insert(0, str(mpyrun.SIM_DIR))
    try:
        ns = {}
        exec(SIM_CHECKS, ns)
        yield ns
    finally:
        sys.path.remove(str(mpyrun.SIM_DIR))


@pytest.mark.parametrize("check", SIM_CHECK_NAMES)
def test_sim_register_map_cpython(sim_cpython, check):
    sim_cpython[check]()


def test_sim_register_map_micropython():
    code = SIM_CHECKS + """
for c in CHECKS:
    c()
    print('JSON', '"%s"' % c.__name__)
"""
    done = mpyrun.run_json(code, [mpyrun.SIM_DIR])
    assert done == SIM_CHECK_NAMES


def test_sim_is_allocation_light_on_the_hot_path():
    """The driver's per-sample bus traffic allocates nothing in the simulator."""
    code = """
import gc, micropython
from sim_tsl2591 import SimTsl2591
bus = SimTsl2591()
bus.set_channels(611, 284)
on = bytearray(b'\\xa0\\x13'); off = bytearray(b'\\xa0\\x00'); buf = bytearray(5)
def cycles(n):
    for _ in range(n):
        bus.writeto(0x29, on)
        bus.readfrom_mem_into(0x29, 0xB3, buf)
        bus.writeto(0x29, off)
cycles(1)
gc.collect()
micropython.heap_lock()
try:
    cycles(100)
finally:
    micropython.heap_unlock()
print('JSON', list(buf))
"""
    assert mpyrun.run_json(code, [mpyrun.SIM_DIR]) == [[1, 0x63, 0x02, 0x1C, 0x01]]


def test_mpyrun_reports_failures():
    with pytest.raises(mpyrun.MpyError) as exc:
        mpyrun.run("print('before')\nraise ValueError('boom')\n")
    # MicroPython prints the traceback to stdout.
    assert "ValueError: boom" in exc.value.stdout + exc.value.stderr
    assert "before" in exc.value.stdout
    # A run longer than its timeout is stopped and says so.
    with pytest.raises(mpyrun.MpyError) as exc:
        mpyrun.run("import time\nprint('started')\ntime.sleep(60)\n", timeout=0.5)
    assert str(exc.value).startswith("micropython timed out after 0.5s\n") and exc.value.returncode is None
