"""MQTT 3.1.1 publisher as a ThingFlow subscriber (pure-Python fallback).

Usage, as in the tutorial::

    from mqtt_writer import MQTTWriter
    m = MQTTWriter('lux-1', '192.168.1.10', 1883, 'sensor-data')
    sensor.connect(m)        # each event is published as JSON

Prints ``Connecting to HOST:PORT`` then ``Connection successful``. Each
event is published as ``json.dumps(event)`` in UTF-8, e.g.
``["lux-1", 624, 284.1312]``, on ``topic``, never retained.

* ``qos=0`` (default): fire and forget. ``qos=1``: each PUBLISH carries a
  packet id and ``on_next`` waits for the broker's PUBACK.
* ``keepalive`` seconds (0 turns it off) is sent in CONNECT; when that long
  has passed since the last packet, ``on_next`` first sends PINGREQ and
  waits for PINGRESP. Choose a keepalive longer than the sample interval,
  or the broker drops the idle connection (1.5 x keepalive) between events.
* A broken connection (write error, EOF seen before a publish, missing
  PUBACK/PINGRESP) is closed and reopened with a clean session, backing off
  0.5 s, 1 s, 2 s ... up to 30 s between tries and printing each step, like
  ``umqtt.robust``; ``on_next`` blocks until the event is sent (a QoS 1
  event may then arrive twice, which QoS 1 allows).
* Errors name the broker, as the native module's do: a refused TCP
  connection raises ``OSError(111, 'MQTT broker HOST:PORT refused
  connection')`` (printed ``[Errno 111] ECONNREFUSED: MQTT broker ...``),
  another socket error ``OSError(errno, 'cannot connect to MQTT broker
  HOST:PORT')``, a name that does not resolve ``OSError('cannot resolve
  MQTT broker host HOST: ...')``, a refused CONNACK ``OSError('MQTT broker
  refused the connection: REASON (CONNACK code N)')``. Bad arguments
  raise ``ValueError``.
* ``on_completed()`` sends DISCONNECT and closes; ``on_error(e)`` does the
  same after printing ``e``.

Injecting a transport (used by ``bench/bench_device.py``; the native module
has the same hook): ``MQTTWriter(..., sock=obj)`` runs the MQTT handshake
over ``obj`` instead of opening a TCP connection to ``host:port``. ``obj``
needs the MicroPython stream methods ``write(buf, off, n)`` (returns the
count written), ``readinto(buf, n)`` (returns the count read, 0 at EOF,
None when nothing is pending on a non-blocking stream), ``settimeout(t)``
and ``close()``. A reconnect after a failure always opens a real socket.

Heap use per event is kept low: the JSON is written by ``json.dump`` into a
reused ``io.BytesIO`` and copied into a reused frame ``bytearray``, which
is sent with one ``write`` call.
"""

import io
import json
import socket
from micropython import const

try:
    from time import ticks_ms, ticks_diff, sleep_ms
except ImportError:  # CPython, for tooling only
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def sleep_ms(ms):
        _t.sleep(ms / 1000)

# Control packet types (first byte of the fixed header).
_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)

_HDR = const(5)  # room for the fixed header: type byte + up to 4 length bytes
_MAX_REMAINING = const(268435455)
_TIMEOUT_S = const(10)  # socket timeout for the handshake, acks and writes
_BACKOFF_MIN_MS = const(500)
_BACKOFF_MAX_MS = const(30000)
_ECONNREFUSED = const(111)

_CONNACK_REASONS = (
    None,
    'unacceptable protocol version',
    'client identifier rejected',
    'server unavailable',
    'bad user name or password',
    'not authorized',
)


def _connack_error(code):
    if 0 < code < len(_CONNACK_REASONS):
        reason = _CONNACK_REASONS[code]
    else:
        reason = 'unknown return code'
    return OSError('MQTT broker refused the connection: %s (CONNACK code %d)'
                   % (reason, code))


def _errno(e):
    a = e.args
    return a[0] if a and isinstance(a[0], int) else 0


def _put_str(buf, i, b):
    # MQTT UTF-8 string: 16-bit big-endian length, then the bytes.
    n = len(b)
    buf[i] = n >> 8
    buf[i + 1] = n & 0xFF
    buf[i + 2:i + 2 + n] = b
    return i + 2 + n


def _len_bytes(n):
    # Size of the "remaining length" field (1..4 bytes, 7 bits each).
    if n < 0x80:
        return 1
    if n < 0x4000:
        return 2
    if n < 0x200000:
        return 3
    return 4


def _put_len(buf, i, n):
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            buf[i] = b | 0x80
            i += 1
        else:
            buf[i] = b
            return i + 1


def _utf8(name, value):
    if isinstance(value, str):
        value = value.encode('utf-8')
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError('%s must be a str or bytes, got %r' % (name, value))
    if len(value) > 0xFFFF:
        raise ValueError('%s is longer than 65535 bytes' % name)
    return bytes(value)


class MQTTWriter:
    """Publishes each ThingFlow event to an MQTT broker (see module docs)."""

    def __init__(self, name, host, port=1883, topic='sensor-data', qos=0,
                 keepalive=60, user=None, password=None, sock=None):
        if not (isinstance(port, int) and 1 <= port <= 65535):
            raise ValueError('port must be 1..65535, got %r' % (port,))
        if qos not in (0, 1):
            raise ValueError('qos must be 0 or 1, got %r' % (qos,))
        if not 0 <= keepalive <= 0xFFFF:
            raise ValueError('keepalive must be 0..65535 s, got %r'
                             % (keepalive,))
        if password is not None and user is None:
            raise ValueError('MQTT 3.1.1 needs a user name to send a password')
        self._client_id = _utf8('name', name)
        topic_b = _utf8('topic', topic)
        if not topic_b or b'+' in topic_b or b'#' in topic_b:
            raise ValueError('topic must be non-empty with no wildcards, got %r'
                             % (topic,))
        self._user = None if user is None else _utf8('user', user)
        self._password = None if password is None else _utf8('password',
                                                             password)
        self.host = host
        self.port = port
        self.topic = topic
        self._qos = qos
        self._keepalive_ms = keepalive * 1000
        self._keepalive = keepalive
        self._topic_b = topic_b
        self._pid = 0
        self._sock = None
        self._last_tx = 0
        self._rbuf = bytearray(4)
        self._json = io.BytesIO(128)
        self._alloc_frame(128)
        self._open(sock)

    # -- ThingFlow subscriber API ----------------------------------------

    def on_next(self, x):
        """Publish ``json.dumps(x)``; reconnects until it is sent."""
        n = self._encode(x)
        while True:
            try:
                if self._sock is None:
                    raise OSError('not connected')
                self._check_link()
                self._publish(n)
                return
            except OSError as e:
                self._reconnect(e)

    def on_error(self, e):
        print('Disconnecting from MQTT broker due to error: %r' % (e,))
        self._disconnect()

    def on_completed(self):
        print('Disconnecting from MQTT broker')
        self._disconnect()

    # -- frame building --------------------------------------------------

    def _alloc_frame(self, payload_cap):
        # Layout: [_HDR bytes of fixed-header room][topic string]
        # [packet id if QoS 1][payload]; the header is written right-aligned
        # just before the topic, so the frame is one contiguous slice.
        self._payload_at = _HDR + 2 + len(self._topic_b) + (2 if self._qos
                                                            else 0)
        self._buf = bytearray(self._payload_at + payload_cap)
        _put_str(self._buf, _HDR, self._topic_b)
        self._payload_view = memoryview(self._buf)[self._payload_at:]

    def _encode(self, x):
        j = self._json
        j.seek(0)
        json.dump(x, j)
        n = j.tell()
        if self._payload_at - _HDR + n > _MAX_REMAINING:
            raise ValueError('event too large for one MQTT packet')
        if n > len(self._payload_view):
            self._alloc_frame(n + 32)
        j.seek(0)
        j.readinto(self._payload_view, n)
        return n

    def _publish(self, n):
        buf = self._buf
        rem = self._payload_at - _HDR + n
        start = _HDR - 1 - _len_bytes(rem)
        buf[start] = _PUBLISH | (self._qos << 1)  # DUP=0, RETAIN=0
        _put_len(buf, start + 1, rem)
        if self._qos:
            pid = self._pid % 0xFFFF + 1  # 1..65535, never 0
            self._pid = pid
            buf[self._payload_at - 2] = pid >> 8
            buf[self._payload_at - 1] = pid & 0xFF
        self._send(buf, start, _HDR - start + rem)
        if self._qos:
            self._wait_for(_PUBACK, pid)

    # -- socket I/O -------------------------------------------------------

    def _send(self, buf, off, n):
        w = self._sock.write(buf, off, n)
        if w != n:
            raise OSError('short write to MQTT broker (%r of %d bytes)'
                          % (w, n))
        self._last_tx = ticks_ms()

    def _read_exact(self, buf, n):
        r = self._sock.readinto(buf, n)
        if r is None:  # unix port: a timed-out read reports EAGAIN as None
            raise OSError('timed out waiting for the MQTT broker')
        if r != n:
            raise OSError('connection closed by the MQTT broker')

    def _read_packet(self, first=-1):
        """Read one packet (its first byte already read if ``first`` >= 0).
        Returns ``(type_byte, length)``; up to 4 body bytes land in _rbuf."""
        rb = self._rbuf
        if first < 0:
            self._read_exact(rb, 1)
            first = rb[0]
        n = 0
        shift = 0
        while True:
            self._read_exact(rb, 1)
            n |= (rb[0] & 0x7F) << shift
            if not rb[0] & 0x80:
                break
            shift += 7
            if shift > 21:
                raise OSError('malformed packet length from the MQTT broker')
        if n <= 4:
            if n:
                self._read_exact(rb, n)
        else:  # nothing this long is expected; skip it
            left = n
            while left:
                k = 4 if left > 4 else left
                self._read_exact(rb, k)
                left -= k
            rb[0] = rb[1] = 0
        return first, n

    def _wait_for(self, ptype, pid=-1):
        # Skip unrelated packets (a late PINGRESP, an old PUBACK).
        while True:
            t, n = self._read_packet()
            if t & 0xF0 != ptype:
                continue
            if pid < 0:
                return
            if n == 2 and (self._rbuf[0] << 8 | self._rbuf[1]) == pid:
                return

    def _check_link(self):
        """Before a publish: notice a connection the broker closed (so the
        event is not written into a dead socket) and ping when due."""
        s = self._sock
        s.settimeout(0)
        try:
            r = s.readinto(self._rbuf, 1)
        finally:
            s.settimeout(_TIMEOUT_S)
        if r == 0:
            raise OSError('connection closed by the MQTT broker')
        if r:
            self._read_packet(self._rbuf[0])  # stray packet: read and drop
        if self._keepalive_ms and ticks_diff(ticks_ms(), self._last_tx) \
                >= self._keepalive_ms:
            self._rbuf[0] = _PINGREQ
            self._rbuf[1] = 0
            self._send(self._rbuf, 0, 2)
            self._wait_for(_PINGRESP)

    def _connect_packet(self):
        flags = 0x02  # clean session
        size = 10 + 2 + len(self._client_id)
        if self._user is not None:
            flags |= 0x80
            size += 2 + len(self._user)
        if self._password is not None:
            flags |= 0x40
            size += 2 + len(self._password)
        p = bytearray(1 + _len_bytes(size) + size)
        p[0] = _CONNECT
        i = _put_len(p, 1, size)
        i = _put_str(p, i, b'MQTT')
        p[i] = 4  # protocol level 4 = MQTT 3.1.1
        p[i + 1] = flags
        p[i + 2] = self._keepalive >> 8
        p[i + 3] = self._keepalive & 0xFF
        i = _put_str(p, i + 4, self._client_id)
        if self._user is not None:
            i = _put_str(p, i, self._user)
        if self._password is not None:
            i = _put_str(p, i, self._password)
        return p

    def _open(self, sock=None):
        print('Connecting to %s:%s' % (self.host, self.port))
        if sock is None:
            sock = self._dial()
        self._sock = sock
        try:
            sock.settimeout(_TIMEOUT_S)
            p = self._connect_packet()
            self._send(p, 0, len(p))
            t, n = self._read_packet()
            if t != _CONNACK or n != 2:
                raise OSError('expected CONNACK from the MQTT broker, got '
                              'packet type 0x%02x' % t)
            if self._rbuf[1]:
                raise _connack_error(self._rbuf[1])
        except BaseException:
            self._sock = None
            sock.close()
            raise
        print('Connection successful')

    def _dial(self):
        # The same messages as the native module: they name the broker.
        where = '%s:%s' % (self.host, self.port)
        try:
            ai = socket.getaddrinfo(self.host, self.port, 0,
                                    socket.SOCK_STREAM)[0]
        except OSError as e:
            raise OSError('cannot resolve MQTT broker host %s: %s'
                          % (self.host, e))
        sock = socket.socket(ai[0], ai[1], ai[2])
        try:
            sock.settimeout(_TIMEOUT_S)
            sock.connect(ai[-1])
        except OSError as e:
            sock.close()
            code = _errno(e)
            if code == _ECONNREFUSED:
                raise OSError(code, 'MQTT broker %s refused connection' % where)
            if code:
                raise OSError(code, 'cannot connect to MQTT broker %s' % where)
            raise OSError('cannot connect to MQTT broker %s: %s' % (where, e))
        except BaseException:
            sock.close()
            raise
        return sock

    def _reconnect(self, err):
        print('MQTT connection to %s:%s lost (%s); reconnecting'
              % (self.host, self.port, err))
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        delay = _BACKOFF_MIN_MS
        attempt = 1
        while True:
            try:
                self._open()
                return
            except OSError as e:
                print('Reconnect attempt %d failed (%s); retrying in %d ms'
                      % (attempt, e, delay))
            sleep_ms(delay)
            delay = min(delay * 2, _BACKOFF_MAX_MS)
            attempt += 1

    def _disconnect(self):
        s = self._sock
        if s is None:
            return
        self._sock = None
        try:
            self._rbuf[0] = _DISCONNECT
            self._rbuf[1] = 0
            s.write(self._rbuf, 0, 2)
        except OSError:
            pass  # the broker is gone anyway; nothing to flush
        s.close()
