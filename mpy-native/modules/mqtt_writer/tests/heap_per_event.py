# MicroPython script: heap bytes allocated per on_next() in steady state.
#
#   MICROPYPATH=build/x64 micropython heap_per_event.py stub|broker PORT QOS
#
# "stub" runs the writer over NullSocket (methods path; the stub itself allocates nothing),
# "broker" over a real TCP socket to a broker on 127.0.0.1:PORT (native stream path).
# For each event shape: 10 warm-up events (the frame buffer grows once for long events), then
# gc.mem_alloc() before/after 1000 events with the GC disabled. A control row measures
# json.dumps on the same event, to show the method sees allocations. One "JSON {...}" line
# per row.
import gc
import json
import sys

from mqtt_writer import MQTTWriter

EVENTS = [
    ("lux-1", 624, 284.1312),
    ("lux-1", 1 << 40, -0.0),
    ("x" * 300, 1, 1e-7),  # 2-byte remaining length
    [1.5, None, True, "é\n"],
]
N = 1000


class NullSocket:
    """Answers CONNECT with CONNACK (one byte per read, to exercise partial reads), then has
    nothing to read; counts writes. Allocates nothing per call."""

    CONNACK = b"\x20\x02\x00\x00"

    def __init__(self):
        self.pos = 0
        self.writes = 0

    def write(self, buf, off=0, n=-1):
        self.writes += 1
        return n

    def readinto(self, buf, n=-1):
        if self.pos >= len(self.CONNACK):
            return None
        buf[0] = self.CONNACK[self.pos]
        self.pos += 1
        return 1

    def settimeout(self, t):
        pass

    def close(self):
        pass


def measure(step):
    for _ in range(10):
        step()
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        for _ in range(N):
            step()
        a1 = gc.mem_alloc()
    finally:
        gc.enable()
    return a1 - a0


mode = sys.argv[1]
qos = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if mode == "stub":
    sock = NullSocket()
    w = MQTTWriter("heap", "stub.invalid", 1883, "sensor-data", qos=0, sock=sock)
else:
    w = MQTTWriter("heap", "127.0.0.1", int(sys.argv[2]), "sensor-data", qos=qos)
for i, ev in enumerate(EVENTS):
    b = measure(lambda: w.on_next(ev))
    print("JSON " + json.dumps({"event": i, "what": "on_next", "bytes": b, "events": N}))
    b = measure(lambda: json.dumps(ev))
    print("JSON " + json.dumps({"event": i, "what": "json.dumps", "bytes": b, "events": N}))
w.on_completed()
if mode == "stub":
    print("JSON " + json.dumps({"writes": sock.writes}))
