"""Fixtures for the native mqtt_writer tests: the shared ones from mpy-scripts/tests/conftest.py
(real mosquitto broker on a free loopback port, mosquitto_sub, MicroPython runners), plus
``native_dir``, the directory holding the built ``mqtt_writer.mpy``."""

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
SHARED = REPO / "mpy-scripts" / "tests"
sys.path.insert(0, str(SHARED))

# Load the shared conftest under its own name (two files called conftest.py cannot both be
# the module "conftest") and re-export its fixtures.
_spec = importlib.util.spec_from_file_location("mpy_scripts_conftest", SHARED / "conftest.py")
shared = importlib.util.module_from_spec(_spec)
sys.modules["mpy_scripts_conftest"] = shared
_spec.loader.exec_module(shared)

# Everything public: its fixtures (broker, mosquitto_sub, run_mpy, mpy_process, ...) and its
# helpers. pytest imports each directory's conftest.py as the module "conftest", so when both
# directories are collected in one session, tests that do `from conftest import
# MosquittoBroker` get whichever came last: this one must offer the same names.
globals().update({k: v for k, v in vars(shared).items() if not k.startswith("_")})

NATIVE_DIR = REPO / "build" / "x64"


@pytest.fixture(scope="session")
def native_dir():
    if not (NATIVE_DIR / "mqtt_writer.mpy").exists():
        pytest.fail("build/x64/mqtt_writer.mpy missing: run `make natmods`")
    return NATIVE_DIR
