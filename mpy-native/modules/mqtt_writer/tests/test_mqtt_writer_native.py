"""Native-only tests of build/x64/mqtt_writer.mpy in the real MicroPython runtime.

The behaviour shared with the pure-Python fallback (tutorial lines through mosquitto, QoS 1,
keepalive, reconnects, CONNACK refusals, long frames) is tested for both implementations in
mpy-scripts/tests/test_mqtt_writer_fallback.py (MQTT_WRITER_IMPLS=fallback,native). Here:
JSON identity with json.dumps, frame bytes, heap use per event, error texts, PUBACK timeout.
"""

import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mpyrun import mpy_env

HERE = Path(__file__).resolve().parent


def run_script(micropython_bin, native_dir, name, *args, timeout=120, check=True):
    proc = subprocess.run([micropython_bin, str(HERE / name)] + [str(a) for a in args],
                          env=mpy_env([native_dir]), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("micropython exited %d\n--- stdout\n%s\n--- stderr\n%s"
                             % (proc.returncode, proc.stdout[-5000:], proc.stderr))
    return proc


def json_lines(out):
    return [json.loads(line[5:]) for line in out.splitlines() if line.startswith("JSON ")]


# -- JSON ------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_json_identical_to_runtime_json_dumps(micropython_bin, native_dir, seed):
    # Random doubles (all bit patterns), subnormals, powers of ten, ints of any size, strings
    # with every ASCII byte and non-ASCII, whole events and nested sequences.
    out = run_script(micropython_bin, native_dir, "json_parity.py", 60000, seed).stdout
    (summary,) = json_lines(out)
    assert summary["mismatches"] == 0, out
    assert summary["checked"] > 80000
    # On the unix x64 port floats are formatted by our model, not handed to json.dumps.
    assert summary["own_floats"] is True


def test_json_of_tutorial_events(run_mpy, native_dir):
    code = ("import mqtt_writer\n"
            "for e in [('lux-1', 624, 284.1312), ('lux-1', 627, 77.0304), ('lux-1', 629, 35.90401)]:\n"
            "    print(mqtt_writer._json(e))\n")
    out = run_mpy(code, [native_dir]).stdout
    assert out.splitlines() == ['["lux-1", 624, 284.1312]', '["lux-1", 627, 77.0304]',
                                '["lux-1", 629, 35.90401]']


# -- frames ----------------------------------------------------------------------------------

def decode_len(data, i):
    n, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        assert shift <= 21


def mqtt_str(data, i):
    n = data[i] << 8 | data[i + 1]
    return data[i + 2:i + 2 + n], i + 2 + n


@pytest.mark.parametrize("qos", [0, 1])
def test_frames_decode_as_mqtt_3_1_1(micropython_bin, native_dir, qos):
    out = run_script(micropython_bin, native_dir, "capture_frames.py", qos).stdout
    rows = json_lines(out)
    writes = [bytes.fromhex(r["write"]) for r in rows if "write" in r]
    events = [r["event"] for r in rows if "event" in r]

    connect = writes[0]
    assert connect[0] == 0x10
    rem, i = decode_len(connect, 1)
    assert len(connect) == i + rem
    name, i = mqtt_str(connect, i)
    assert name == b"MQTT" and connect[i] == 4  # protocol level 4 = 3.1.1
    assert connect[i + 1] == 0x80 | 0x40 | 0x02  # user, password, clean session
    assert connect[i + 2] << 8 | connect[i + 3] == 30
    cid, i = mqtt_str(connect, i + 4)
    user, i = mqtt_str(connect, i)
    pw, i = mqtt_str(connect, i)
    assert (cid, user, pw, i) == (b"cap-1", b"alice", b"pw", len(connect))

    publishes = writes[1:-1]
    assert writes[-1] == b"\xe0\x00"  # DISCONNECT
    assert len(publishes) == len(events)
    seen_len_sizes = set()
    for n, (frame, want) in enumerate(zip(publishes, events), 1):
        assert frame[0] == 0x30 | qos << 1  # no DUP, no RETAIN
        rem, i = decode_len(frame, 1)
        seen_len_sizes.add(i - 1)
        assert len(frame) == i + rem, "remaining length must cover the frame exactly"
        topic, i = mqtt_str(frame, i)
        assert topic == b"site/sensor-data"
        if qos:
            assert frame[i] << 8 | frame[i + 1] == n  # packet ids 1, 2, 3, ...
            i += 2
        assert frame[i:].decode() == want
    assert seen_len_sizes == {1, 2, 3}


# -- heap ------------------------------------------------------------------------------------

def heap_rows(out):
    rows = [r for r in json_lines(out) if "what" in r]
    assert len(rows) == 8, out
    return rows


def check_no_allocation(rows):
    for r in rows:
        if r["what"] == "on_next":
            assert r["bytes"] == 0, "on_next allocated %d bytes over %d events: %r" % (
                r["bytes"], r["events"], r)
        else:  # the control: the same loop does see allocations
            assert r["bytes"] >= r["events"] * 16, r


def test_on_next_allocates_nothing_over_stream_methods(micropython_bin, native_dir):
    out = run_script(micropython_bin, native_dir, "heap_per_event.py", "stub").stdout
    check_no_allocation(heap_rows(out))
    # 1 CONNECT + 4 shapes x 1010 events + DISCONNECT
    assert json_lines(out)[-1] == {"writes": 1 + 4 * 1010 + 1}


@pytest.mark.parametrize("qos", [0, 1])
def test_on_next_allocates_nothing_over_real_socket(micropython_bin, native_dir, broker, qos):
    out = run_script(micropython_bin, native_dir, "heap_per_event.py", "broker", broker.port,
                     qos).stdout
    check_no_allocation(heap_rows(out))
    broker.wait_log("Received DISCONNECT from heap")
    if qos:
        assert "Sending PUBACK to heap (m4040, rc0)" in broker.log()


# -- errors ----------------------------------------------------------------------------------

def test_refused_connection_names_broker_and_errno(run_mpy, native_dir):
    from mpy_scripts_conftest import free_port
    port = free_port()
    code = ("from mqtt_writer import MQTTWriter\n"
            "try:\n"
            "    MQTTWriter('lux-1', '127.0.0.1', %d)\n"
            "except OSError as e:\n"
            "    print('ERRNO', e.errno)\n"
            "    print('TEXT', e)\n" % port)
    out = run_mpy(code, [native_dir]).stdout.splitlines()
    assert out[0] == "Connecting to 127.0.0.1:%d" % port
    assert out[1] == "ERRNO 111"
    assert out[2] == ("TEXT [Errno 111] ECONNREFUSED: MQTT broker 127.0.0.1:%d refused "
                      "connection" % port)


def test_bad_event_is_an_error_and_keeps_the_connection(broker, mosquitto_sub, run_mpy,
                                                        native_dir):
    sub = mosquitto_sub("sensor-data", broker.port)
    # MicroPython's json.dumps prints any object by its repr; one whose repr raises cannot be
    # encoded: the error reaches the caller, nothing is sent, the connection stays usable.
    code = ("from mqtt_writer import MQTTWriter\n"
            "class Bad:\n"
            "    def __repr__(self):\n"
            "        raise ValueError('no repr')\n"
            "m = MQTTWriter('lux-1', '127.0.0.1', %d)\n"
            "try:\n"
            "    m.on_next(('lux-1', 1, Bad()))\n"
            "except ValueError as e:\n"
            "    print('ValueError', e)\n"
            "m.on_next(('lux-1', 2, 2.5))\n"
            "m.on_completed()\n" % broker.port)
    out = run_mpy(code, [native_dir]).stdout
    assert "ValueError no repr" in out
    assert [m.payload for m in sub.wait_messages(1)] == ['["lux-1", 2, 2.5]']
    assert sub.drain() == []


class SilentBroker:
    """A TCP server that accepts MQTT clients, answers CONNECT with CONNACK, records what it
    receives, and acknowledges QoS 1 PUBLISHes only from the ``ack_from``-th connection on."""

    def __init__(self, ack_from):
        self.ack_from = ack_from
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.publishes = []  # (connection number, packet id, payload)
        self.stop = False
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.client, args=(c, self.connections),
                             daemon=True).start()

    @staticmethod
    def read_packet(c):
        head = c.recv(1)
        if not head:
            return None, None
        n, shift = 0, 0
        while True:
            b = c.recv(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        body = b""
        while len(body) < n:
            chunk = c.recv(n - len(body))
            if not chunk:
                return None, None
            body += chunk
        return head[0], body

    def client(self, c, number):
        with c:
            while True:
                t, body = self.read_packet(c)
                if t is None:
                    return
                if t == 0x10:
                    c.sendall(b"\x20\x02\x00\x00")
                elif t & 0xF0 == 0x30:
                    tlen = body[0] << 8 | body[1]
                    pid = body[2 + tlen:4 + tlen]
                    self.publishes.append((number, pid, body[4 + tlen:]))
                    if number >= self.ack_from:
                        c.sendall(b"\x40\x02" + pid)
                elif t == 0xE0:
                    return

    def close(self):
        self.stop = True
        self.sock.close()


def test_missing_puback_times_out_and_republishes(run_mpy, native_dir):
    # The first connection never acknowledges: after the 10 s socket timeout the writer
    # reports ETIMEDOUT, reconnects and publishes the event again (QoS 1: at least once).
    b = SilentBroker(ack_from=2)
    try:
        code = ("import time\n"
                "from mqtt_writer import MQTTWriter\n"
                "m = MQTTWriter('lux-1', '127.0.0.1', %d, qos=1)\n"
                "t0 = time.time()\n"
                "m.on_next(('lux-1', 1, 1.5))\n"
                "print('SENT after', time.time() - t0)\n"
                "m.on_completed()\n" % b.port)
        out = run_mpy(code, [native_dir], timeout=40).stdout
    finally:
        b.close()
    assert ("MQTT connection to 127.0.0.1:%d lost ([Errno 110] ETIMEDOUT: timed out waiting "
            "for the MQTT broker); reconnecting" % b.port) in out, out
    assert out.count("Connection successful") == 2
    assert [(n, p) for n, p, _ in b.publishes] == [(1, b"\x00\x01"), (2, b"\x00\x02")]
    assert {p for _, _, p in b.publishes} == {b'["lux-1", 1, 1.5]'}
    waited = float(out.split("SENT after")[1].split()[0])
    assert 9 <= waited <= 20, out


# -- broker restart while streaming ------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1])
def test_broker_killed_and_restarted_mid_stream(broker, mosquitto_sub, mpy_process,
                                                native_dir, qos):
    # Events every 20 ms; the broker is killed (SIGKILL) after event 30 and comes back on the
    # same port 0.5 s later. The writer must reconnect by itself and deliver every later event.
    import signal
    last = 120
    code = ("import time\n"
            "from mqtt_writer import MQTTWriter\n"
            "m = MQTTWriter('lux-1', '127.0.0.1', %d, 'sensor-data', qos=%d)\n"
            "for i in range(%d):\n"
            "    m.on_next(('lux-1', i, i * 0.5))\n"
            "    print('SENT', i)\n"
            "    time.sleep_ms(20)\n"
            "m.on_completed()\n" % (broker.port, qos, last + 1))
    p = mpy_process(code, [native_dir])
    p.wait_line("SENT 30")
    broker.stop(signal.SIGKILL)
    time.sleep(0.5)
    broker.start()
    sub = mosquitto_sub("sensor-data", broker.port, qos=qos)
    out = p.finish(timeout=60)
    assert "MQTT connection to 127.0.0.1:%d lost" % broker.port in out, out
    assert out.count("Connection successful") >= 2, out
    assert "SENT %d" % last in out
    ids = [json.loads(m.payload)[1] for m in sub.wait_messages(1, timeout=10)]
    ids += [json.loads(m.payload)[1] for m in sub.drain(1.0)]
    # From the first event the new subscriber saw, every later event arrived, in order.
    assert ids[-1] == last, ids
    assert sorted(set(ids)) == list(range(ids[0], last + 1)), ids
    assert ids == sorted(ids), ids
