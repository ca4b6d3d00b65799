"""A simulated TSL2591 on a simulated I2C bus, for hosts without hardware.

`SimTsl2591` stands in for a `machine.I2C` object (same method names and
argument order: scan, writeto, readfrom_into, readfrom, writeto_mem,
readfrom_mem, readfrom_mem_into) with one TSL2591 at 0x29 on it. It runs under
MicroPython (the unix port has no machine.I2C) and under CPython.

Usage::

    from sim_tsl2591 import SimTsl2591
    import tsl2591
    bus = SimTsl2591()
    bus.set_channels(611, 284)          # what the next reading returns
    sensor = tsl2591.Tsl2591('lux-1', i2c=bus)
    print(sensor.sample())

What is modelled (datasheet facts):
- The command byte: bit 7 CMD must be set; bits 6:5 TRANSACTION, 01 = normal
  (register pointer = bits 4:0, auto-increment), 11 = special function (clears
  interrupt flags); 00/10 are reserved. The pointer persists between transfers,
  so a later `readfrom_into` reads from it, like the real chip.
- Registers 0x00..0x1F; ID (0x12) reads 0x50, PID (0x11) 0x00; ID, PID, STATUS and
  the data registers are read-only. CONTROL bit 7 (SRESET) resets the registers.
- STATUS.AVALID (bit 0) and the data registers C0DATAL..C1DATAH (0x14..0x17,
  little-endian) are updated when the ALS is on (ENABLE has PON and AEN) and an
  integration "completes": at the first read after `not_ready_reads` reads
  have been answered with AVALID clear. Turning PON or AEN off clears AVALID;
  the data registers keep their last values (stale), as on the chip.

Time is not modelled: `no_wait = True` tells drivers (tsl2591.py and the native
module) to skip the integration sleep, so a benchmark measures computation,
not sleeping. Set it False to have drivers really sleep.

Fault injection:
- `fail_bus = True`: every transfer raises OSError(EIO) (errno 5), as a real
  bus error does.
- `present = False`: the device does not acknowledge its address; every
  transfer raises OSError(ENODEV) (errno 19), which is what MicroPython's
  machine.I2C raises on an address NACK (extmod/machine_i2c.c). Transfers to
  any other address get the same treatment.
- `device_id`: what the ID register reads (0x50; anything else = wrong chip).
- `not_ready_reads`: how many reads after enabling see AVALID still clear.
- `strict = True` (default): a malformed transfer (command byte without the
  CMD bit, a reserved transaction type, an empty write) raises ValueError, so
  driver bugs surface in tests instead of being silently absorbed.

Counters `writes`, `reads` count successful transfers; `log`, if set to a list,
receives one tuple per transfer (tests only: it allocates).

Allocation: the register file is one preallocated bytearray, transfers copy
byte by byte into the caller's buffer; only `readfrom`/`readfrom_mem` allocate
(their result), as on a real port.

Speed: the simulator sits under the benchmark (bench/bench_device.py), so its
cost is the floor of every measured sample. `writeto` and `readfrom_mem_into`
therefore have a fast path for the transfers the drivers make on every sample
(a 2-byte write to ENABLE or CONTROL, a lone command byte, a normal-transaction
register read that does not wrap past 0x1F) while the bus is healthy and
`log` is None: one flat function, no helper calls, compiled with
`@micropython.native` (the unix port has the native emitter; a port without
it would reject this file). `readfrom_into` has the same fast path. Anything
else takes the checked path (`_writeto_checked`, `_readfrom_into_checked`,
`_readfrom_mem_into_checked`), which is the reference model; the fast path
must give the same registers, pointer, counters, results and errors
(tests/test_sim_fast_path.py compares them). `fast = False` forces the
checked path. The class has no properties on purpose: in MicroPython one
property makes every attribute store and method call on the instance slower,
so `enabled`, `integration` and `gain` are answered by `__getattr__`.
"""

import errno

try:
    import micropython
    from micropython import const
except ImportError:  # CPython: same source, plain Python

    class micropython:  # noqa: N801 - stands in for the module
        @staticmethod
        def native(f):
            return f

    def const(x):
        return x


ADDR = 0x29
DEVICE_ID = 0x50

# Register addresses (datasheet names).
REG_ENABLE = 0x00
REG_CONTROL = 0x01
REG_PID = 0x11
REG_ID = 0x12
REG_STATUS = 0x13
REG_C0DATAL = 0x14
REG_C0DATAH = 0x15
REG_C1DATAL = 0x16
REG_C1DATAH = 0x17

_CMD = const(0x80)
_TRANSACTION_MASK = const(0x60)
_TRANSACTION_NORMAL = const(0x20)
_TRANSACTION_SPECIAL = const(0x60)
_ADDR_MASK = const(0x1F)
_ON = const(0x03)  # PON | AEN
_AVALID = const(0x01)
_AINT = const(0x10)
_NPINTR = const(0x20)
_SRESET = const(0x80)
_NREGS = const(32)
_READ_ONLY_FIRST = const(0x11)  # REG_PID: 0x11..0x17 are read-only; 0x18.. reserved


class SimTsl2591:
    """machine.I2C look-alike with a TSL2591 at `addr` (see the module doc)."""

    def __init__(self, addr=ADDR, device_id=DEVICE_ID):
        self.addr = addr
        self.device_id = device_id
        self.regs = bytearray(_NREGS)
        self.ptr = 0
        self.ch0 = 0
        self.ch1 = 0
        self.present = True
        self.fail_bus = False
        self.no_wait = True
        self.strict = True
        self.fast = True
        self.not_ready_reads = 0
        self._pending = 0
        self.writes = 0
        self.reads = 0
        self.log = None
        self.reset()

    # -- model -------------------------------------------------------------

    def reset(self):
        """Power-on state (what SRESET does too)."""
        regs = self.regs
        for i in range(_NREGS):
            regs[i] = 0
        self.ptr = 0

    def set_channels(self, ch0, ch1):
        """Counts the next integration yields: ch0 full spectrum, ch1 infrared (0..0xFFFF)."""
        if not (0 <= ch0 <= 0xFFFF and 0 <= ch1 <= 0xFFFF):
            raise ValueError("channel counts must be 0..65535")
        self.ch0 = ch0
        self.ch1 = ch1

    def __getattr__(self, name):
        """Read-only views of the registers (not properties: see "Speed").

        `enabled`: ENABLE has both PON and AEN set (the ALS is integrating);
        `integration`: code 0..7 from CONTROL bits 2:0; `gain`: code 0x00,
        0x10, 0x20 or 0x30 from CONTROL bits 5:4.
        """
        if name == "enabled":
            return self.regs[REG_ENABLE] & _ON == _ON
        if name == "integration":
            return self.regs[REG_CONTROL] & 0x07
        if name == "gain":
            return self.regs[REG_CONTROL] & 0x30
        raise AttributeError(name)

    def _check(self, addr):
        if self.fail_bus:
            raise OSError(errno.EIO)
        if not self.present or addr != self.addr:
            raise OSError(errno.ENODEV)

    def _bad(self, what):
        if self.strict:
            raise ValueError("sim TSL2591: " + what)

    def _command(self, cmd):
        """Apply a command byte; return True if data bytes may follow."""
        if not cmd & _CMD:
            self._bad("command byte 0x%02x lacks the CMD bit (0x80)" % cmd)
            return False
        kind = cmd & _TRANSACTION_MASK
        if kind == _TRANSACTION_NORMAL:
            self.ptr = cmd & _ADDR_MASK
            return True
        if kind == _TRANSACTION_SPECIAL:
            # Special functions only clear/force interrupt flags.
            self.regs[REG_STATUS] &= 0xFF ^ (_AINT | _NPINTR)
            return False
        self._bad("reserved transaction type in command byte 0x%02x" % cmd)
        return False

    def _store(self, value):
        reg = self.ptr
        if reg < _READ_ONLY_FIRST:
            if reg == REG_CONTROL and value & _SRESET:
                self.reset()
                return
            regs = self.regs
            if reg == REG_ENABLE:
                was_on = regs[REG_ENABLE] & _ON == _ON
                regs[REG_ENABLE] = value
                if value & _ON != _ON:
                    regs[REG_STATUS] &= 0xFF ^ _AVALID
                elif not was_on:
                    # A new integration starts.
                    regs[REG_STATUS] &= 0xFF ^ _AVALID
                    self._pending = self.not_ready_reads
            else:
                regs[reg] = value
        self.ptr = (reg + 1) & _ADDR_MASK

    def _integrate(self):
        """Complete an integration if the ALS is on and one is due."""
        regs = self.regs
        if regs[REG_STATUS] & _AVALID or regs[REG_ENABLE] & _ON != _ON:
            return
        if self._pending:
            self._pending -= 1
            return
        ch0 = self.ch0
        ch1 = self.ch1
        regs[REG_C0DATAL] = ch0 & 0xFF
        regs[REG_C0DATAH] = ch0 >> 8
        regs[REG_C1DATAL] = ch1 & 0xFF
        regs[REG_C1DATAH] = ch1 >> 8
        regs[REG_STATUS] |= _AVALID

    def _load(self, buf, n):
        self._integrate()
        regs = self.regs
        regs[REG_ID] = self.device_id
        ptr = self.ptr
        for i in range(n):
            buf[i] = regs[ptr]
            ptr = (ptr + 1) & _ADDR_MASK
        self.ptr = ptr
        self.reads += 1

    def _write(self, data, start):
        for i in range(start, len(data)):
            self._store(data[i])
        self.writes += 1

    # -- machine.I2C methods ---------------------------------------------

    def scan(self):
        """Addresses that acknowledge: [0x29], or [] when absent or the bus fails."""
        if self.present and not self.fail_bus:
            return [self.addr]
        return []

    @micropython.native
    def writeto(self, addr, buf, stop=True):
        """Write: first byte is the command byte, the rest go to the registers.

        Returns the number of bytes acknowledged, like machine.I2C.writeto.
        """
        # Fast path: [0xA0, v] (ENABLE), [0xA1, v] without SRESET (CONTROL)
        # or a lone normal command byte (sets the pointer); the same steps
        # as _command + _store, inlined.
        if (self.fast and addr == self.addr and self.present
                and not self.fail_bus and self.log is None):
            n = len(buf)
            cmd = buf[0] if n else 0
            if n == 1 and cmd & 0xE0 == 0xA0:
                self.ptr = cmd & 0x1F
                self.writes += 1
                return 1
            if n != 2:
                return self._writeto_checked(addr, buf)
            if cmd == 0xA0:
                value = buf[1]
                regs = self.regs
                was_on = regs[0] & 0x03 == 0x03  # REG_ENABLE, _ON
                regs[0] = value
                if value & 0x03 != 0x03:
                    regs[0x13] &= 0xFE  # REG_STATUS, clear _AVALID
                elif not was_on:
                    regs[0x13] &= 0xFE
                    self._pending = self.not_ready_reads
                self.ptr = 1
                self.writes += 1
                return 2
            if cmd == 0xA1:
                value = buf[1]
                if not value & 0x80:  # SRESET takes the checked path
                    self.regs[1] = value  # REG_CONTROL
                    self.ptr = 2
                    self.writes += 1
                    return 2
        return self._writeto_checked(addr, buf)

    def _writeto_checked(self, addr, buf):
        self._check(addr)
        if self.log is not None:
            self.log.append(("writeto", addr, bytes(buf)))
        if not len(buf):
            self._bad("empty write")
            self.writes += 1
            return 0
        if self._command(buf[0]):
            self._write(buf, 1)
        else:
            if len(buf) > 1:
                self._bad("data after a special-function command")
            self.writes += 1
        return len(buf)

    @micropython.native
    def readfrom_into(self, addr, buf, stop=True):
        """Read len(buf) bytes from the current register pointer."""
        # Fast path: a read that ends at or before 0x1F; the same steps as
        # _integrate + _load, inlined (see readfrom_mem_into).
        if (self.fast and addr == self.addr and self.present
                and not self.fail_bus and self.log is None):
            ptr = self.ptr
            n = len(buf)
            if ptr + n <= 32:
                regs = self.regs
                if not regs[0x13] & 0x01 and regs[0] & 0x03 == 0x03:
                    if self._pending:
                        self._pending -= 1
                    else:
                        ch = self.ch0
                        regs[0x14] = ch & 0xFF  # REG_C0DATAL
                        regs[0x15] = ch >> 8
                        ch = self.ch1
                        regs[0x16] = ch & 0xFF  # REG_C1DATAL
                        regs[0x17] = ch >> 8
                        regs[0x13] |= 0x01  # AVALID
                regs[0x12] = self.device_id  # REG_ID
                for i in range(n):
                    buf[i] = regs[ptr + i]
                self.ptr = (ptr + n) & 0x1F
                self.reads += 1
                return
        self._readfrom_into_checked(addr, buf)

    def _readfrom_into_checked(self, addr, buf):
        self._check(addr)
        self._load(buf, len(buf))
        if self.log is not None:
            self.log.append(("readfrom_into", addr, bytes(buf)))

    def readfrom(self, addr, nbytes, stop=True):
        """Read nbytes from the current register pointer into new bytes."""
        buf = bytearray(nbytes)
        self.readfrom_into(addr, buf, stop)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        """Write `buf` after the command byte `memaddr` (one transfer)."""
        self._check(addr)
        if self.log is not None:
            self.log.append(("writeto_mem", addr, memaddr, bytes(buf)))
        if self._command(memaddr):
            self._write(buf, 0)
        else:
            self.writes += 1

    @micropython.native
    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        """Write the command byte `memaddr`, then read len(buf) bytes."""
        # Fast path: a normal-transaction command (CMD set, TRANSACTION 01)
        # and a read that ends at or before 0x1F; the same steps as
        # _command + _integrate + _load, inlined.
        if (self.fast and addr == self.addr and self.present
                and not self.fail_bus and self.log is None
                and memaddr & 0xE0 == 0xA0):
            ptr = memaddr & 0x1F
            n = len(buf)
            if ptr + n <= 32:
                regs = self.regs
                self.ptr = ptr
                if not regs[0x13] & 0x01 and regs[0] & 0x03 == 0x03:
                    if self._pending:
                        self._pending -= 1
                    else:
                        ch = self.ch0
                        regs[0x14] = ch & 0xFF  # REG_C0DATAL
                        regs[0x15] = ch >> 8
                        ch = self.ch1
                        regs[0x16] = ch & 0xFF  # REG_C1DATAL
                        regs[0x17] = ch >> 8
                        regs[0x13] |= 0x01  # AVALID
                regs[0x12] = self.device_id  # REG_ID
                for i in range(n):
                    buf[i] = regs[ptr + i]
                self.ptr = (ptr + n) & 0x1F
                self.reads += 1
                return
        self._readfrom_mem_into_checked(addr, memaddr, buf)

    def _readfrom_mem_into_checked(self, addr, memaddr, buf):
        self._check(addr)
        if self._command(memaddr):
            self._load(buf, len(buf))
        else:
            self._bad("read after a special-function command 0x%02x" % memaddr)
            self.reads += 1
        if self.log is not None:
            self.log.append(("readfrom_mem_into", addr, memaddr, bytes(buf)))

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        """Like readfrom_mem_into into new bytes."""
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf, addrsize)
        return bytes(buf)


# The name the brief and other scripts may use for the bus object.
SimI2C = SimTsl2591
