"""The tsl2591 tables of the x64 tests (mpy-scripts/tests/test_tsl2591_fallback.py: lux over
every integration time, gain and count pair; the API and bus traffic; faults as OSError), run
on the ESP8266-configured MicroPython under QEMU, for the native module
(build/xtensa/tsl2591.mpy) and the pure-Python fallback (as .mpy bytecode, with the simulated
bus, as `make deploy` would put them on a board).

Precision on this port: floats are single precision with the two low mantissa bits dropped
(MICROPY_OBJ_REPR_C: 30-bit immediate floats, 2**-21 relative). The lux formula subtracts two
terms, so the error is bounded relative to the size of those terms, not of the result: here
|lux - exact| <= 2**-20 * (ch0 + 1.64 * ch1) / cpl, with `exact` the tutorial's formula
in doubles (CPython).
"""

import pytest

from conftest import run_json, x64_tables

tables = x64_tables("test_tsl2591_fallback")

# Two units of the port's 2**-21 float precision (the worst measured over the table: 0.70
# units, the same for native and fallback).
LUX_TERMS_TOL = 2.0 ** -20



@pytest.fixture(scope="module")
def lux_rows(tsl_impl, esp):
    name, files = tsl_impl
    # The whole table as one list (264 cases, ~13 KB parsed) does not fit beside the modules
    # in 38 KiB: one run per integration time.
    rows = []
    for it, _ in tables.ITS:
        part = [c for c in tables.CASES if c[0] == it]
        code = "CASES = %r\n" % tables.json.dumps(part) + tables.LUX_TABLE
        rows += run_json(code, files, first=["tsl2591"])
    assert len(rows) == len(tables.CASES)
    return name, {tuple(r[:4]): r[4:] for r in rows}


@pytest.mark.parametrize("it,gain,ch0,ch1", tables.CASES)
def test_lux_matches_reference_to_the_ports_precision(lux_rows, it, gain, ch0, ch1):
    _, rows = lux_rows
    kind, hexbits, waits, enable, control, full_ir = rows[(it, gain, ch0, ch1)]
    atime, again = dict(tables.ITS)[it], dict(tables.GAINS)[gain]
    expected = tables.reference_lux(atime, again, ch0, ch1)
    got = tables.from_bits(hexbits)
    assert kind == "float"
    cpl = atime * again / 408.0
    terms = (ch0 + 1.64 * ch1) / cpl
    assert abs(got - expected) <= LUX_TERMS_TOL * terms, (got, expected)
    if ch0 == 0xFFFF or ch1 == 0xFFFF or (ch0, ch1) == (0, 0):
        assert got == 0.0
    tables.check_lux_traffic(waits, enable, control, full_ir, it, gain, ch0, ch1)


def test_tutorial_counts(lux_rows):
    _, rows = lux_rows
    assert abs(tables.from_bits(rows[(0, 0, 611, 284)][1]) - 592.5792) < 1e-3
    assert tables.from_bits(rows[(0, 0, 0, 1)][1]) < 0.0


def test_api_constants_and_traffic(tsl_impl, esp):
    # The x64 test's checks, unchanged: the port's clock is advanced by sleep_ms
    # (esp8266-sim's time module) and not by the simulator's no_wait.
    _, files = tsl_impl
    tables.check_api(run_json(tables.API, files, first=["tsl2591"]))


def test_faults_raise_oserrors(tsl_impl, esp):
    _, files = tsl_impl
    rows = tables.check_faults(run_json(tables.FAULTS, files, first=["tsl2591"]))
    # The x64 case "no machine.I2C" (no i2c= given): this port has machine.I2C, as a board
    # has, with the firmware's simulated TSL2591 on it (port/modmachine.c), so the sensor is
    # found there (test_machine_i2c_esp8266.py checks that bus in detail).
    assert rows["no_machine_i2c"][:2] == ["ok", None], rows["no_machine_i2c"]
