"""What the guide says about the ESP8266's heap, checked on the ESP8266-configured
MicroPython under QEMU (mpy-native/esp8266-sim) with the files `make deploy` copies:
tools/esp8266_heap.py runs boot.py and `import client` for each way of copying the app.
Run by `make test-deploy-esp8266` (part of `make test`), after the simulator is built."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import esp8266_heap  # noqa: E402


def test_deploy_variants_on_the_esp8266_heap():
    rows = {r[0]: r for r in esp8266_heap.measure()}
    py, py_native, fallback, native, no_loc = (rows[v[0]] for v in esp8266_heap.VARIANTS)
    # All as .py sources, the tutorial's way: the board compiles each module into its own
    # 38 KiB heap, and the pure-Python MQTT writer alone does not fit.
    assert not py[1] and "MemoryError: memory allocation failed" in py[4], py[5]
    # The scripts as .py sources copied by hand with the native modules: the board compiles
    # them (one module at a time, each in a collected heap) and the app loads, holding about
    # what the same app as bytecode holds (the compiled code is the same).
    assert py_native[1] and py_native[4] == "mqtt_writer tsl2591", py_native[5]
    assert "native code goes to flash 0xe0000..0x100000" in py_native[5]
    assert py_native[2] < fallback[2]
    # As .mpy bytecode (make deploy) the whole app loads, with room to spare.
    assert fallback[1] and fallback[4] == "mqtt_writer tsl2591", fallback[5]
    # The native modules load once boot.py has given them a flash region ...
    assert native[1] and native[4] == "mqtt_writer tsl2591", native[5]
    assert "native code goes to flash 0xe0000..0x100000" in native[5]
    assert native[2] < fallback[2]
    # ... and without one, client.py says why and uses the fallbacks beside them.
    assert no_loc[1] and no_loc[4] == "mqtt_writer_fallback tsl2591_fallback", no_loc[5]
    assert ("mqtt_writer: native module not used (MemoryError: memory allocation failed, "
            "allocating") in no_loc[5]
    assert "bytes for native code); using mqtt_writer_fallback" in no_loc[5]
    for r in (py_native, fallback, native, no_loc):
        assert ("client: OSError: [Errno 111] ECONNREFUSED: MQTT broker 192.168.1.10:1883 "
                "refused connection; giving up after 1 attempts (RETRY_LIMIT)") in r[5]
