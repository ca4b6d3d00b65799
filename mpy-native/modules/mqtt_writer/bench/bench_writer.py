# MicroPython side of run_writer_bench.py: per-event cost of MQTTWriter.on_next.
#
#   MICROPYPATH=<impl dir> micropython bench_writer.py N [PORT]
#
# Whichever mqtt_writer comes first on sys.path (fallback .py or native .mpy) is measured:
#   discard-short   the tutorial event, over a discard socket (sock= hook): encoding + framing
#   discard-long    a float needing 17 digits and a 40-char id: the slow float path
#   broker-qos0     the tutorial event over TCP to mosquitto on 127.0.0.1:PORT
#   broker-qos1     the same, waiting for each PUBACK
# Time with time.ticks_us and the GC enabled; heap from gc.mem_alloc() over min(N, 500)
# events with the GC disabled. One "BENCH {json}" line per phase.
import gc
import json
import sys
import time

import mqtt_writer
from mqtt_writer import MQTTWriter

CONNACK = b"\x20\x02\x00\x00"


class DiscardSocket:
    def __init__(self):
        self.pos = 0

    def write(self, buf, off=0, n=-1):
        return n

    def readinto(self, buf, n=-1):
        if self.pos >= len(CONNACK):
            return None
        k = min(n, len(CONNACK) - self.pos)
        buf[:k] = CONNACK[self.pos:self.pos + k]
        self.pos += k
        return k

    def settimeout(self, t):
        pass

    def close(self):
        pass


def measure(name, w, ev, n):
    for _ in range(20):
        w.on_next(ev)
    gc.collect()
    t0 = time.ticks_us()
    for _ in range(n):
        w.on_next(ev)
    us = time.ticks_diff(time.ticks_us(), t0)
    m = min(n, 500)
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        for _ in range(m):
            w.on_next(ev)
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    print("BENCH " + json.dumps({"phase": name, "us_per_event": us / n,
                                 "bytes_per_event": (a1 - a0) / m}))


def main():
    n = int(sys.argv[1])
    short = ("lux-1", 624, 284.1312)
    long_ = ("lux-" + "x" * 36, 1484535480, 1 / 3 * 1000)
    w = MQTTWriter("bench", "discard.invalid", 1883, "sensor-data", sock=DiscardSocket())
    measure("discard-short", w, short, n)
    measure("discard-long", w, long_, n)
    w.on_completed()
    if len(sys.argv) > 2:
        port = int(sys.argv[2])
        for qos in (0, 1):
            w = MQTTWriter("bench", "127.0.0.1", port, "sensor-data", qos=qos)
            measure("broker-qos%d" % qos, w, short, n if qos == 0 else max(n // 4, 1))
            w.on_completed()
    print("INFO " + json.dumps({"mqtt_writer": getattr(mqtt_writer, "__file__", "?")}))


main()
