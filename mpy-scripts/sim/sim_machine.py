"""``machine.I2C`` on a PC: the simulated TSL2591 as the board's I2C bus.

The unix port's ``machine`` module has no ``I2C``, so ``Tsl2591('lux-1')``
(which opens ``machine.I2C(scl=Pin(5), sda=Pin(4))``) needs ``i2c=`` there.
``install()`` puts a stand-in for ``machine`` in ``sys.modules``: its
``I2C(...)`` returns one shared ``SimTsl2591`` bus (``BUS``), ``Pin(n)``
returns ``n``, and every other name comes from the ``machine`` it replaces.
Then the tutorial's REPL session works unchanged on a PC::

    >>> from tsl2591 import Tsl2591
    >>> Tsl2591('lux-1').sample()      # with SIM_CHANNELS = (109, 24)
    284.1312

boot.py calls ``install()`` when config.py says ``SIMULATE_SENSOR = True``
(the PC's config, mpy-scripts/pc/config.py, does); the raw counts are
``config.SIM_CHANNELS``, default ``(611, 284)`` (592.5792 lux, as client.py's
own simulator); the PC's config sets ``(109, 24)``: 284.1312 lux at the
default 100 ms and gain x1, the tutorial's reading. (The pure-Python driver
computes it step by step in double precision on the unix port and prints
284.13120000000004.)
"""

import sys

from sim_tsl2591 import SimTsl2591

DEFAULT_CHANNELS = (611, 284)
BUS = None


class _Machine:
    """A ``machine`` look-alike: I2C and Pin simulated, the rest delegated."""

    def __init__(self, real):
        self._real = real

    def I2C(self, *args, **kwargs):  # noqa: N802 (machine.I2C's name)
        return BUS

    def Pin(self, n, *args, **kwargs):  # noqa: N802
        return n

    def __getattr__(self, name):
        if self._real is None:
            raise AttributeError(name)
        return getattr(self._real, name)


def install(channels=None):
    """Make ``machine.I2C`` the simulated bus; returns the bus.

    ``channels``: raw (full, infrared) counts, default ``config.SIM_CHANNELS``
    or (611, 284)."""
    global BUS
    if channels is None:
        try:
            from config import SIM_CHANNELS as channels
        except ImportError:
            channels = DEFAULT_CHANNELS
    if BUS is None:
        BUS = SimTsl2591()
    BUS.set_channels(channels[0], channels[1])
    current = sys.modules.get('machine')
    if not isinstance(current, _Machine):
        if current is None:
            try:
                import machine as current
            except ImportError:
                current = None
        sys.modules['machine'] = _Machine(current)
    return BUS
