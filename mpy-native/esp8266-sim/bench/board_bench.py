"""Per-call cost on the simulated ESP8266, run by bench_esp8266.py (as .mpy bytecode).

``tsl2591`` and ``mqtt_writer`` are whichever implementation the runner put on the board
(imported first, right after boot). The sensor sits on the simulated bus (``sim_tsl2591``,
which tells drivers not to wait for the integration time), the writer gets a ``DiscardSocket``
through its ``sock=`` hook (the tutorial's writer: ``send``/``recv``).

Instructions (``esp.icount()``, QEMU -icount: deterministic, exact to 25 per reading) per
call, split in two:

* total: N calls on the plain bus (socket), minus the same loop with an empty body;
* inside the bus (socket) methods: the same driver on a metered bus (socket): a copy of the
  plain class (not a subclass: on an instance of a subclass the same bodies cost hundreds of
  instructions more) whose every method reads ``esp.icount()`` at entry and at exit around
  the call of the plain class's own method and adds the difference up. The metered methods
  are native code (no frame on the heap) and reach everything through default arguments (no
  global or attribute lookup of their own, which would disturb the runtime's map-lookup
  cache: one cache shared by all lookups, indexed by the name). The metering inside the
  window (two ``icount`` calls, the inner call) is calibrated per method by the same metered
  method around a do-nothing function of the same signature and kind, and subtracted. So
  "inside" is the methods' bodies; calling them (lookup, arguments, the Python method's frame
  set-up) is the caller's;
* the driver's (writer's) own work = total - inside.

Check: the metered run's total minus the whole metering cost per call (metered do-nothing
method minus plain do-nothing method, each called from a loop) gives the total again. Also
measured: the call of a plain do-nothing method from bytecode, to show how much of the own
work is calling the bus.

The runner imports the drivers and the simulator before this script, so their names keep the
same qstr numbers (the cache's index) whatever this script holds. Counts are read after a
warm-up (the cache and the bus's state settle), R rounds each, with the GC collected before and
disabled during each loop; the rounds' result lists exist before the first round. Heap:
gc.mem_alloc() before/after M calls. Prints one line ``JSON {...}`` with the sums (integers).
"""

import gc
import json

import esp
import micropython
from mqtt_writer import MQTTWriter
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591

_icount = esp.icount
_CONNACK = b'\x20\x02\x00\x00'
N = 20      # calls per measured loop
R = 5       # rounds
WARM = 10   # calls before the first round
K = 50      # calls per calibration loop
M = 8       # calls for the heap figure


class DiscardSocket:
    """Answers CONNECT with CONNACK, then has nothing to read; counts and drops writes."""

    def __init__(self):
        self.pos = 0
        self.written = 0

    @micropython.native
    def write(self, buf, off=0, n=-1):
        if n < 0:
            n = len(buf) - off
        self.written += n
        return n

    @micropython.native
    def send(self, buf):
        n = len(buf)
        self.written += n
        return n

    @micropython.native
    def readinto(self, buf, n=-1):
        if self.pos >= 4:
            return None
        if n < 0:
            n = len(buf)
        n = min(n, 4 - self.pos)
        for i in range(n):
            buf[i] = _CONNACK[self.pos + i]
        self.pos += n
        return n

    def recv(self, n):
        b = bytearray(n)
        got = self.readinto(b, n) or 0
        return bytes(b[:got])

    def settimeout(self, t):
        pass

    def close(self):
        pass


# The plain bus's and socket's own methods (functions); calibration replaces them by
# do-nothing functions of the same signature and kind (NOPS, below).
METHODS = ('writeto', 'readfrom_into', 'readfrom', 'writeto_mem', 'readfrom_mem_into',
           'readfrom_mem', 'write', 'send', 'readinto', 'recv')
PLAIN = tuple(getattr(SimTsl2591, m) for m in METHODS[:6]) + \
    tuple(getattr(DiscardSocket, m) for m in METHODS[6:])
OWNER = (SimTsl2591,) * 6 + (DiscardSocket,) * 4


@micropython.native
def _nop_addr_buf(self, addr, buf, stop=True):
    return None


def _nop_addr_n(self, addr, nbytes, stop=True):
    return None


def _nop_mem(self, addr, memaddr, buf, addrsize=8):
    return None


@micropython.native
def _nop_mem_native(self, addr, memaddr, buf, addrsize=8):
    return None


@micropython.native
def _nop_write(self, buf, off=0, n=-1):
    return None


@micropython.native
def _nop_send(self, buf):
    return None


@micropython.native
def _nop_readinto(self, buf, n=-1):
    return None


def _nop_recv(self, n):
    return None


# Do-nothing stand-ins, index for index with PLAIN (same kind: native or bytecode).
NOPS = (_nop_addr_buf, _nop_addr_buf, _nop_addr_n, _nop_mem, _nop_mem_native, _nop_mem,
        _nop_write, _nop_send, _nop_readinto, _nop_recv)

# Sums of the windows and call counts per method (index as METHODS); _depth[0] is 1 inside a
# metered method (the sim's readfrom calls readfrom_into: counted once, in the outer window).
inside = [0] * 10
calls = [0] * 10
_depth = [0]


def reset():
    for i in range(10):
        inside[i] = 0
        calls[i] = 0


def _copy_methods(src, dst):
    """Give ``dst`` every method of ``src`` it does not define itself: the metered classes are
    copies of the plain ones, not subclasses (on an instance of a subclass the same method
    bodies cost hundreds of instructions more per call here)."""
    for k in dir(src):
        if k.startswith('__') and k not in ('__init__', '__getattr__'):
            continue
        if k not in dir(dst):
            setattr(dst, k, getattr(src, k))


# The metered methods reach everything through default arguments (locals): no global or
# attribute lookup of their own, so they leave the runtime's map-lookup cache (shared by all
# lookups, indexed by the name) as the plain bus would; native code, so no frame on the heap.
def metered_bus(f):
    """A copy of SimTsl2591 whose machine.I2C methods call f[i] (index as METHODS) between two
    readings of esp.icount()."""

    class MeteredBus:
        __getattr__ = SimTsl2591.__getattr__

        @micropython.native
        def writeto(self, addr, buf, stop=True, _f=f[0], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, buf, stop)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, buf, stop)
            _in[0] += _ic() - t
            _n[0] += 1
            _d[0] = 0
            return r

        @micropython.native
        def readfrom_into(self, addr, buf, stop=True, _f=f[1], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, buf, stop)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, buf, stop)
            _in[1] += _ic() - t
            _n[1] += 1
            _d[0] = 0
            return r

        @micropython.native
        def readfrom(self, addr, nbytes, stop=True, _f=f[2], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, nbytes, stop)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, nbytes, stop)
            _in[2] += _ic() - t
            _n[2] += 1
            _d[0] = 0
            return r

        @micropython.native
        def writeto_mem(self, addr, memaddr, buf, addrsize=8, _f=f[3], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, memaddr, buf, addrsize)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, memaddr, buf, addrsize)
            _in[3] += _ic() - t
            _n[3] += 1
            _d[0] = 0
            return r

        @micropython.native
        def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8, _f=f[4], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, memaddr, buf, addrsize)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, memaddr, buf, addrsize)
            _in[4] += _ic() - t
            _n[4] += 1
            _d[0] = 0
            return r

        @micropython.native
        def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8, _f=f[5], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, addr, memaddr, nbytes, addrsize)
            _d[0] = 1
            t = _ic()
            r = _f(self, addr, memaddr, nbytes, addrsize)
            _in[5] += _ic() - t
            _n[5] += 1
            _d[0] = 0
            return r

    _copy_methods(SimTsl2591, MeteredBus)
    return MeteredBus()


def metered_socket(f):
    """A copy of DiscardSocket whose stream methods are metered the same way."""

    class MeteredSocket:

        @micropython.native
        def write(self, buf, off=0, n=-1, _f=f[6], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, buf, off, n)
            _d[0] = 1
            t = _ic()
            r = _f(self, buf, off, n)
            _in[6] += _ic() - t
            _n[6] += 1
            _d[0] = 0
            return r

        @micropython.native
        def send(self, buf, _f=f[7], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, buf)
            _d[0] = 1
            t = _ic()
            r = _f(self, buf)
            _in[7] += _ic() - t
            _n[7] += 1
            _d[0] = 0
            return r

        @micropython.native
        def readinto(self, buf, n=-1, _f=f[8], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, buf, n)
            _d[0] = 1
            t = _ic()
            r = _f(self, buf, n)
            _in[8] += _ic() - t
            _n[8] += 1
            _d[0] = 0
            return r

        @micropython.native
        def recv(self, n, _f=f[9], _ic=_icount, _in=inside, _n=calls, _d=_depth):
            if _d[0]:
                return _f(self, n)
            _d[0] = 1
            t = _ic()
            r = _f(self, n)
            _in[9] += _ic() - t
            _n[9] += 1
            _d[0] = 0
            return r

    _copy_methods(DiscardSocket, MeteredSocket)
    return MeteredSocket()


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


bus = SimTsl2591()
bus.set_channels(611, 284)
tsl = Tsl2591('lux-1', i2c=bus)
mbus = metered_bus(PLAIN)
mbus.set_channels(611, 284)
mtsl = Tsl2591('lux-1', i2c=mbus)

sock = DiscardSocket()
w = MQTTWriter('lux-1', 'bench', 1883, 'sensor-data', sock=sock)
msock = metered_socket(PLAIN)
mw = MQTTWriter('lux-1', 'bench', 1883, 'sensor-data', sock=msock)
ev = ('lux-1', 624, 284.1312)

# Calibration calls: a call of method i with typical arguments on the given object.
_b1, _b2, _b4 = bytearray(1), bytearray(2), bytearray(4)
CAL = (
    lambda o: o.writeto(0x29, _b2),
    lambda o: o.readfrom_into(0x29, _b4),
    lambda o: o.readfrom(0x29, 4),
    lambda o: o.writeto_mem(0x29, 0xA0, _b1),
    lambda o: o.readfrom_mem_into(0x29, 0xB3, _b4),
    lambda o: o.readfrom_mem(0x29, 0xB4, 4),
    lambda o: o.write(_b4, 0, 4),
    lambda o: o.send(_b4),
    lambda o: o.readinto(_b1, 1),
    lambda o: o.recv(1),
)


_none = lambda o: None  # noqa: E731 - the same shape as CAL's calls, calling nothing


def calibrate():
    """Per method, for K calls: [the metering inside the windows, the whole metering cost
    (the metered method minus the plain one), the call of the plain one from bytecode (the
    lambda's call expression: lookup, arguments, call, frame set-up)], all with the method's
    body replaced by a do-nothing function (a metered copy made with NOPS; the plain class's
    method replaced for the time of the measurement)."""
    cbus = metered_bus(NOPS)
    csock = metered_socket(NOPS)
    out = []
    for i in range(10):
        name = METHODS[i]
        call = CAL[i]
        plain_obj, metered_obj = (bus, cbus) if i < 6 else (sock, csock)
        setattr(OWNER[i], name, NOPS[i])

        def metered():
            call(metered_obj)

        def plain():
            call(plain_obj)

        def base():
            _none(plain_obj)
        loop_call(metered, WARM)
        loop_call(plain, WARM)
        reset()
        gc.collect()
        gc.disable()
        loop_call(metered, K)
        gc.enable()
        window = inside[i]
        plain_k = insns(loop_call, plain, K)
        whole = insns(loop_call, metered, K) - plain_k
        out.append([window, whole, plain_k - insns(loop_call, base, K)])
        setattr(OWNER[i], name, PLAIN[i])
    return out


def split(plain_f, metered_f):
    """R rounds of [total, metered run's total, window sums, calls], each for N calls
    (integers: the host divides). The results' lists exist before the first round, so the
    rounds run on the same heap."""
    res = [[0, 0, [0] * 10, [0] * 10] for _ in range(R)]
    loop_call(plain_f, WARM)
    loop_call(metered_f, WARM)
    for row in res:
        empty = insns(loop_empty, plain_f, N)
        row[0] = insns(loop_call, plain_f, N) - empty
        reset()
        row[1] = insns(loop_call, metered_f, N) - empty
        for i in range(10):
            row[2][i] = inside[i]
            row[3][i] = calls[i]
    return res


def on_next():
    w.on_next(ev)


def m_on_next():
    mw.on_next(ev)


cal = calibrate()
sample = tsl.sample
m_sample = mtsl.sample
print('JSON', json.dumps({
    'N': N, 'K': K, 'R': R, 'cal': cal, 'methods': METHODS,
    'sample': split(sample, m_sample),
    'on_next': split(on_next, m_on_next),
    'sample_heap': heap(sample),
    'on_next_heap': heap(on_next),
}))
