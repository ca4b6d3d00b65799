"""The `features` example module (Rust, build/x64/features.mpy) in the real MicroPython runtime.

The checks themselves are MicroPython code (mpy-native/examples/features/test_features.py),
so they run inside the runtime that loads the module; this wrapper runs it and reports.
"""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "x64"
sys.path.insert(0, str(REPO / "mpy-scripts" / "tests"))
from mpyrun import find_micropython  # noqa: E402

MICROPYTHON = str(find_micropython())


def run_mpy(code, timeout=120):
    return subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO)


def test_features_module_in_real_runtime():
    assert (BUILD / "features.mpy").exists(), "build/x64/features.mpy missing: run `make natmods`"
    r = run_mpy(
        "import sys; sys.path.insert(0, %r); sys.path.insert(0, %r); import test_features"
        % (str(BUILD), str(REPO / "mpy-native" / "examples" / "features"))
    )
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "features: all checks passed" in r.stdout


def test_module_is_loaded_from_mpy_not_source():
    r = run_mpy("import sys; sys.path.insert(0, %r); import features; print(features.__file__)" % str(BUILD))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("features.mpy")


def test_inspect_refuses_truncated_mpy(tmp_path):
    # The runtime's loader does not validate a .mpy (a truncated one can hang it), so the
    # linker's inspect mode is the check to run on a file of unknown origin.
    data = (BUILD / "features.mpy").read_bytes()
    cut = tmp_path / "cut.mpy"
    cut.write_bytes(data[: len(data) // 2])
    mpy_ld = REPO / "target" / "release" / "mpy-ld"
    r = subprocess.run([str(mpy_ld), "inspect", str(cut)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "error" in r.stderr.lower(), r.stderr
    ok = subprocess.run([str(mpy_ld), "inspect", str(BUILD / "features.mpy")], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "arch x64" in ok.stdout
