"""TSL2591 light sensor driver (pure-Python fallback of the native module).

Same API as the tutorial's ThingFlow ``tsl2591`` module, so it plugs into
``SensorAsOutputThing``/``Scheduler.schedule_sensor`` unchanged::

    from tsl2591 import Tsl2591, INTEGRATIONTIME_200MS, GAIN_MED
    tsl = Tsl2591('lux-1')                  # I2C(scl=Pin(5), sda=Pin(4)), 0x29
    tsl.set_gain(GAIN_MED)
    print(tsl.sensor_id, tsl.sample())      # lux as a float

Differences from the tutorial's module (it is also the baseline of the
benchmark against the Rust version, so it is written to be fast too):

* ``Tsl2591(sensor_id, integration, gain, i2c=None, addr=0x29, sleep_ms=None)``:
  ``i2c`` is any object with the ``machine.I2C`` methods (e.g.
  ``sim_tsl2591.SimTsl2591``); ``None`` opens ``machine.I2C(scl=Pin(5),
  sda=Pin(4))``, and on a port without ``machine.I2C`` (unix) raises
  ``OSError`` asking for ``i2c=``.
* The device ID is checked on construction: register 0x12 must read 0x50
  (the tutorial's map had 0x0A, the TSL2561's ID register). A missing
  sensor, a bus error or another chip raise ``OSError(errno, "TSL2591 not
  found at 0x29: ...")``; a bus error later raises ``OSError(errno,
  "TSL2591 at 0x29: ... failed: ...")``. ``errno`` is the bus's (ENODEV 19 for
  no acknowledge, EIO 5 for a bus error, ETIMEDOUT 110).
* A sample waits the integration time plus 10 % (110 ms at 100 ms, not the
  tutorial's 1.0 s), then reads STATUS and both channels in one 5-byte
  ``readfrom_mem_into``; if STATUS.AVALID is not yet set it re-reads up to 20
  times, 5 ms apart, then raises ``OSError(ETIMEDOUT, ...)``. After a failed
  read it still tries to power the sensor down.
* The wait: ``sleep_ms(ms)`` is called for it. ``sleep_ms=None`` means
  ``time.sleep_ms``, unless the bus object has a true ``no_wait`` attribute
  (the simulator does), in which case there is no sleep at all, so a
  benchmark measures the driver's work rather than the sleep. Pass a
  callable to record or replace the waits.
* ``sample()`` returns a float always: 0.0 for a saturated channel (the
  tutorial returned the int 0). Negative values are not clamped (as in the
  tutorial).
* ``set_timing``/``set_gain`` write CONTROL once (the tutorial also toggled
  ENABLE around it) and reject unknown codes with ``ValueError``.
* Buffers are preallocated and reused; ``cpl`` is recomputed only when the
  settings change.
"""

import time

from micropython import const

VISIBLE = const(2)
INFRARED = const(1)
FULLSPECTRUM = const(0)

SENSOR_ADDRESS = const(0x29)
ADDR = const(0x29)

INTEGRATIONTIME_100MS = const(0x00)
INTEGRATIONTIME_200MS = const(0x01)
INTEGRATIONTIME_300MS = const(0x02)
INTEGRATIONTIME_400MS = const(0x03)
INTEGRATIONTIME_500MS = const(0x04)
INTEGRATIONTIME_600MS = const(0x05)

GAIN_LOW = const(0x00)  # x1
GAIN_MED = const(0x10)  # x25
GAIN_HIGH = const(0x20)  # x428
GAIN_MAX = const(0x30)  # x9876

LUX_DF = 408.0
LUX_COEFB = 1.64
LUX_COEFC = 0.59
LUX_COEFD = 0.86

_COMMAND = const(0xA0)  # CMD | TRANSACTION=normal (auto-increment)
_REG_ENABLE = const(0x00)
_REG_CONTROL = const(0x01)
_REG_ID = const(0x12)
_REG_STATUS = const(0x13)
_DEVICE_ID = const(0x50)
_ENABLE_ON = const(0x13)  # PON | AEN | AIEN, as the tutorial
_ENABLE_OFF = const(0x00)
_AVALID = const(0x01)
_AVALID_POLLS = const(20)
_AVALID_POLL_MS = const(5)
_ENODEV = const(19)
_ETIMEDOUT = const(110)

# Gain multiplier by gain code >> 4.
_AGAIN = (1.0, 25.0, 428.0, 9876.0)

_BUS_ERRORS = {5: "bus error (EIO)", 19: "no acknowledge (ENODEV)",
               110: "bus timeout (ETIMEDOUT)"}


def _check_settings(integration, gain):
    if not (isinstance(integration, int) and 0 <= integration <= 5):
        raise ValueError("integration must be INTEGRATIONTIME_100MS..600MS (0..5), got %r"
                         % (integration,))
    if gain not in (GAIN_LOW, GAIN_MED, GAIN_HIGH, GAIN_MAX):
        raise ValueError("gain must be GAIN_LOW/MED/HIGH/MAX (0x00/0x10/0x20/0x30), got %r"
                         % (gain,))


def _errno(e):
    return e.args[0] if e.args and isinstance(e.args[0], int) else 0


def _describe(e):
    code = _errno(e)
    return _BUS_ERRORS.get(code) or repr(e)


def _default_i2c():
    import machine

    if not hasattr(machine, "I2C"):
        raise OSError(_ENODEV, "TSL2591: this port has no machine.I2C; "
                      "pass i2c= (e.g. sim_tsl2591.SimTsl2591())")
    return machine.I2C(scl=machine.Pin(5), sda=machine.Pin(4))


class Tsl2591:
    """One TSL2591 on an I2C bus (see the module docstring)."""

    def __init__(self, sensor_id, integration=INTEGRATIONTIME_100MS,
                 gain=GAIN_LOW, i2c=None, addr=SENSOR_ADDRESS, sleep_ms=None):
        _check_settings(integration, gain)
        self.sensor_id = sensor_id
        if i2c is None:
            i2c = _default_i2c()
        self.i2c = i2c
        self.addr = addr
        if sleep_ms is None and not getattr(i2c, "no_wait", False):
            sleep_ms = time.sleep_ms
        self._sleep_ms = sleep_ms
        self._wbuf = bytearray(2)
        self._rbuf = bytearray(5)  # STATUS, C0DATAL, C0DATAH, C1DATAL, C1DATAH
        self.integration_time = integration
        self.gain = gain
        self._update()
        try:
            i2c.readfrom_mem_into(addr, _COMMAND | _REG_ID, memoryview(self._rbuf)[:1])
            found = self._rbuf[0]
            if found == _DEVICE_ID:
                self._write(_REG_CONTROL, integration | gain)
                self._write(_REG_ENABLE, _ENABLE_OFF)
        except OSError as e:
            raise OSError(_errno(e), "TSL2591 not found at 0x%02x: %s"
                          % (addr, _describe(e)))
        if found != _DEVICE_ID:
            raise OSError(_ENODEV, "TSL2591 not found at 0x%02x: device ID 0x%02x, expected 0x%02x"
                          % (addr, found, _DEVICE_ID))

    def _update(self):
        atime = (self.integration_time + 1) * 100
        self._wait_ms = atime + atime // 10
        # Same operations, in the same order, as the tutorial's formula.
        self._cpl = (atime * _AGAIN[self.gain >> 4]) / LUX_DF

    def _write(self, reg, value):
        buf = self._wbuf
        buf[0] = _COMMAND | reg
        buf[1] = value
        self.i2c.writeto(self.addr, buf)

    def _fail(self, e, what):
        return OSError(_errno(e), "TSL2591 at 0x%02x: %s failed: %s"
                       % (self.addr, what, _describe(e)))

    def _control(self, integration, gain):
        _check_settings(integration, gain)
        try:
            self._write(_REG_CONTROL, integration | gain)
        except OSError as e:
            raise self._fail(e, "CONTROL write")
        self.integration_time = integration
        self.gain = gain
        self._update()

    def set_timing(self, integration):
        """Set the integration time (INTEGRATIONTIME_100MS..600MS)."""
        self._control(integration, self.gain)

    def set_gain(self, gain):
        """Set the gain (GAIN_LOW, GAIN_MED, GAIN_HIGH, GAIN_MAX)."""
        self._control(self.integration_time, gain)

    def enable(self):
        """Power on and start integrating."""
        try:
            self._write(_REG_ENABLE, _ENABLE_ON)
        except OSError as e:
            raise self._fail(e, "enable")

    def disable(self):
        """Power off."""
        try:
            self._write(_REG_ENABLE, _ENABLE_OFF)
        except OSError as e:
            raise self._fail(e, "disable")

    def _measure(self):
        # Leaves STATUS and the channel bytes in self._rbuf.
        i2c = self.i2c
        addr = self.addr
        buf = self._rbuf
        sleep_ms = self._sleep_ms
        self.enable()
        try:
            if sleep_ms:
                sleep_ms(self._wait_ms)
            polls = _AVALID_POLLS
            while True:
                i2c.readfrom_mem_into(addr, _COMMAND | _REG_STATUS, buf)
                if buf[0] & _AVALID:
                    break
                if not polls:
                    raise OSError(_ETIMEDOUT, "TSL2591 at 0x%02x: no valid reading %d ms after enable"
                                  % (addr, self._wait_ms + _AVALID_POLLS * _AVALID_POLL_MS))
                polls -= 1
                if sleep_ms:
                    sleep_ms(_AVALID_POLL_MS)
        except OSError as e:
            try:
                self._write(_REG_ENABLE, _ENABLE_OFF)
            except OSError:
                pass  # report the read's error, not this one
            if len(e.args) > 1:
                raise
            raise self._fail(e, "read")
        self.disable()

    def get_full_luminosity(self):
        """One measurement: (full, ir) raw counts of channel 0 and channel 1."""
        self._measure()
        buf = self._rbuf
        return buf[1] | (buf[2] << 8), buf[3] | (buf[4] << 8)

    def get_luminosity(self, channel):
        """FULLSPECTRUM, INFRARED or VISIBLE (full - ir) counts; 0 otherwise."""
        full, ir = self.get_full_luminosity()
        if channel == FULLSPECTRUM:
            return full
        if channel == INFRARED:
            return ir
        if channel == VISIBLE:
            return full - ir
        return 0

    def calculate_lux(self, full, ir):
        """Lux for the current settings; 0.0 if a channel is saturated."""
        if full == 0xFFFF or ir == 0xFFFF:
            return 0.0
        cpl = self._cpl
        lux1 = (full - (LUX_COEFB * ir)) / cpl
        lux2 = ((LUX_COEFC * full) - (LUX_COEFD * ir)) / cpl
        return lux2 if lux2 > lux1 else lux1

    def sample(self):
        """One measurement in lux (float)."""
        self._measure()
        buf = self._rbuf
        return self.calculate_lux(buf[1] | (buf[2] << 8), buf[3] | (buf[4] << 8))
