"""Bad .mpy files on the simulated ESP8266 fail with a clear message, never silently: a .mpy
for another arch is refused by MicroPython's loader (ValueError), and a module whose first
relocation was corrupted (it adds the text base to the entry jump at text offset 0) crashes
the CPU on import, which the port reports with the exception cause and address (exit 6)."""

from conftest import native_mpy_layout

IMPORT = "import esp\nesp.set_native_code_location(0xE0000, 0x20000)\nimport tsl2591\nprint('imported')"


def test_wrong_arch_mpy_is_refused(esp, xtensa_mpy, tmp_path):
    data = bytearray(xtensa_mpy("tsl2591").read_bytes())
    assert data[2] == 0x27                      # xtensa, sub-version 3
    data[2] = 10 << 2 | 3                       # claim xtensawin (ESP32)
    bad = tmp_path / "tsl2591.mpy"
    bad.write_bytes(data)
    r = esp(IMPORT, files=[bad])
    assert r.returncode == 1
    assert "ValueError: incompatible .mpy arch" in r.stderr, r.stderr
    assert "imported" not in r.stdout


def test_corrupted_relocation_is_reported(esp, xtensa_mpy, tmp_path):
    data = bytearray(xtensa_mpy("tsl2591").read_bytes())
    _, at = native_mpy_layout(data)
    # First relocation replaced by: "patch text word 0, add the text base once".
    data[at:at + 2] = bytes([(0 << 1 | 1), 0 << 1 | 0])
    bad = tmp_path / "tsl2591.mpy"
    bad.write_bytes(data)
    r = esp(IMPORT, files=[bad])
    assert r.returncode == 6, r
    assert "esp8266-sim: CPU exception" in r.stderr and " at pc 0x" in r.stderr, r.stderr
    assert "imported" not in r.stdout
