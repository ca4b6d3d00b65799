"""Bad input to the native `tsl2591` module (build/x64/tsl2591.mpy) in the real runtime: clear
Python errors, never a Rust panic or a crash. (The shared behaviour tables for the native module
and the pure-Python fallback are in mpy-scripts/tests/test_tsl2591_fallback.py.)"""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mpy-scripts" / "tests"))
import mpyrun  # noqa: E402

PATHS = [REPO / "build" / "x64", REPO / "mpy-scripts" / "sim"]


def run(code):
    assert (REPO / "build" / "x64" / "tsl2591.mpy").exists(), "run `make natmods` first"
    return mpyrun.run(code, PATHS, timeout=60)  # MpyError (an AssertionError) if it fails


def test_addr_must_be_a_7_bit_address():
    out = run(
        "import tsl2591, sim_tsl2591\n"
        "for a in (200, -1, 128):\n"
        "    try:\n"
        "        tsl2591.Tsl2591('x', i2c=sim_tsl2591.SimTsl2591(), addr=a)\n"
        "        print('accepted', a)\n"
        "    except ValueError as e:\n"
        "        print('ValueError', e)\n"
    )
    assert out.count("ValueError") == 3, out
    assert "addr must be a 7-bit I2C address 0..127, got 200" in out


def test_a_bus_that_resizes_the_buffer_is_a_bus_error_not_a_panic():
    out = run(
        "import tsl2591, sim_tsl2591\n"
        "class Bad(sim_tsl2591.SimTsl2591):\n"
        "    def readfrom_mem_into(self, addr, reg, buf):\n"
        "        super().readfrom_mem_into(addr, reg, buf)\n"
        "        buf.extend(b'xx')\n"
        "try:\n"
        "    tsl2591.Tsl2591('x', i2c=Bad())\n"
        "except OSError as e:\n"
        "    print('OSError', e.errno, e)\n"
        "except RuntimeError as e:\n"
        "    print('PANIC', e)\n"
    )
    assert "OSError 5" in out, out
    assert "returned 3 bytes, expected 1" in out, out
    assert "PANIC" not in out


def test_sensor_usable_after_a_method_raised():
    # A sample() that fails (the bus raising, and MemoryError at heap exhaustion) leaves the
    # object usable: the next sample() works instead of being refused as re-entrant.
    out = run(
        "import gc, tsl2591, sim_tsl2591\n"
        "class Flaky(sim_tsl2591.SimTsl2591):\n"
        "    fail = False\n"
        "    def readfrom_mem_into(self, addr, reg, buf):\n"
        "        if self.fail:\n"
        "            raise OSError(5)\n"
        "        super().readfrom_mem_into(addr, reg, buf)\n"
        "def exhaust_heap():\n"
        "    hog = None\n"
        "    for grow in (lambda h: (h, bytearray(4096)), lambda h: (h, bytearray(64)), lambda h: (h,)):\n"
        "        while True:\n"
        "            try:\n"
        "                hog = grow(hog)\n"
        "            except MemoryError:\n"
        "                break\n"
        "    return hog\n"
        "def at_heap_exhaustion(fn):\n"
        "    hog = exhaust_heap()\n"
        "    try:\n"
        "        while True:\n"
        "            hog = (hog,)\n"
        "    except MemoryError:\n"
        "        pass\n"
        "    try:\n"
        "        fn()\n"
        "        raised = None\n"
        "    except Exception as e:\n"
        "        raised = e\n"
        "    hog = None\n"
        "    gc.collect()\n"
        "    return raised\n"
        "bus = Flaky()\n"
        "t = tsl2591.Tsl2591('x', i2c=bus)\n"
        "first = t.sample()\n"
        "bus.fail = True\n"
        "try:\n"
        "    t.sample()\n"
        "except OSError as e:\n"
        "    print('bus error', e.errno)\n"
        "bus.fail = False\n"
        "print('after bus error', t.sample() == first)\n"
        "print('at exhaustion', type(at_heap_exhaustion(t.sample)).__name__)\n"
        "print('after MemoryError', t.sample() == first)\n"
    )
    assert "bus error 5" in out, out
    assert "after bus error True" in out, out
    assert "at exhaustion MemoryError" in out, out
    assert "after MemoryError True" in out, out
