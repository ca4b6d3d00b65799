"""The `features` example (build/xtensa/features.mpy) with the x64 checks of
mpy-native/examples/features/test_features.py, on the simulated ESP8266, as far as they fit:
the checks are run from a copy without the top-level one-line checks that need x64's 63-bit
small ints (those with `1 << 40`: a long int on this 31-bit port, which the module's int
conversion refuses with OverflowError, as it should), and with the final heap churn scaled to
the 38 KiB heap (2,000 live 64-byte bytearrays, 160 KB, become 100). Everything else runs
unchanged.
One x64 expectation differs by design on xtensa: a Rust panic raises RuntimeError with the
fixed text "Rust panic" (the xtensa build has no core::fmt and aborts on panic, see
micropython-rt), not the panic's own message."""

from conftest import NATIVE_FLASH, ROOT, as_mpy

CHECKS = ROOT / "mpy-native" / "examples" / "features" / "test_features.py"


def test_features_checks_that_fit_31_bit_ints(esp, xtensa_mpy, tmp_path):
    lines = CHECKS.read_text().splitlines(keepends=True)
    dropped = [l for l in lines if "1 << 40" in l]
    assert dropped and all(l.startswith(("check(", "raises(")) and l.rstrip().endswith(")")
                           for l in dropped), dropped
    fit = tmp_path / "test_features.py"
    churn = [l for l in lines if "bytearray(64) for _ in range(2000)" in l]
    assert len(churn) == 1, churn
    fit.write_text("".join(l.replace("range(2000)", "range(100)") for l in lines if l not in dropped))
    r = esp(NATIVE_FLASH + "import features\nimport test_features\n",
            files=[xtensa_mpy("features"), as_mpy(fit)])
    fails = [l for l in r.stdout.splitlines() if l.startswith("FAIL ")]
    # The one check that differs by design (the xtensa build always has the fixed text), and
    # nothing else.
    assert len(fails) == 1 and fails[0].startswith("FAIL panic message 'Rust panic' lacks"), \
        r.stdout
    assert "features says hi" in r.stdout
    assert r.returncode == 1 and "FAILED: 1" in r.stdout, r
