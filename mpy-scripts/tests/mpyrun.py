"""Run snippets on the real MicroPython unix binary (helpers for the tests).

Plain functions, no pytest dependency, so tests and benchmarks can share them:

* ``find_micropython()``: env ``MICROPYTHON``, else ``<repo>/.venv/bin/micropython``,
  else a ``micropython`` next to the running Python (its venv), else
  ``micropython`` on PATH.
* ``run(code, paths)``: run ``code`` with ``paths`` first on ``sys.path``;
  returns stdout, raises ``MpyError`` (with stdout/stderr) on a non-zero exit.
* ``run_json(code, paths)``: the same, parsing every stdout line that starts
  with ``JSON `` as JSON; returns the list of values.
* ``IMPL_DIRS`` / ``TSL2591_IMPLS``: where each implementation of the device
  modules lives, and which ones the tsl2591 tests run on. ``TSL2591_IMPLS``
  defaults to ``["fallback", "native"]`` (native = build/x64, `make natmods`); the env var ``TSL2591_IMPLS=fallback``
  overrides it (the lead flips the default once ``build/x64/tsl2591.mpy`` is
  built in CI).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SCRIPTS = TESTS.parent
REPO = SCRIPTS.parent
SIM_DIR = SCRIPTS / "sim"

IMPL_DIRS = {
    "fallback": SCRIPTS / "fallback",
    "native": REPO / "build" / "x64",
}
TSL2591_IMPLS = [
    name.strip()
    for name in os.environ.get("TSL2591_IMPLS", "fallback,native").split(",")
    if name.strip()
]


class MpyError(AssertionError):
    """A MicroPython run that exited non-zero (or timed out)."""

    def __init__(self, message, stdout="", stderr="", returncode=None):
        super().__init__(
            "%s\n--- stdout\n%s\n--- stderr\n%s" % (message, stdout, stderr))
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = returncode


def find_micropython():
    env = os.environ.get("MICROPYTHON")
    if env:
        return env
    for cand in (REPO / ".venv" / "bin" / "micropython",
                 Path(sys.executable).parent / "micropython"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    found = shutil.which("micropython")
    if found:
        return found
    raise RuntimeError(
        "MicroPython unix binary not found: set MICROPYTHON, or install it "
        "at .venv/bin/micropython or on PATH")


def mpy_env(paths):
    """Environment whose MICROPYPATH puts ``paths`` first (frozen modules kept)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join([str(p) for p in paths] + [".frozen"])
    return env


def run(code, paths=(), timeout=30, micropython=None, heap=None):
    """Run ``code`` on MicroPython; return its stdout or raise ``MpyError``.

    ``heap`` (e.g. ``"256k"``) sets the heap size with ``-X heapsize``.
    """
    binary = micropython or find_micropython()
    with tempfile.TemporaryDirectory(prefix="mpyrun-") as tmp:
        script = Path(tmp) / "snippet.py"
        script.write_text(code)
        args = [binary]
        if heap:
            args += ["-X", "heapsize=" + heap]
        args.append(str(script))
        try:
            proc = subprocess.run(args, cwd=tmp, env=mpy_env(paths),
                                  capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise MpyError("micropython timed out after %ss" % timeout,
                           e.stdout or "", e.stderr or "")
    if proc.returncode != 0:
        raise MpyError("micropython exited %d" % proc.returncode,
                       proc.stdout, proc.stderr, proc.returncode)
    return proc.stdout


def run_json(code, paths=(), **kw):
    """Run ``code``; return the values of its ``JSON <value>`` output lines."""
    out = run(code, paths, **kw)
    return [json.loads(line[5:]) for line in out.splitlines()
            if line.startswith("JSON ")]
