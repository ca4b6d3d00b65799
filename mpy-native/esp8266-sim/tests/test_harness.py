"""The harness checks itself: the port's float format, the object model and the .mpy version,
native code compiled by mpy-cross -march=xtensa loaded through MicroPython's own loader and
committed to the executable region, the region's MemoryError, the heap limit, the exit codes."""

import subprocess

import esp8266_sim
from conftest import as_mpy


def test_float_format_is_the_esp8266_ports(esp):
    r = esp("print(1/3)\nprint(repr(284.1312))\nprint(2**40)", check=True)
    assert r.stdout.splitlines() == ["0.3333333", "284.1312", "1099511627776"]


def test_object_model_and_mpy_version(esp):
    # REPR_C: floats are immediate (no heap), small ints are 31-bit; .mpy 6.3 for xtensa (arch 9).
    r = esp("import sys, gc\n"
            "print(hex(sys.implementation._mpy), sys.platform, sys.maxsize)\n"
            "def f(x):\n"
            "    a = gc.mem_alloc(); y = x * 3.25; b = gc.mem_alloc()\n"
            "    return b - a, y\n"
            "f(1.5)\n"
            "print(*f(1.5))\n", check=True)
    assert r.stdout.splitlines() == ["0x2706 esp8266 2147483647", "0 4.875"]


def compile_native(tmp_path):
    src = tmp_path / "natcheck.py"
    src.write_text(
        "import micropython\n"
        "@micropython.native\n"
        "def tri(n):\n"
        "    s = 0\n"
        "    for i in range(n):\n"
        "        s += i\n"
        "    return s\n"
        "@micropython.viper\n"
        "def lin(x: int) -> int:\n"
        "    return x * 7 + 1\n")
    return as_mpy(src)  # mpy-cross -march=xtensa


def test_mpy_cross_native_module_loads_and_runs(esp, tmp_path):
    mpy = compile_native(tmp_path)
    r = esp("import esp, natcheck\nprint(natcheck.tri(100), natcheck.lin(6))\n"
            "print(esp.native_code_used() > 0)", files=[mpy], check=True)
    assert r.stdout.splitlines() == ["4950 43", "True"]


def test_full_native_region_raises_the_ports_memoryerror(esp, tmp_path):
    mpy = compile_native(tmp_path)
    r = esp("import natcheck", files=[mpy], exec_size=16)
    assert r.returncode == 1
    assert "MemoryError: memory allocation failed, allocating" in r.stderr
    assert "bytes for native code" in r.stderr


def test_flash_region_from_set_native_code_location(esp, tmp_path):
    mpy = compile_native(tmp_path)
    r = esp("import esp\nesp.set_native_code_location(0xE0000, 0x20000)\n"
            "import natcheck\nprint(natcheck.tri(10), esp.native_code_used() % 4)",
            files=[mpy], exec_size=16, check=True)
    assert r.stdout.splitlines() == ["45 0"]
    r = esp("import esp\nesp.set_native_code_location(0xF0000, 0x20000)", check=False)
    assert "ValueError: flash location must be below 1MByte" in r.stderr


def test_heap_limit_is_enforced(esp):
    code = "import gc\ngc.collect()\nprint(gc.mem_free() + gc.mem_alloc())\nb = bytearray(%d)"
    r = esp(code % 20000, heap=16384)
    assert r.returncode == 1 and "MemoryError" in r.stderr
    assert int(r.stdout.split()[0]) < 16384
    assert esp(code % 20000, check=True).ok


def test_exit_codes_and_errors(esp):
    assert esp("import sys\nsys.exit(7)").returncode == 7
    r = esp("raise OSError(5)")
    assert r.returncode == 1 and "OSError: [Errno 5] EIO" in r.stderr
    r = esp("import no_such_module")
    assert r.returncode == 1 and "ImportError" in r.stderr


def test_gc_scans_callee_saved_registers_and_stack(esp):
    # Many collections while live objects sit in locals of nested calls: anything the GC
    # missed would be freed and reused, and the checksums would differ.
    r = esp("import gc\n"
            "def build(n):\n"
            "    return [str(i) * 3 for i in range(n)]\n"
            "def deep(d):\n"
            "    xs = build(20)\n"
            "    if d:\n"
            "        r = deep(d - 1)\n"
            "    else:\n"
            "        r = 0\n"
            "    gc.collect()\n"
            "    return r + sum(len(x) for x in xs) + len(''.join(xs))\n"
            "for _ in range(20):\n"
            "    t = deep(8)\n"
            "print(t)\n", check=True)
    # each of the 9 levels: 10 strings of 3 chars + 10 of 6 = 90, counted twice
    assert r.stdout.strip() == str(9 * 2 * 90)


def test_runner_command_line(tmp_path):
    import sys
    runner = [sys.executable, str(esp8266_sim.ROOT / "mpy-native/esp8266-sim/esp8266_sim.py")]
    script = tmp_path / "s.py"
    script.write_text("import sys\nprint(sys.argv)\nb = bytearray(12000)\n")
    r = subprocess.run(runner + [str(script), "a", "b"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "['a', 'b']"
    r = subprocess.run(runner + ["--smallest-heap", str(script)], capture_output=True, text=True)
    assert r.returncode == 0
    heap = int(r.stdout.split()[2])
    assert 12000 < heap < 38 * 1024
    r = subprocess.run(runner + ["-H", "100000", str(script)], capture_output=True, text=True)
    assert r.returncode == 2 and "heap must be between" in r.stderr
    r = subprocess.run(runner + [str(tmp_path / "missing.py")], capture_output=True, text=True)
    assert r.returncode == 2 and "no such script" in r.stderr


def test_stack_limit_raises_not_crashes(esp):
    # 8 KiB stack, checked: deep recursion is a RuntimeError, as on a board.
    r = esp("def f(n):\n    return f(n + 1) + 1\ntry:\n    f(0)\nexcept RuntimeError as e:\n"
            "    print('caught', e)\n", check=True)
    assert r.stdout.strip() == "caught maximum recursion depth exceeded"
