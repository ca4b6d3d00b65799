"""The `features` example (build/xtensa/features.mpy) with the x64 checks of
mpy-native/examples/features/test_features.py, on the simulated ESP8266, as far as they fit:
that script assumes x64's 63-bit small ints, and stops at its first check of a 2**40 integer
(OverflowError from the module's int conversion: 1 << 40 is a long int on this 31-bit port).
Every check before that line must pass."""

import re

from conftest import NATIVE_FLASH, ROOT, as_mpy

CHECKS = ROOT / "mpy-native" / "examples" / "features" / "test_features.py"


def test_features_checks_as_far_as_31_bit_ints_allow(esp, xtensa_mpy):
    src = CHECKS.read_text().splitlines()
    first_64bit = next(i for i, line in enumerate(src, 1) if "1 << 40" in line)
    r = esp(NATIVE_FLASH + "import features\nimport test_features\n",
            files=[xtensa_mpy("features"), as_mpy(CHECKS)])
    assert "FAIL" not in r.stdout, r.stdout
    if r.returncode == 0:      # a version of the checks that fits 31-bit ints
        assert "features: all checks passed" in r.stdout
        return
    assert "OverflowError" in r.stderr, r.stderr
    stop = [int(n) for n in re.findall(r'File "test_features.py", line (\d+)', r.stderr)]
    assert stop and stop[-1] == first_64bit, (r.stderr, first_64bit)
    ran = [l for l in src[:first_64bit - 1] if l.startswith(("check(", "raises("))]
    assert len(ran) >= 10, ran   # the checks before it all ran
