"""The tutorial baseline (bench/tutorial_baseline/) reproduces the tutorial.

It exists only to be measured (bench/run_bench.py), so what matters is that
it does the tutorial's work: the same bus transfers and lux values as the
tutorial's driver, and the same frames (RETAIN set, keepalive 0xFFFF) on a
real broker.
"""

import mpyrun
from conftest import SCRIPTS

BASELINE = SCRIPTS / "bench" / "tutorial_baseline"


def test_driver_transfers_waits_and_lux_on_the_sim():
    code = r"""
import json
import tsl2591 as tut
from sim_tsl2591 import SimTsl2591
bus = SimTsl2591()
waits = []
s = tut.Tsl2591('lux-1', i2c=bus, sleep_ms=waits.append)
bus.log = []
bus.set_channels(611, 284)
lux = s.sample()
log = [[e[0]] + [list(x) if isinstance(x, bytes) else x for x in e[1:]]
       for e in bus.log]
s.set_timing(tut.INTEGRATIONTIME_300MS)
s.set_gain(tut.GAIN_MED)
bus.log = None
rows = []
for ch in ((611, 284), (1000, 300), (5, 900), (0xFFFF, 10), (0, 0)):
    bus.set_channels(*ch)
    rows.append([ch, s.sample()])
print('JSON', json.dumps([lux, log, waits, bus.regs[1], rows]))
"""
    [[lux, log, waits, control, rows]] = mpyrun.run_json(
        code, [BASELINE, mpyrun.SIM_DIR])
    # The tutorial's formula at 100 ms, gain x1 (as our driver computes it).
    cpl = 100.0 * 1.0 / 408.0
    assert abs(lux - max((611 - 1.64 * 284) / cpl,
                         (0.59 * 611 - 0.86 * 284) / cpl)) < 1e-3
    assert log == [
        ["writeto", 0x29, [0xA0, 0x13]],
        ["writeto", 0x29, [0xB4]], ["readfrom_into", 0x29, [0x63, 0x02, 0x1C, 0x01]],
        ["writeto", 0x29, [0xB6]], ["readfrom_into", 0x29, [0x1C, 0x01, 0, 0]],
        ["writeto", 0x29, [0xA0, 0x00]],
    ]
    # 0.120 * integration + 1 seconds: 1 s at 100 ms, 1.24 s at 300 ms.
    assert waits[0] == 1000 and waits[-1] == 1240
    assert control == 0x12  # 300 ms | GAIN_MED
    cpl = 300.0 * 25.0 / 408.0
    for (full, ir), got in rows:
        if full == 0xFFFF:
            assert got == 0 and isinstance(got, int)  # the tutorial's int 0
            continue
        want = max((full - 1.64 * ir) / cpl, (0.59 * full - 0.86 * ir) / cpl)
        assert abs(got - want) < 1e-3 * max(1.0, abs(want)), (full, ir, got)


def test_writer_sends_the_tutorial_frames(broker, mosquitto_sub, run_mpy):
    sub = mosquitto_sub("sensor-data", broker.port)
    out = run_mpy(
        "from mqtt_writer import MQTTWriter\n"
        "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data')\n"
        "m.on_next(('lux-1', 624, 284.1312))\n"
        "m.on_next(('lux-1', 626, 288.2113))\n"
        "m.on_completed()\n" % broker.port, [BASELINE]).stdout
    msgs = sub.wait_messages(2)
    assert [m.payload for m in msgs] == ['["lux-1", 624, 284.1312]',
                                         '["lux-1", 626, 288.2113]']
    assert out.splitlines() == ["Connecting to 127.0.0.1:%d" % broker.port,
                                "Connection successful",
                                "Disconnecting from queue"]
    log = broker.log()
    assert "as lux-1 (p2, c1, k65535)" in log  # keepalive 0xFFFF
    # RETAIN set on every PUBLISH, as the tutorial did by accident.
    assert log.count("Received PUBLISH from lux-1 (d0, q0, r1, m0, "
                     "'sensor-data'") == 2
    broker.wait_log("Received DISCONNECT from lux-1")
    # Which is why a late subscriber still gets the last event.
    late = mosquitto_sub("sensor-data", broker.port)
    assert [m.payload for m in late.wait_messages(1)] == \
        ['["lux-1", 626, 288.2113]']
