"""The app on the ESP8266-configured MicroPython under QEMU, at the port's 38 KiB heap after
the modelled boot: each native module imported alone, and `import client` end to end (the
real boot.py, config.py, client.py, thingflow.py, thingflow_things.py, wifi.py; the simulated
TSL2591 behind the firmware's machine.I2C, as on a board, and a simulated broker socket), with
the scripts as .py (copied by hand, as in the tutorial: compiled on the device) and as .mpy
bytecode (as `make deploy` copies them). The config and expected lux come from the x64
client test (mpy-scripts/tests/test_client.py)."""

import binascii
import json

import pytest

from conftest import (BOARD, FALLBACK, SCRIPTS, SIM_TSL, XTENSA, as_mpy,
                      native_code_bytes, x64_tables)
import esp8266_sim

client_tables = x64_tables("test_client")
NATIVE = ["tsl2591", "mqtt_writer", "features"]
# The scripts client.py imports, in its order.
APP_SCRIPTS = ["thingflow.py", "thingflow_things.py", "wifi.py"]


@pytest.mark.parametrize("module", NATIVE)
def test_native_module_imports_alone_at_38k(esp, xtensa_mpy, module):
    r = esp("import esp, gc\nesp.set_native_code_location(0xE0000, 0x20000)\n"
            "import %s\ngc.collect()\nprint(gc.mem_free(), esp.native_code_used())" % module,
            files=[xtensa_mpy(module)], check=True)
    free, used = map(int, r.stdout.split())
    # The whole text went to the flash region, and the heap still has room.
    assert used == native_code_bytes(xtensa_mpy(module))
    assert free > 0
    print("%s: %d bytes of native code, %d bytes of heap free at 38 KiB" % (module, used, free))


@pytest.mark.parametrize("scripts_as", ["mpy", "py"])
def test_whole_app_imports_at_38k_in_client_order(esp, tmp_path, scripts_as):
    # client.py's imports: the native modules first (one large free block each), then the
    # scripts, the biggest first, each in a collected heap.
    cfg = tmp_path / "config.py"
    cfg.write_text((SCRIPTS / "config.py").read_text())
    scripts = [cfg] + [SCRIPTS / f for f in APP_SCRIPTS]
    if scripts_as == "mpy":
        scripts = [as_mpy(p) for p in scripts]
    r = esp("import esp, gc\nesp.set_native_code_location(0xE0000, 0x20000)\n"
            "import mqtt_writer, tsl2591, config\ngc.collect()\nimport thingflow\ngc.collect()\n"
            "import wifi\ngc.collect()\nprint(gc.mem_free(), esp.native_code_used())",
            files=[XTENSA / "mqtt_writer.mpy", XTENSA / "tsl2591.mpy"] + scripts, check=True)
    free, used = map(int, r.stdout.split())
    assert used == native_code_bytes(XTENSA / "mqtt_writer.mpy", XTENSA / "tsl2591.mpy")
    assert free > 0
    print("whole app, scripts as .%s: %d bytes of heap free at 38 KiB" % (scripts_as, free))


def app_files(tmp_path, scripts_as):
    cfg = tmp_path / "config.py"
    cfg.write_text(client_tables.CONFIG.format(port=1883, full=611, ir=284)
                   + "NATIVE_CODE_LOCATION = (0xE0000, 0x20000)\nRETRY_LIMIT = 1\n")
    scripts = [cfg, SCRIPTS / "boot.py", SCRIPTS / "client.py"] + [SCRIPTS / f for f in APP_SCRIPTS]
    if scripts_as == "mpy":
        scripts = [as_mpy(p) for p in scripts]
    fallbacks = []
    for m in ("tsl2591", "mqtt_writer"):
        fb = tmp_path / (m + "_fallback.py")
        fb.write_text((FALLBACK / (m + ".py")).read_text())
        fallbacks.append(as_mpy(fb))
    return (scripts + fallbacks + [XTENSA / "tsl2591.mpy", XTENSA / "mqtt_writer.mpy",
                                   as_mpy(BOARD / "socket.py")])


def client_run(esp, tmp_path, scripts_as, **kw):
    files = app_files(tmp_path, scripts_as)
    return esp("import machine\nmachine.sim_tsl2591(611, 284)\nimport boot\nimport client\n",
               files=files, args=["--exit-after=4", "--log"], **kw)


@pytest.mark.parametrize("scripts_as", ["mpy", "py"])
def test_import_client_end_to_end(esp, tmp_path, scripts_as):
    # The scripts as .mpy bytecode, as `make deploy` copies them, and as .py sources, as the
    # tutorial copies them by hand (mpfshell `put`, mpremote cp): the board compiles each
    # module when client.py imports it, one at a time, after the native modules.
    # The sensor is the firmware's simulated TSL2591 on machine.I2C (port/modmachine.c), as a
    # board's: client.py opens it with Tsl2591(SENSOR_ID), no i2c=.
    r = client_run(esp, tmp_path, scripts_as, check=True)
    lines = r.stdout.splitlines()
    assert "native code goes to flash 0xe0000..0x100000" in lines
    # Both native modules were used (no fallback message), and machine.I2C (no simulator
    # script: client.py says when it uses one).
    assert not [l for l in lines if "native module not used" in l], r.stdout
    assert not [l for l in lines if "No machine.I2C" in l], r.stdout
    assert "Connecting to 127.0.0.1:1883" in lines
    assert "Connection successful" in lines
    assert "Running main loop with sample every 0.2 seconds..." in lines
    pkts = [json.loads(l[5:]) for l in lines if l.startswith("JSON ")]
    frames = [binascii.unhexlify(p[2]) for p in pkts]
    assert frames[0][0] == 0x10 and b"lux-7" in frames[0]
    publishes = [f for f in frames if f[0] & 0xF0 == 0x30]
    assert len(publishes) == 4
    want = client_tables.expected_lux(611, 284)
    for f in publishes:
        payload = json.loads(f[2 + 2 + len("test-topic"):])
        assert payload[0] == "lux-7" and isinstance(payload[1], int)
        assert abs(payload[2] - want) <= 2.0 ** -20 * (611 + 1.64 * 284) / (100 / 408.0)


def test_import_client_with_scripts_as_py_has_room_to_spare(esp, tmp_path):
    # Copied as .py, the app also loads and runs with 4 KiB of the port's 38 KiB heap taken
    # away (mpy-scripts/README.md, step 4, gives the smallest heap `make bench-deploy`
    # measures).
    r = client_run(esp, tmp_path, "py", heap=esp8266_sim.HEAP_MAX - 4096)
    assert r.returncode == 0, r
    assert not [l for l in r.stdout.splitlines() if "native module not used" in l], r.stdout
    assert r.stdout.count("JSON") >= 4


GC_STRESS = """
import gc, socket
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591
from mqtt_writer import MQTTWriter
bus = SimTsl2591()
bus.set_channels(611, 284)
tsl = Tsl2591('lux-1', i2c=bus)
m = MQTTWriter('lux-1', '127.0.0.1', 1883, 'sensor-data')
junk = []
def round(i):
    lux = tsl.sample()
    m.on_next(('lux-1', i, lux))
    del socket.broker.packets[:]      # the broker's log is the test's, not the modules'
    junk.append(bytearray(i % 97 + 1))
    if len(junk) > 20:
        del junk[:]
    if i % 7 == 0:
        gc.collect()
    return lux
first = round(0)
for i in range(1, 30):                  # warm-up: the junk list reaches its full size
    round(i)
del junk[:]
gc.collect()
before = gc.mem_free()
for i in range(30, 400):
    assert round(i) == first
del junk[:]
gc.collect()
print('JSON', [before, gc.mem_free(), socket.broker.publishes])
"""


@pytest.mark.parametrize("impl", ["native", "fallback"])
def test_gc_stress_heap_stays_flat(impl):
    from conftest import impl_file, run_json
    files = [impl_file(impl, "tsl2591"), impl_file(impl, "mqtt_writer"), as_mpy(SIM_TSL),
             as_mpy(BOARD / "socket.py")]
    first = ["mqtt_writer", "tsl2591"]
    ((before, after, published),) = run_json(GC_STRESS, files, first=first)
    assert published == 400
    # Nothing the modules keep grows with the events.
    assert after >= before - 64, (before, after)
