"""MEASUREMENT BASELINE, NOT FOR DEPLOYMENT: the tutorial's TSL2591 driver
costs, reproduced so bench/run_bench.py can put them next to ours.

Written by us from the facts in shared/reference/seed-behaviour.md (and
the public tutorial sources read for facts only; no code taken). It does
what the tutorial's driver does, in the same way, so it allocates and
computes what that driver does per sample:

* every register write builds a new 2-byte ``bytes`` (command 0xA0|reg,
  value) for ``i2c.writeto``;
* a sample: ENABLE = 0x13 (PON|AEN|AIEN), the wait ``0.120 * integration
  + 1`` seconds (a float computed per sample), then channel 0 and channel
  1 each read as an SMBus-style word: a 1-byte command write, then a
  4-byte ``i2c.readfrom`` (new bytes) of which the first two are used,
  little-endian; then ENABLE = 0x00;
* lux: 0 (an int) if a channel is 0xFFFF, else the tutorial's formula;
  like the tutorial, the integration-time and gain lookup tables are
  dicts built on every call and the result is ``max`` of a new list.

Known flaws kept on purpose (they are what is being measured): no ID
check, bare ``OSError`` from the bus, the 1 s+ wait, 4-byte reads.

Bench hooks, the same as our driver's: ``Tsl2591(sensor_id, integration,
gain, i2c=None, addr=0x29, sleep_ms=None)``. ``i2c`` is a
``machine.I2C``-like object (``None`` opens ``I2C(scl=Pin(5),
sda=Pin(4))``); the wait is skipped when the bus has a true ``no_wait``
(the simulator), else done with ``sleep_ms`` (default
``time.sleep_ms``), in whole milliseconds.
"""

import time

ADDR = 0x29
SENSOR_ADDRESS = 0x29

VISIBLE = 2
INFRARED = 1
FULLSPECTRUM = 0

INTEGRATIONTIME_100MS = 0x00
INTEGRATIONTIME_200MS = 0x01
INTEGRATIONTIME_300MS = 0x02
INTEGRATIONTIME_400MS = 0x03
INTEGRATIONTIME_500MS = 0x04
INTEGRATIONTIME_600MS = 0x05

GAIN_LOW = 0x00
GAIN_MED = 0x10
GAIN_HIGH = 0x20
GAIN_MAX = 0x30

LUX_DF = 408.0
LUX_COEFB = 1.64
LUX_COEFC = 0.59
LUX_COEFD = 0.86

CMD = 0xA0  # command bit + normal transaction
REG_ENABLE = 0x00
REG_CONTROL = 0x01
REG_C0DATAL = 0x14
REG_C1DATAL = 0x16
POWER_ON_ALS = 0x13  # PON | AEN | AIEN
POWER_OFF = 0x00


class Tsl2591:
    """The tutorial's driver, for measurement only (see the module doc)."""

    def __init__(self, sensor_id, integration=INTEGRATIONTIME_100MS,
                 gain=GAIN_LOW, i2c=None, addr=SENSOR_ADDRESS, sleep_ms=None):
        if i2c is None:
            from machine import I2C, Pin
            i2c = I2C(scl=Pin(5), sda=Pin(4))
        self.sensor_id = sensor_id
        self.i2c = i2c
        self.addr = addr
        if sleep_ms is None and not getattr(i2c, "no_wait", False):
            sleep_ms = time.sleep_ms
        self._sleep_ms = sleep_ms
        self.integration_time = integration
        self.gain = gain
        # As the tutorial: each setter toggles ENABLE around CONTROL.
        self.set_timing(integration)
        self.set_gain(gain)
        self.disable()

    def _write_reg(self, reg, value):
        self.i2c.writeto(self.addr, bytes([CMD | reg, value]))

    def _read_word(self, reg):
        self.i2c.writeto(self.addr, bytes([CMD | reg]))
        raw = self.i2c.readfrom(self.addr, 4)  # 4 bytes for a 16-bit word
        return raw[0] + (raw[1] << 8)

    def _set_control(self):
        self.enable()
        self._write_reg(REG_CONTROL, self.integration_time | self.gain)
        self.disable()

    def set_timing(self, integration):
        self.integration_time = integration
        self._set_control()

    def set_gain(self, gain):
        self.gain = gain
        self._set_control()

    def enable(self):
        self._write_reg(REG_ENABLE, POWER_ON_ALS)

    def disable(self):
        self._write_reg(REG_ENABLE, POWER_OFF)

    def get_full_luminosity(self):
        self.enable()
        wait_s = 0.120 * self.integration_time + 1
        if self._sleep_ms:
            self._sleep_ms(int(wait_s * 1000))
        full = self._read_word(REG_C0DATAL)
        ir = self._read_word(REG_C1DATAL)
        self.disable()
        return full, ir

    def get_luminosity(self, channel):
        full, ir = self.get_full_luminosity()
        if channel == FULLSPECTRUM:
            return full
        if channel == INFRARED:
            return ir
        if channel == VISIBLE:
            return full - ir
        return 0

    def calculate_lux(self, full, ir):
        if full == 0xFFFF or ir == 0xFFFF:
            return 0
        # Lookup tables made on every call, as the tutorial does.
        atimes = {INTEGRATIONTIME_100MS: 100., INTEGRATIONTIME_200MS: 200.,
                  INTEGRATIONTIME_300MS: 300., INTEGRATIONTIME_400MS: 400.,
                  INTEGRATIONTIME_500MS: 500., INTEGRATIONTIME_600MS: 600.}
        atime = atimes[self.integration_time] \
            if self.integration_time in atimes.keys() else 100.
        gains = {GAIN_LOW: 1., GAIN_MED: 25., GAIN_HIGH: 428.,
                 GAIN_MAX: 9876.}
        again = gains[self.gain] if self.gain in gains.keys() else 1.
        cpl = (atime * again) / LUX_DF
        lux1 = (full - (LUX_COEFB * ir)) / cpl
        lux2 = ((LUX_COEFC * full) - (LUX_COEFD * ir)) / cpl
        return max([lux1, lux2])

    def sample(self):
        full, ir = self.get_full_luminosity()
        return self.calculate_lux(full, ir)
