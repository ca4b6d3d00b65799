"""A simulated `socket` module with an MQTT 3.1.1 broker behind it, for the esp8266-sim tests
(the simulator has no network). Put on the board as /socket.py.

``socket.socket(...)`` connects to ``broker``, which answers CONNECT with CONNACK (code
``broker.connack``), PUBLISH QoS 1 with PUBACK, PINGREQ with PINGRESP, and records every
packet it receives in ``broker.packets`` as ``(connection number, bytes)``. Knobs:
``broker.refuse`` (refuse that many connects, ECONNREFUSED), ``broker.eof_after`` (close
each connection after that many PUBLISH packets: the client sees EOF), ``broker.exit_after``
(raise SystemExit after that many PUBLISH packets in all: ends an endless main loop).
Command-line switches of the script (sys.argv): ``--exit-after=N`` sets ``exit_after``,
``--log`` prints each packet as it arrives (``JSON ["pkt", connection, hex]``).
"""

import sys

AF_INET = 2
SOCK_STREAM = 1


class Broker:
    def __init__(self):
        self.packets = []
        self.connections = 0
        self.publishes = 0
        self.refuse = 0
        self.connack = 0
        self.eof_after = None
        self.exit_after = None
        self.log = '--log' in sys.argv
        for a in sys.argv:
            if a.startswith('--exit-after='):
                self.exit_after = int(a[13:])


broker = Broker()


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    return [(AF_INET, SOCK_STREAM, 0, '', (host, port))]


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        self._in = bytearray()      # bytes the broker sent, not yet read
        self._out = bytearray()     # bytes written, not yet a whole packet
        self._open = False
        self._eof = False
        self._timeout = None
        self._pubs = 0
        self._n = 0

    def settimeout(self, t):
        self._timeout = t

    def setblocking(self, flag):
        self._timeout = None if flag else 0

    def connect(self, addr):
        if broker.refuse:
            broker.refuse -= 1
            raise OSError(111)
        broker.connections += 1
        self._n = broker.connections
        self._open = True

    def close(self):
        self._open = False

    def write(self, buf, off=0, n=None):
        if not self._open or self._eof:
            raise OSError(104)  # ECONNRESET
        if n is None:
            n = len(buf) - off
        self._out.extend(memoryview(buf)[off:off + n])
        self._parse()
        return n

    def send(self, buf):
        return self.write(buf)

    def readinto(self, buf, n=None):
        if n is None:
            n = len(buf)
        if not self._in:
            if self._eof:
                return 0
            if self._timeout == 0:
                return None
            raise OSError(110)  # ETIMEDOUT: the broker has nothing to say
        k = min(n, len(self._in))
        buf[:k] = self._in[:k]
        self._in = self._in[k:]
        return k

    def _parse(self):
        while len(self._out) >= 2:
            n, shift, i = 0, 0, 1
            while True:
                if i >= len(self._out):
                    return
                b = self._out[i]
                i += 1
                n |= (b & 0x7F) << shift
                if not b & 0x80:
                    break
                shift += 7
            if len(self._out) < i + n:
                return
            pkt = bytes(self._out[:i + n])
            self._out = self._out[i + n:]
            broker.packets.append((self._n, pkt))
            if broker.log:
                print('JSON ["pkt", %d, "%s"]' % (self._n, ''.join('%02x' % x for x in pkt)))
            self._answer(pkt, i)

    def _answer(self, pkt, body):
        t = pkt[0] & 0xF0
        if t == 0x10:                                   # CONNECT
            self._in.extend(bytes([0x20, 2, 0, broker.connack]))
        elif t == 0x30:                                 # PUBLISH
            broker.publishes += 1
            self._pubs += 1
            if pkt[0] & 0x06:                           # QoS 1: PUBACK with the packet id
                tl = pkt[body] << 8 | pkt[body + 1]
                pid = pkt[body + 2 + tl:body + 4 + tl]
                self._in.extend(bytes([0x40, 2]) + pid)
            if broker.exit_after is not None and broker.publishes >= broker.exit_after:
                raise SystemExit(0)
            if broker.eof_after is not None and self._pubs >= broker.eof_after:
                self._eof = True
        elif t == 0xC0:                                 # PINGREQ
            self._in.extend(bytes([0xD0, 0]))
