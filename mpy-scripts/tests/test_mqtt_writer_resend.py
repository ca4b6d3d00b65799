"""MQTTWriter's QoS 1 packet ids, and the id of an event resent after a
reconnect, on both implementations in the real MicroPython binary.

A regression test for ec126c1: the native module took the packet id after
writing the PUBLISH, so an event whose write failed was resent (after the
reconnect) with the id it had already used; the fallback takes the id
before the write, so the resend gets the next one. Both must behave alike:

* ``test_packet_ids_count_up_and_wrap``: 65,540 QoS 1 events over a fake
  socket given with ``sock=`` (it answers CONNACK and a PUBACK for each
  PUBLISH, in MicroPython, no network): the ids are 1, 2, ... 65535, then
  1 .. 5 again, never 0, every PUBLISH with DUP=0, QoS 1, RETAIN=0.
* ``test_resend_gets_a_new_packet_id``: events 1..5 at QoS 1 to a real
  mosquitto, the first connection being a real TCP socket wrapped by a
  Python object given with ``sock=``. Mode ``write-fails``: the write of
  event 3's PUBLISH raises ``OSError(EPIPE)`` (nothing reaches the broker);
  mode ``no-puback``: event 3's write "succeeds" but is swallowed and the
  connection then reads EOF (the broker went away before its PUBACK). The
  writer reconnects (a socket of its own) and resends event 3 with id 4,
  then events 4 and 5 with 5 and 6; the broker receives each event once
  and a subscriber gets 1..5 in order. The pre-ec126c1 native module
  resends with id 3 in ``write-fails`` mode (and passes ``no-puback``).
* ``test_implementations_agree``: what the runs above saw (ids, the
  writer's console, the broker's ids, the payloads) is the same for the
  fallback and the native module.
"""

import array
import re

import pytest

from conftest import WRITER_IMPLS, MosquittoBroker
from mpyrun import IMPL_DIRS

WRAP_EVENTS = 65540  # ids 1..65535, then 1..5
RESEND_MODES = ["write-fails", "no-puback"]
EVENTS = [("lux-1", i, i + 0.5) for i in range(1, 6)]
PAYLOADS = ['["lux-1", %d, %d.5]' % (i, i) for i in range(1, 6)]

# What each run saw, per (scenario, implementation name), for the comparison.
_SEEN = {}

# MicroPython: the packet id of a PUBLISH frame buf[off:] (QoS 1: it follows
# the fixed header and the topic).
PUBLISH_ID = """
def publish_id(buf, off):
    i = off + 1
    while buf[i] & 0x80:  # remaining length, 1..4 bytes
        i += 1
    i += 1
    i += 2 + (buf[i] << 8 | buf[i + 1])  # the topic
    return buf[i] << 8 | buf[i + 1]
"""

# A stream that answers CONNACK, then a PUBACK for each PUBLISH; it keeps
# each PUBLISH's first byte and packet id in arrays, written to files at the
# end. A blocking read with nothing to answer raises RuntimeError (not an
# OSError, which the writer would take for a broken link and retry forever).
WRAP_SCRIPT = PUBLISH_ID + """
import array
from mqtt_writer import MQTTWriter

class AckSocket:
    def __init__(self):
        self.rx = bytearray(b'\\x20\\x02\\x00\\x00')  # CONNACK, accepted
        self.pos = 0
        self.timeout = None
        self.ids = array.array('H')
        self.flags = bytearray()

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        if buf[off] & 0xF0 == 0x30:
            pid = publish_id(buf, off)
            self.ids.append(pid)
            self.flags.append(buf[off])
            self.rx = bytearray((0x40, 2, pid >> 8, pid & 0xFF))  # PUBACK
            self.pos = 0
        return n

    def readinto(self, buf, n=-1):
        if self.pos >= len(self.rx):
            if self.timeout == 0:
                return None  # non-blocking: nothing pending
            raise RuntimeError('the writer waits for a packet the fake did '
                               'not send (ids so far: %%d)' %% len(self.ids))
        if n < 0:
            n = len(buf)
        n = min(n, len(self.rx) - self.pos)
        for k in range(n):
            buf[k] = self.rx[self.pos + k]
        self.pos += n
        return n

    def settimeout(self, t):
        self.timeout = t

    def close(self):
        pass

s = AckSocket()
m = MQTTWriter('lux-1', 'fake.invalid', 1883, 'sensor-data', qos=1, sock=s)
e = ('lux-1', 1, 1.5)
for _ in range(%d):
    m.on_next(e)
m.on_completed()
with open('ids.bin', 'wb') as f:
    f.write(s.ids)
with open('flags.bin', 'wb') as f:
    f.write(s.flags)
print('PUBLISHED', len(s.ids))
"""

# A real TCP connection to the broker, given to the writer with sock=; it
# keeps the packet id of every PUBLISH the writer writes to it (or tries to)
# and breaks at the PUBLISH number FAIL_AT as MODE says. The writer's
# reconnect opens a socket of its own.
RESEND_SCRIPT = PUBLISH_ID + """
import socket
from mqtt_writer import MQTTWriter

PORT = %d
FAIL_AT = 3
MODE = %r

class BreakingSocket:
    def __init__(self):
        self.s = socket.socket()
        self.s.connect(socket.getaddrinfo('127.0.0.1', PORT)[0][-1])
        self.ids = []
        self.eof = False

    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        if buf[off] & 0xF0 == 0x30:
            self.ids.append(publish_id(buf, off))
            if len(self.ids) == FAIL_AT:
                print('BREAK', MODE)
                if MODE == 'write-fails':
                    raise OSError(32)  # EPIPE, as a write to a reset link
                self.eof = True  # swallowed; the next read sees EOF
                return n
        view = memoryview(buf)
        done = 0
        while done < n:
            done += self.s.write(view[off + done:off + n])
        return n

    def readinto(self, buf, n=-1):
        if self.eof:
            return 0
        return self.s.readinto(buf, n) if n >= 0 else self.s.readinto(buf)

    def settimeout(self, t):
        self.s.settimeout(t)

    def close(self):
        print('CLOSED given socket')
        self.s.close()

s = BreakingSocket()
m = MQTTWriter('lux-1', '127.0.0.1', PORT, 'sensor-data', qos=1, sock=s)
for e in %r:
    m.on_next(e)
    print('SENT', e[1])
m.on_completed()
print('GIVEN SOCKET IDS', s.ids)
"""

PUBLISH_LOG = re.compile(r"Received PUBLISH from lux-1 \(d(\d), q(\d), r(\d), "
                         r"m(\d+), 'sensor-data', \.\.\. \((\d+) bytes\)\)")


def impl_name(writer_dir):
    return next(n for n, d in IMPL_DIRS.items() if d == writer_dir)


def wrap_run(run_mpy, tmp_path, writer_dir):
    out = run_mpy(WRAP_SCRIPT % WRAP_EVENTS, [writer_dir], timeout=60).stdout
    assert "PUBLISHED %d" % WRAP_EVENTS in out, out
    ids = array.array("H", (tmp_path / "ids.bin").read_bytes())
    flags = (tmp_path / "flags.bin").read_bytes()
    return {"ids": list(ids), "flags": sorted(set(flags)),
            "out": out.splitlines()}


def resend_run(run_mpy, broker, mosquitto_sub, writer_dir, mode):
    sub = mosquitto_sub("sensor-data", broker.port, qos=1)
    out = run_mpy(RESEND_SCRIPT % (broker.port, mode, EVENTS), [writer_dir],
                  timeout=30).stdout
    payloads = [m.payload for m in sub.wait_messages(len(EVENTS))]
    extra = [m.payload for m in sub.drain()]
    broker.wait_log("Received DISCONNECT from lux-1")
    log = broker.log()
    given = re.search(r"^GIVEN SOCKET IDS \[(.*)\]$", out, re.M)
    assert given, out
    return {
        "given_ids": [int(n) for n in given.group(1).split(",")],
        "broker_publishes": [tuple(int(g) for g in m.groups())
                             for m in PUBLISH_LOG.finditer(log)],
        "pubacks": [int(n) for n in
                    re.findall(r"Sending PUBACK to lux-1 \(m(\d+), rc0\)",
                               log)],
        "payloads": payloads,
        "extra": extra,
        "out": out.replace(str(broker.port), "PORT").splitlines(),
    }


def where(a, b):
    """Where lists ``a`` and ``b`` first differ, with a few items around."""
    k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y),
             min(len(a), len(b)))
    return "at item %d: %r vs %r (lengths %d, %d)" % (
        k + 1, a[max(k - 2, 0):k + 3], b[max(k - 2, 0):k + 3], len(a), len(b))


def check_wrap(seen):
    expected = [i % 0xFFFF + 1 for i in range(WRAP_EVENTS)]
    ids = seen["ids"]
    assert 0 not in ids
    assert ids[:3] == [1, 2, 3]
    assert ids[65533:] == [65534, 65535, 1, 2, 3, 4, 5]
    if ids != expected:  # show where it first goes wrong, not 65,540 ints
        pytest.fail("packet ids differ from 1, 2, 3 ... "
                    + where(ids, expected))
    # Every PUBLISH: type 3, DUP 0, QoS 1, RETAIN 0.
    assert seen["flags"] == [0x32]


def check_resend(seen, mode):
    # The given socket saw events 1, 2 and the attempt at event 3.
    assert seen["given_ids"] == [1, 2, 3], \
        "ids written to the given socket: %r" % seen["given_ids"]
    # The resend of event 3 after the reconnect has the next id, 4 (not 3
    # again), and events 4 and 5 follow with 5 and 6: ids 1, 2, 4, 5, 6
    # reached the broker (3 never did) and each was acknowledged.
    mids = [p[3] for p in seen["broker_publishes"]]
    assert mids == [1, 2, 4, 5, 6], (
        "packet ids the broker received: %r; expected 1, 2, then event 3 "
        "resent with a new id, 4, then 5, 6" % mids)
    assert seen["pubacks"] == [1, 2, 4, 5, 6], seen["pubacks"]
    # Each as QoS 1, DUP 0, not retained, 17 bytes of JSON.
    assert [p[:3] + p[4:] for p in seen["broker_publishes"]] == \
        [(0, 1, 0, 17)] * 5, seen["broker_publishes"]
    # Every event delivered once, in order, none twice.
    assert seen["payloads"] == PAYLOADS
    assert seen["extra"] == []
    out = seen["out"]
    # (str(OSError(32)) is '32' in MicroPython.)
    lost = ("MQTT connection to 127.0.0.1:PORT lost (%s); reconnecting"
            % ("32" if mode == "write-fails"
               else "connection closed by the MQTT broker"))
    # One reconnect, at event 3, through a socket of the writer's own.
    assert out == [
        "Connecting to 127.0.0.1:PORT", "Connection successful",
        "SENT 1", "SENT 2", "BREAK " + mode, lost, "CLOSED given socket",
        "Connecting to 127.0.0.1:PORT", "Connection successful",
        "SENT 3", "SENT 4", "SENT 5", "Disconnecting from MQTT broker",
        "GIVEN SOCKET IDS [1, 2, 3]"], out


def test_packet_ids_count_up_and_wrap(writer_dir, run_mpy, tmp_path):
    seen = wrap_run(run_mpy, tmp_path, writer_dir)
    _SEEN["wrap", impl_name(writer_dir)] = seen
    check_wrap(seen)


@pytest.mark.parametrize("mode", RESEND_MODES)
def test_resend_gets_a_new_packet_id(writer_dir, broker, mosquitto_sub,
                                     run_mpy, mode):
    seen = resend_run(run_mpy, broker, mosquitto_sub, writer_dir, mode)
    _SEEN[mode, impl_name(writer_dir)] = seen
    check_resend(seen, mode)


def test_implementations_agree(run_mpy, mosquitto_sub, tmp_path):
    if len(WRITER_IMPLS) < 2:
        pytest.skip("needs two implementations (MQTT_WRITER_IMPLS=%s)"
                    % ",".join(WRITER_IMPLS))
    # Reuse the runs above; run what is missing (e.g. under -k).
    for name in WRITER_IMPLS:
        d = IMPL_DIRS[name]
        if ("wrap", name) not in _SEEN:
            _SEEN["wrap", name] = wrap_run(run_mpy, tmp_path, d)
        for mode in RESEND_MODES:
            if (mode, name) not in _SEEN:
                bdir = tmp_path / ("broker-%s-%s" % (name, mode))
                bdir.mkdir()
                b = MosquittoBroker(bdir).start()
                try:
                    _SEEN[mode, name] = resend_run(run_mpy, b, mosquitto_sub,
                                                   d, mode)
                finally:
                    b.stop()
    first = WRITER_IMPLS[0]
    for name in WRITER_IMPLS[1:]:
        for scenario in ["wrap"] + RESEND_MODES:
            a, b = _SEEN[scenario, first], _SEEN[scenario, name]
            for key in a:
                if a[key] != b[key]:
                    pytest.fail("%s: %s differs between %s and %s %s" % (
                        scenario, key, first, name, where(a[key], b[key])))
