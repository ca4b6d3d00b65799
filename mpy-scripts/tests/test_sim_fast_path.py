"""The simulator's fast path behaves exactly like its checked path.

``SimTsl2591.writeto`` and ``readfrom_mem_into`` have an inlined fast path
(compiled with ``@micropython.native`` on MicroPython) for the transfers
the drivers make on every sample; ``fast = False`` forces the checked
reference path. Here two buses get the same long, deterministic stream of
transfers (valid ones, edge cases, malformed ones, faults, logging) and
must agree after every step on the result or error, the caller's buffer,
the registers, the pointer, the counters and the pending-integration
count. The stream is checked on MicroPython (where the fast path is
native code) and on CPython; a spy on the fast bus's checked methods
proves both paths were exercised.
"""

import sys

import mpyrun

DIFF = r'''
from sim_tsl2591 import SimTsl2591

class Rng:
    """A tiny LCG, so MicroPython and CPython see the same stream."""
    def __init__(self, seed):
        self.x = seed
    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n

WRITES = [b'\xa0\x13', b'\xa0\x03', b'\xa0\x01', b'\xa0\x02', b'\xa0\x00',
          b'\xa1\x25', b'\xa1\x10', b'\xb4', b'\xb6', b'\xbf', b'\xa1\x05',
          b'\xa1\x80', b'\xa1\x93', b'\xa2\x07', b'\xb2\x00', b'\xb3\xff', b'\xa0',
          b'\xa0\x13\x05', b'\xe7', b'\x12\x00', b'\x80\x00', b'']
READS = [(0xB3, 5), (0xB4, 4), (0xB2, 1), (0xB3, 1), (0xB6, 2), (0xA0, 2),
         (0xBF, 1), (0xBF, 2), (0xBE, 4), (0xB0, 0), (0xAA, 1), (0x93, 1), (0xE0, 1),
         (0x1B3, 5)]

def state(bus):
    return (bytes(bus.regs), bus.ptr, bus.writes, bus.reads, bus._pending,
            bus.enabled, bus.integration, bus.gain)

def outcome(fn, *args):
    try:
        return ('ok', fn(*args))
    except Exception as e:
        return (type(e).__name__, e.args)

def make_buf(kind, n):
    if kind == 0:
        return bytearray(n)
    if kind == 1:
        return memoryview(bytearray(n + 2))[1:1 + n]
    if kind == 2:
        return bytes(n)  # read-only: the copy must fail the same way
    return [0] * n

def run(steps, seed):
    fast = SimTsl2591()
    slow = SimTsl2591()
    slow.fast = False
    spied = {'writeto': 0, 'read': 0, 'readfrom_into': 0}
    checked_w = fast._writeto_checked
    checked_r = fast._readfrom_mem_into_checked
    checked_p = fast._readfrom_into_checked
    def spy_w(addr, buf):
        spied['writeto'] += 1
        return checked_w(addr, buf)
    def spy_r(addr, memaddr, buf):
        spied['read'] += 1
        return checked_r(addr, memaddr, buf)
    def spy_p(addr, buf):
        spied['readfrom_into'] += 1
        return checked_p(addr, buf)
    fast._writeto_checked = spy_w
    fast._readfrom_mem_into_checked = spy_r
    fast._readfrom_into_checked = spy_p
    rng = Rng(seed)
    calls = {'writeto': 0, 'read': 0, 'readfrom_into': 0}
    for step in range(steps):
        r = rng.below(100)
        if r < 3:
            ch = (rng.below(0x10000), rng.below(0x10000))
            for b in (fast, slow):
                b.set_channels(*ch)
        elif r < 8:
            v = rng.below(4)
            for b in (fast, slow):
                b.not_ready_reads = v
        elif r < 12:
            # Mostly healthy; sometimes a fault, logging or lax checking.
            mode = rng.below(10)
            for b in (fast, slow):
                b.fail_bus = mode == 0
                b.present = mode != 1
                b.log = [] if mode == 2 else None
                b.strict = mode != 3
        elif r < 55:
            data = WRITES[rng.below(10)] if rng.below(3) \
                else WRITES[rng.below(len(WRITES))]
            kind = rng.below(3)
            addr = 0x29 if rng.below(10) else 0x28
            calls['writeto'] += 1
            got = []
            for b in (fast, slow):
                buf = bytearray(data) if kind == 0 else \
                    (list(data) if kind == 1 else data)
                got.append(outcome(b.writeto, addr, buf))
            assert got[0] == got[1], (step, data, got)
        elif r < 70:
            # A plain read from the pointer the last transfer left.
            n = rng.below(6)
            kind = rng.below(4) if rng.below(4) == 0 else 0
            addr = 0x29 if rng.below(10) else 0x28
            calls['readfrom_into'] += 1
            got = []
            for b in (fast, slow):
                buf = make_buf(kind, n)
                res = outcome(b.readfrom_into, addr, buf)
                got.append((res, bytes(buf)))
            assert got[0] == got[1], (step, n, kind, got)
        else:
            memaddr, n = READS[rng.below(len(READS))] if rng.below(3) \
                else READS[0]
            kind = rng.below(4) if rng.below(4) == 0 else 0
            addr = 0x29 if rng.below(10) else 0x28
            calls['read'] += 1
            got = []
            for b in (fast, slow):
                buf = make_buf(kind, n)
                res = outcome(b.readfrom_mem_into, addr, memaddr, buf)
                got.append((res, bytes(buf)))
            assert got[0] == got[1], (step, hex(memaddr), n, kind, got)
        sf, ss = state(fast), state(slow)
        assert sf == ss, (step, sf, ss)
        assert fast.log == slow.log, (step, fast.log, slow.log)
    return calls, spied
'''


def check(calls, spied):
    # The fast bus took its checked path for some calls and its fast path
    # for many: both were compared against the reference.
    for kind in ("writeto", "read", "readfrom_into"):
        assert spied[kind] >= 50, (kind, calls, spied)
        assert calls[kind] - spied[kind] >= calls[kind] // 3, (kind, calls, spied)


def test_fast_path_matches_checked_path_micropython():
    code = DIFF + """
import json
print('JSON', json.dumps(run(4000, 12345)))
"""
    [(calls, spied)] = mpyrun.run_json(code, [mpyrun.SIM_DIR], timeout=60)
    assert sum(calls.values()) > 3000
    check(calls, spied)


def test_fast_path_matches_checked_path_cpython():
    sys.path.insert(0, str(mpyrun.SIM_DIR))
    try:
        ns = {}
        exec(DIFF, ns)
        calls, spied = ns["run"](4000, 777)
    finally:
        sys.path.remove(str(mpyrun.SIM_DIR))
        sys.modules.pop("sim_tsl2591", None)
    check(calls, spied)

