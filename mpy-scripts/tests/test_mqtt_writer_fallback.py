"""MQTTWriter against a real mosquitto, run in the real MicroPython binary.

Written against the public API only (``MQTTWriter(...)``, ``on_next``,
``on_error``, ``on_completed``), so the ``writer_dir`` fixture can run the
same tests on the native module.
"""

import json
import re
import signal
import subprocess

import pytest

from conftest import MosquittoBroker

TUTORIAL_EVENTS = [("lux-1", 624, 284.1312), ("lux-1", 626, 288.2113),
                   ("lux-1", 627, 77.0304), ("lux-1", 629, 35.90401)]
# What mosquitto_sub printed in the tutorial, byte for byte.
TUTORIAL_LINES = ['["lux-1", 624, 284.1312]', '["lux-1", 626, 288.2113]',
                  '["lux-1", 627, 77.0304]', '["lux-1", 629, 35.90401]']


def writer_script(port, events, topic="sensor-data", name="lux-1", **kw):
    args = "".join(", %s=%r" % kv for kv in kw.items())
    return (
        "from mqtt_writer import MQTTWriter\n"
        "m = MQTTWriter(%r, '127.0.0.1', %d, %r%s)\n"
        "for e in %r:\n"
        "    m.on_next(e)\n"
        "    print('sent', e[1])\n"
        "m.on_completed()\n" % (name, port, topic, args, events))


def test_qos0_publishes_tutorial_json(writer_dir, broker, mosquitto_sub,
                                      run_mpy):
    sub = mosquitto_sub("sensor-data", broker.port)
    out = run_mpy(writer_script(broker.port, TUTORIAL_EVENTS),
                  [writer_dir]).stdout
    msgs = sub.wait_messages(4)
    assert [m.payload for m in msgs] == TUTORIAL_LINES
    assert all(m.topic == "sensor-data" for m in msgs)
    assert sub.drain() == []
    lines = out.splitlines()
    assert lines[:2] == ["Connecting to 127.0.0.1:%d" % broker.port,
                         "Connection successful"]
    log = broker.log()
    # CONNECT: MQTT 3.1.1 (p2), clean session (c1), keepalive 60 (k60).
    assert "as lux-1 (p2, c1, k60)" in log
    # PUBLISH: QoS 0, not retained (the tutorial set RETAIN by accident).
    sizes = re.findall(r"Received PUBLISH from lux-1 \(d0, q0, r0, m0, "
                       r"'sensor-data', \.\.\. \((\d+) bytes\)\)", log)
    assert [int(n) for n in sizes] == [len(t) for t in TUTORIAL_LINES]
    broker.wait_log("Received DISCONNECT from lux-1")


def test_nothing_is_retained(writer_dir, broker, mosquitto_sub, run_mpy):
    run_mpy(writer_script(broker.port, TUTORIAL_EVENTS[:1]), [writer_dir])
    # A subscriber arriving later gets no retained copy.
    late = mosquitto_sub("sensor-data", broker.port)
    assert late.drain(0.5) == []


def test_qos1_waits_for_puback(writer_dir, broker, mosquitto_sub, run_mpy):
    sub = mosquitto_sub("sensor-data", broker.port, qos=1)
    out = run_mpy(writer_script(broker.port, TUTORIAL_EVENTS, qos=1),
                  [writer_dir]).stdout
    msgs = sub.wait_messages(4)
    assert [m.payload for m in msgs] == TUTORIAL_LINES
    assert [m.qos for m in msgs] == [1, 1, 1, 1]
    log = broker.log()
    for mid in (1, 2, 3, 4):
        assert ("Received PUBLISH from lux-1 (d0, q1, r0, m%d, 'sensor-data'"
                % mid) in log
        assert "Sending PUBACK to lux-1 (m%d, rc0)" % mid in log
    assert "lost" not in out  # no reconnect was needed


@pytest.mark.parametrize("id_len", [130, 20000])
@pytest.mark.parametrize("qos", [0, 1])
def test_long_frames(writer_dir, broker, mosquitto_sub, run_mpy, id_len, qos):
    # Over 127 bytes needs a 2-byte remaining length, over 16383 three.
    sid = "s" * id_len
    events = [(sid, 1, 2.5), ("lux-1", 2, 3.25), (sid, 3, 4.0)]
    sub = mosquitto_sub("sensor-data", broker.port, qos=qos)
    run_mpy(writer_script(broker.port, events, name="long", qos=qos),
            [writer_dir])
    msgs = sub.wait_messages(3)
    assert [json.loads(m.payload) for m in msgs] == [list(e) for e in events]
    broker.wait_log("Client long disconnected")


def test_long_topic_and_client_id(writer_dir, broker, mosquitto_sub, run_mpy):
    topic = "site/" + "t" * 200
    name = "n" * 150
    sub = mosquitto_sub(topic, broker.port)
    run_mpy(writer_script(broker.port, TUTORIAL_EVENTS[:2], topic=topic,
                          name=name), [writer_dir])
    assert [m.payload for m in sub.wait_messages(2)] == TUTORIAL_LINES[:2]
    assert "as %s (p2, c1, k60)" % name in broker.log()


def test_pingreq_when_keepalive_due(writer_dir, broker, mosquitto_sub,
                                    mpy_process):
    sub = mosquitto_sub("sensor-data", broker.port)
    code = ("import sys, time\n"
            "from mqtt_writer import MQTTWriter\n"
            "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data', "
            "keepalive=2)\n"
            "m.on_next(('lux-1', 1, 1.5))\n"
            "time.sleep(2.2)\n"  # keepalive due, broker still waits (3 s)
            "m.on_next(('lux-1', 2, 2.5))\n"
            "m.on_completed()\n" % broker.port)
    p = mpy_process(code, [writer_dir])
    out = p.finish()
    assert [m.payload for m in sub.wait_messages(2)] == \
        ['["lux-1", 1, 1.5]', '["lux-1", 2, 2.5]']
    log = broker.log()
    assert "as lux-1 (p2, c1, k2)" in log
    assert "Received PINGREQ from lux-1" in log
    assert "Sending PINGRESP to lux-1" in log
    assert "lost" not in out


def test_survives_broker_restart_between_events(writer_dir, broker,
                                                mosquitto_sub, mpy_process):
    sub = mosquitto_sub("sensor-data", broker.port)
    code = ("import sys\n"
            "from mqtt_writer import MQTTWriter\n"
            "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data')\n"
            "m.on_next(('lux-1', 1, 1.5))\n"
            "m.on_next(('lux-1', 2, 2.5))\n"
            "print('READY')\n"
            "sys.stdin.readline()\n"
            "m.on_next(('lux-1', 3, 3.5))\n"
            "m.on_next(('lux-1', 4, 4.5))\n"
            "m.on_completed()\n" % broker.port)
    p = mpy_process(code, [writer_dir])
    p.wait_line("READY")
    assert [m.payload for m in sub.wait_messages(2)] == \
        ['["lux-1", 1, 1.5]', '["lux-1", 2, 2.5]']
    broker.stop(signal.SIGKILL)  # a crash, not a clean shutdown
    broker.start()
    sub2 = mosquitto_sub("sensor-data", broker.port)
    p.send()
    out = p.finish()
    # Nothing lost and nothing doubled after the restart.
    assert [m.payload for m in sub2.wait_messages(2)] == \
        ['["lux-1", 3, 3.5]', '["lux-1", 4, 4.5]']
    assert sub2.drain() == []
    assert re.search(r"MQTT connection to 127\.0\.0\.1:\d+ lost .*; "
                     r"reconnecting", out), out
    assert out.count("Connection successful") == 2


@pytest.mark.parametrize("qos", [0, 1])
def test_reconnects_with_backoff_while_broker_down(writer_dir, tmp_path,
                                                   mosquitto_sub, mpy_process,
                                                   qos):
    b = MosquittoBroker(tmp_path).start()
    try:
        code = ("import sys\n"
                "from mqtt_writer import MQTTWriter\n"
                "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data', "
                "qos=%d)\n"
                "m.on_next(('lux-1', 1, 1.5))\n"
                "print('READY')\n"
                "sys.stdin.readline()\n"
                "m.on_next(('lux-1', 2, 2.5))\n"
                "print('SENT 2')\n"
                "sys.stdin.readline()\n"
                "m.on_next(('lux-1', 3, 3.5))\n"
                "m.on_completed()\n" % (b.port, qos))
        p = mpy_process(code, [writer_dir])
        p.wait_line("READY")
        b.stop()
        p.send()  # event 2 is published while the broker is down
        p.wait_line("Reconnect attempt 1 failed")
        p.wait_line("Reconnect attempt 2 failed")
        b.start()
        p.wait_line("SENT 2")
        # The event that met the outage reached the new broker.
        b.wait_log("Received PUBLISH from lux-1 (d0, q%d, r0, m%d, "
                   "'sensor-data', ... (17 bytes))" % (qos, qos))
        sub = mosquitto_sub("sensor-data", b.port, qos=qos)
        p.send()
        out = p.finish()
        assert [m.payload for m in sub.wait_messages(1)] == \
            ['["lux-1", 3, 3.5]']
        # Backoff doubles: 500 ms, then 1000 ms.
        assert "retrying in 500 ms" in out and "retrying in 1000 ms" in out
    finally:
        b.stop()


def test_connack_refusal_is_a_clear_oserror(writer_dir, tmp_path, run_mpy):
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "alice",
                    "s3cret"], check=True, capture_output=True)
    pwfile.chmod(0o600)
    b = MosquittoBroker(tmp_path, extra_conf="allow_anonymous false\n"
                        "password_file %s\n" % pwfile).start()
    try:
        code = ("from mqtt_writer import MQTTWriter\n"
                "for user, pw in (('alice', 'wrong'), (None, None)):\n"
                "    try:\n"
                "        MQTTWriter('lux-1', '127.0.0.1', %d, user=user, "
                "password=pw)\n"
                "    except OSError as e:\n"
                "        print('ERR', e)\n"
                "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data', "
                "user='alice', password='s3cret')\n"
                "m.on_next(('lux-1', 1, 1.5))\n"
                "m.on_completed()\n" % (b.port, b.port))
        out = run_mpy(code, [writer_dir]).stdout
        errs = [line for line in out.splitlines() if line.startswith("ERR")]
        assert len(errs) == 2
        for e in errs:
            # mosquitto answers 5 for both; the message names the reason.
            assert re.match(r"ERR MQTT broker refused the connection: "
                            r"(not authorized|bad user name or password) "
                            r"\(CONNACK code [45]\)$", e), e
        b.wait_log("Received PUBLISH from lux-1 (d0, q0, r0, m0")
    finally:
        b.stop()


def test_bad_arguments_are_value_errors(writer_dir, run_mpy):
    code = ("from mqtt_writer import MQTTWriter\n"
            "for kw in ({'qos': 2}, {'password': 'x'}, {'keepalive': 70000},"
            " {'topic': 'a/#'}, {'port': 70000}, {'port': 0}):\n"
            "    kw.setdefault('port', 1)\n"
            "    try:\n"
            "        MQTTWriter('lux-1', '127.0.0.1', **kw)\n"
            "        print('NO ERROR', kw)\n"
            "    except ValueError as e:\n"
            "        print('ValueError', e)\n")
    out = run_mpy(code, [writer_dir]).stdout
    assert out.count("ValueError") == 6, out
    assert "port must be 1..65535, got 70000" in out, out
    assert "Connecting" not in out  # rejected before touching the network


def test_connection_refused_raises(writer_dir, run_mpy):
    # Native and fallback give the same errno and text, naming the broker.
    from conftest import free_port
    port = free_port()
    code = ("from mqtt_writer import MQTTWriter\n"
            "try:\n"
            "    MQTTWriter('lux-1', '127.0.0.1', %d)\n"
            "except OSError as e:\n"
            "    print('ERRNO', e.errno)\n"
            "    print('OSError', e)\n" % port)
    out = run_mpy(code, [writer_dir]).stdout.splitlines()
    assert out == [
        "Connecting to 127.0.0.1:%d" % port,
        "ERRNO 111",
        "OSError [Errno 111] ECONNREFUSED: MQTT broker 127.0.0.1:%d refused "
        "connection" % port,
    ]


def test_unresolvable_host_names_it(writer_dir, run_mpy):
    code = ("from mqtt_writer import MQTTWriter\n"
            "try:\n"
            "    MQTTWriter('lux-1', 'no-such-host.invalid', 1883)\n"
            "except OSError as e:\n"
            "    print('OSError', e)\n")
    out = run_mpy(code, [writer_dir], timeout=30).stdout.splitlines()
    assert out[0] == "Connecting to no-such-host.invalid:1883"
    assert out[1].startswith("OSError cannot resolve MQTT broker host "
                             "no-such-host.invalid: "), out


def test_on_error_disconnects(writer_dir, broker, run_mpy):
    code = ("from mqtt_writer import MQTTWriter\n"
            "m = MQTTWriter('lux-1', '127.0.0.1', %d)\n"
            "m.on_error(OSError(19))\n" % broker.port)
    out = run_mpy(code, [writer_dir]).stdout
    assert "Disconnecting from MQTT broker due to error" in out
    broker.wait_log("Received DISCONNECT from lux-1")
