"""MEASUREMENT BASELINE, NOT FOR DEPLOYMENT: the tutorial's MQTT writer
costs, reproduced so bench/run_bench.py can put them next to ours.

Written by us from the facts in shared/reference/seed-behaviour.md (no
code taken from the tutorial). Per event it does what the tutorial's
writer does, the same way: ``json.dumps(event)`` into a new string, encode
it to new bytes, and build the PUBLISH frame by concatenating new bytes
objects: ``bytes([0x31, remaining])`` (QoS 0 with RETAIN set, by accident
in the tutorial) + the 2-byte topic length + the topic encoded again +
the payload, sent with one ``send``.

Known flaws kept on purpose (they are what is being measured): the
remaining length is ONE byte, so a frame over 127 bytes is malformed
(``bytes([...])`` raises ValueError past 255); RETAIN is set; CONNECT has
keepalive 0xFFFF and no PINGREQ is ever sent; no reconnect; no QoS 1.

Bench hook, as in our writer: ``MQTTWriter(name, host, port=1883,
topic='sensor-data', qos=0, keepalive=60, user=None, password=None,
sock=None)``; ``sock`` (an object with ``send(b)`` and ``recv(n)``) is used
instead of a TCP connection to ``host:port``. ``qos``, ``keepalive``,
``user`` and ``password`` exist only for the same signature: the tutorial
had none of them, so anything but the defaults raises ValueError.
"""

import json
import socket

_CONNECT = 0x10
_PUBLISH_RETAIN = 0x31  # PUBLISH, QoS 0, RETAIN: what the tutorial sent
_DISCONNECT = 0xE0


def _mqtt_string(text):
    return bytes([len(text) >> 8, len(text) & 0xFF]) + text.encode('utf-8')


def _packet(first, variable, payload):
    # One-byte remaining length, as the tutorial.
    return bytes([first, len(variable) + len(payload)]) + variable + payload


class MQTTWriter:
    """The tutorial's writer, for measurement only (see the module doc)."""

    def __init__(self, name, host, port=1883, topic='sensor-data', qos=0,
                 keepalive=60, user=None, password=None, sock=None):
        if qos != 0 or keepalive != 60 or user is not None \
                or password is not None:
            raise ValueError('the tutorial baseline has QoS 0, keepalive '
                             '0xFFFF and no login only')
        self.topic = topic
        print('Connecting to %s:%s' % (host, port))
        if sock is None:
            addr = socket.getaddrinfo(host, port)[0][-1]
            sock = socket.socket()
            sock.connect(addr)
        self._sock = sock
        # CONNECT: "MQTT", level 4, clean session, keepalive 0xFFFF.
        sock.send(_packet(_CONNECT, _mqtt_string('MQTT')
                          + b'\x04\x02\xff\xff', _mqtt_string(name)))
        head = sock.recv(2)
        sock.recv(head[1])  # CONNACK body, not checked (as the tutorial)
        print('Connection successful')

    def on_next(self, x):
        data = bytes(json.dumps(x), 'utf-8')
        self._sock.send(_packet(_PUBLISH_RETAIN, _mqtt_string(self.topic),
                                data))

    def _disconnect(self):
        self._sock.send(bytes([_DISCONNECT, 0]))
        self._sock.close()

    def on_completed(self):
        print('Disconnecting from queue')
        self._disconnect()

    def on_error(self, e):
        print('Disconnecting from queue due to error: %s' % e)
        self._disconnect()
