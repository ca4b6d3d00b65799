"""MQTTWriter on the ESP8266-configured MicroPython under QEMU, native (build/xtensa) and the
pure-Python fallback, over the simulated `socket` module of tests/board/socket.py (a broker
object that answers CONNACK, PUBACK, PINGRESP and can close a connection). Every packet the
writer sends is checked byte for byte; each PUBLISH payload must equal the device's own
`json.dumps(event)`. The events are the x64 tests' tutorial table
(mpy-scripts/tests/test_mqtt_writer_fallback.py)."""

import binascii
import json

import pytest

from conftest import BOARD, as_mpy, impl_file, run_json, x64_tables

tables = x64_tables("test_mqtt_writer_fallback")

WRITER = """
import json, time, binascii, socket
from mqtt_writer import MQTTWriter
b = socket.broker
b.eof_after = {eof_after}
m = MQTTWriter('lux-1', '127.0.0.1', 1883, 'sensor-data', qos={qos}, keepalive={keepalive})
for e in {events!r}:
    m.on_next(e)
    print('JSON', json.dumps(['dumps', json.dumps(e)]))
    time.sleep_ms({pause})
m.on_completed()
for n, p in b.packets:
    print('JSON', json.dumps(['pkt', n, binascii.hexlify(p).decode()]))
"""


@pytest.fixture(scope="module", params=["native", "fallback"])
def impl(request):
    return request.param, [impl_file(request.param, "mqtt_writer"), as_mpy(BOARD / "socket.py")]


def writer_run(files, qos=0, keepalive=60, pause=0, eof_after=None, events=tables.TUTORIAL_EVENTS):
    rows = run_json(WRITER.format(qos=qos, keepalive=keepalive, pause=pause, eof_after=eof_after,
                                  events=events), files, first=["mqtt_writer"])
    dumps = [r[1] for r in rows if r[0] == "dumps"]
    packets = [(r[1], binascii.unhexlify(r[2])) for r in rows if r[0] == "pkt"]
    return dumps, packets


def mqtt_str(s):
    b = s.encode()
    return bytes([len(b) >> 8, len(b) & 0xFF]) + b


def frame(first, body):
    n, enc = len(body), bytearray()
    while True:
        d, n = n & 0x7F, n >> 7
        enc.append(d | (0x80 if n else 0))
        if not n:
            return bytes([first]) + bytes(enc) + body


def connect(keepalive=60):
    return frame(0x10, mqtt_str("MQTT") + bytes([4, 0x02, keepalive >> 8, keepalive & 0xFF])
                 + mqtt_str("lux-1"))


def publish(payload, pid=None):
    if pid is None:
        return frame(0x30, mqtt_str("sensor-data") + payload.encode())
    return frame(0x32, mqtt_str("sensor-data") + bytes([pid >> 8, pid & 0xFF]) + payload.encode())


DISCONNECT = b"\xe0\x00"
PINGREQ = b"\xc0\x00"


def test_device_json_is_the_tutorials_to_the_ports_precision(impl):
    # The port's floats are 30-bit single precision: 288.2113 prints as 288.2114 there (the
    # nearest such float is 288.21136...), the other tutorial readings as on x64.
    dumps, _ = writer_run(impl[1])
    assert len(dumps) == len(tables.TUTORIAL_LINES)
    for got, want in zip(dumps, tables.TUTORIAL_LINES):
        g, w = json.loads(got), json.loads(want)
        assert g[:2] == w[:2] and abs(g[2] - w[2]) <= 2.0 ** -20 * abs(w[2]), (got, want)
    assert dumps[0] == tables.TUTORIAL_LINES[0] == '["lux-1", 624, 284.1312]'


def test_qos0_connect_publish_disconnect_bytes(impl):
    dumps, packets = writer_run(impl[1])
    assert packets == [(1, connect())] + [(1, publish(d)) for d in dumps] + [(1, DISCONNECT)]


def test_qos1_packet_ids_and_pubacks(impl):
    dumps, packets = writer_run(impl[1], qos=1)
    assert packets == ([(1, connect())] + [(1, publish(d, pid)) for pid, d in enumerate(dumps, 1)]
                       + [(1, DISCONNECT)])


def test_pingreq_after_keepalive(impl):
    # 1.5 s between events with a 1 s keepalive: each later event is preceded by a PINGREQ
    # (time.sleep_ms advances the port's clock).
    dumps, packets = writer_run(impl[1], keepalive=1, pause=1500)
    want = [(1, connect(1)), (1, publish(dumps[0]))]
    for d in dumps[1:]:
        want += [(1, PINGREQ), (1, publish(d))]
    assert packets == want + [(1, DISCONNECT)]


def test_reconnect_after_eof(impl):
    # The broker closes each connection after one PUBLISH: the writer sees EOF before the
    # next event, reconnects (a new CONNECT on a new connection) and sends it there.
    dumps, packets = writer_run(impl[1], eof_after=1)
    want = []
    for n, d in enumerate(dumps, 1):
        want += [(n, connect()), (n, publish(d))]
    assert packets == want
