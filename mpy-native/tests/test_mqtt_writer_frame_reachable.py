"""Issue 9's soundness rule "never `&mut` (or a held pointer) to memory the runtime can reach
across a runtime call", for the one buffer of ours that Python reaches while Rust writes it:
mqtt_writer's frame `bytearray`. A socket object's `write(buf, off, n)` gets the frame (so it can
keep it), and printing an event as JSON runs Python code (a `__repr__`). Here that code grows
the kept frame (its memory moves, the old block is freed and handed to new bytearrays): the
writer must print the rest of the event into the frame's new memory, losing nothing, and never
write to the freed block. Real MicroPython runtime, build/x64/mqtt_writer.mpy."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "mpy-scripts" / "tests"))
import mpyrun  # noqa: E402

SCRIPT = r"""
import json
from mqtt_writer import MQTTWriter


class KeepingSocket:  # answers CONNECT with CONNACK, records every write, keeps the last buffer
    def __init__(self):
        self.pending = bytearray(b"\x20\x02\x00\x00")
        self.writes = []
        self.kept = None

    def write(self, buf, off=0, n=-1):
        self.kept = buf
        self.writes.append(bytes(buf[off:off + n]))
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


victims = []


class Mover:
    armed = False

    def __repr__(self):
        if Mover.armed:
            Mover.armed = False
            old = len(sock.kept)
            sock.kept.extend(bytes(65536))  # the frame's memory moves; the old block is freed
            for _ in range(40):
                victims.append(bytearray(old))  # new objects in the freed memory
        return "1234567890"


sock = KeepingSocket()
w = MQTTWriter("keep-1", "keep.invalid", 1883, "t", sock=sock)
event = ("id", [Mover()] * 6)
w.on_next(event)  # the frame is now in sock.kept
Mover.armed = True
w.on_next(event)
w.on_next(event)
want = json.dumps(event).encode()
print("moved", not Mover.armed)
print("payloads", [p.endswith(b"t" + want) for p in sock.writes[1:]])
print("victims untouched", sum(v == bytearray(len(v)) for v in victims), "of", len(victims))
"""


def test_frame_resized_by_python_while_printing_loses_nothing():
    assert (REPO / "build" / "x64" / "mqtt_writer.mpy").exists(), "run `make natmods` first"
    # Exits 0 or raises MpyError (an AssertionError) with the output.
    out = mpyrun.run(SCRIPT, [REPO / "build" / "x64"], timeout=60)
    assert "moved True" in out, out
    assert "payloads [True, True, True]" in out, out
    assert "victims untouched 40 of 40" in out, out
