# MicroPython script: every byte the writer sends, captured by a scripted socket.
#
#   MICROPYPATH=build/x64 micropython capture_frames.py QOS
#
# CaptureSocket answers CONNECT with CONNACK and, at QoS 1, each PUBLISH with the PUBACK for
# its packet id. Prints "JSON {...}" lines: each write as hex, and for each event the text of
# json.dumps(event), so the test can decode the frames independently and compare.
import gc
import json
import sys

from mqtt_writer import MQTTWriter

qos = int(sys.argv[1])


class CaptureSocket:
    def __init__(self):
        self.pending = bytearray(b"\x20\x02\x00\x00")  # CONNACK, accepted

    def write(self, buf, off=0, n=-1):
        data = bytes(buf[off:off + n])
        print("JSON " + json.dumps({"write": data.hex()}))
        if data[0] & 0xF0 == 0x30 and data[0] & 0x06:  # PUBLISH QoS 1: ack its packet id
            i, rem, shift = 1, 0, 0
            while True:
                rem |= (data[i] & 0x7F) << shift
                i += 1
                if not data[i - 1] & 0x80:
                    break
                shift += 7
            tlen = data[i] << 8 | data[i + 1]
            pid = data[i + 2 + tlen:i + 4 + tlen]
            self.pending += b"\x40\x02" + pid
        return n

    def readinto(self, buf, n=-1):
        if not self.pending:
            return None
        k = min(n, len(self.pending))
        buf[:k] = self.pending[:k]
        self.pending = self.pending[k:]
        return k

    def settimeout(self, t):
        pass

    def close(self):
        pass


events = [("lux-1", 624, 284.1312), ("lux-1", 626, 288.2113)]
# Remaining length crosses 127/128 and 16383/16384.
events += [("s" * k, k, k / 7) for k in range(95, 135, 3)]
events += [("s" * k, k, -k / 7) for k in range(16330, 16380, 7)]
events += [("big", 10 ** 25, [1, None, True, "é\u0001\""])]
w = MQTTWriter("cap-1", "capture.invalid", 1883, "site/sensor-data", qos=qos, keepalive=30,
               user="alice", password="pw", sock=CaptureSocket())
for e in events:
    print("JSON " + json.dumps({"event": json.dumps(e)}))
    w.on_next(e)
    # The instance keeps its frame buffer alive: garbage and a collection change nothing.
    junk = [bytearray(64) for _ in range(50)]
    junk = None
    gc.collect()
w.on_completed()
