"""Per-call cost of ``tsl.sample()`` on the firmware's own machine.I2C (a C type, as on a
board: port/modmachine.c), run by bench_esp8266.py (as .mpy bytecode) after the drivers are
imported.

``Tsl2591('lux-1')`` opens ``machine.I2C(scl=Pin(5), sda=Pin(4))`` itself, as on a board; the
firmware's simulated TSL2591 answers with the raw counts (611, 284). The bus has no
``no_wait``, so the drivers call ``time.sleep_ms`` for the integration time, as on a board (the
port's sleep_ms advances the clock without executing anything).

Instructions (``esp.icount()``, QEMU -icount) per call: N calls minus the same loop with an
empty body; the firmware meters its bus methods and time.sleep_ms in C (CCOUNT at the call
of each method's body and after it, summed per method), read with ``machine.sim_meter(True,
row)`` into lists made before the first round, so nothing is allocated inside a loop or
between rounds; ``machine.sim_meter_calibrate()`` gives the
metering's own cost (the host subtracts it). Check: the same driver on
``machine.SimI2CUnmetered`` (the same bus, its method table without the metering) gives the
metered total less the whole metering (only its time.sleep_ms is still metered). Warm-up of WARM calls, R rounds, the GC collected
before and disabled during each loop. Heap: gc.mem_alloc() before/after M calls. Prints one
line ``JSON {...}``.
"""

import gc
import json

import esp
import machine
from tsl2591 import Tsl2591

_icount = esp.icount
N = 20      # calls per measured loop
R = 5       # rounds
WARM = 10   # calls before the first round
M = 8       # calls for the heap figure


def loop_empty(f, n):
    for _ in range(n):
        pass


def loop_call(f, n):
    for _ in range(n):
        f()


def insns(loop, f, n):
    """Instructions of loop(f, n), GC collected before and disabled during it."""
    gc.collect()
    gc.disable()
    i0 = _icount()
    loop(f, n)
    i1 = _icount()
    gc.enable()
    return (i1 - i0) & 0x3fffffff


def heap(f):
    loop_call(f, 2)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    loop_call(f, M)
    b = gc.mem_alloc()
    gc.enable()
    return (b - a) / M


machine.sim_tsl2591(611, 284)
tsl = Tsl2591('lux-1')
sample = tsl.sample
# The check: the same driver on the same bus without the metering (machine.SimI2CUnmetered).
plain = Tsl2591('lux-1', i2c=machine.SimI2CUnmetered(scl=machine.Pin(5), sda=machine.Pin(4)))
plain_sample = plain.sample
cal = machine.sim_meter_calibrate()
names = [m[:2] for m in machine.sim_meter()]   # (name, kind) per metered function
# Everything the rounds keep exists before the first round: the heap is the same in every
# round (a bytecode frame too big for the C stack is allocated and freed on the heap, and
# that costs more on a fuller heap).
rounds = [[0, [0] * 14, 0, [0] * 14] for _ in range(R)]
scratch = [0] * 14
loop_call(sample, WARM)
loop_call(plain_sample, WARM)
for row in rounds:
    empty = insns(loop_empty, sample, N)
    machine.sim_meter(True, scratch)
    row[0] = insns(loop_call, sample, N) - empty
    machine.sim_meter(True, row[1])
    row[2] = insns(loop_call, plain_sample, N) - empty
    machine.sim_meter(True, row[3])
print('JSON', json.dumps({
    'N': N, 'R': R, 'cal': cal, 'names': names, 'rounds': rounds, 'heap': heap(sample),
    'lux': sample(), 'bus': repr(tsl.i2c),
}))
