# Main program for the sensor node: sample the TSL2591 light sensor every
# SLEEP_TIME seconds and publish each event to an MQTT broker.
#
# Run it from the REPL with `import client`, or start it at every boot with a
# main.py that says `import client` (`make deploy AUTOSTART=1` writes one).
# Settings come from config.py.
#
# Modules: the native `mqtt_writer` and `tsl2591` (.mpy built from Rust) are
# preferred; when one is missing or cannot be loaded (MemoryError on a
# fragmented heap, ValueError for a firmware with another .mpy version) the
# pure-Python fallback `mqtt_writer_fallback` / `tsl2591_fallback` is used,
# saying so. On a PC, fallback/ on sys.path provides them as `mqtt_writer` and
# `tsl2591`. The big native module is loaded first, right after boot, while
# the heap still has one large free block. Copied as .py sources (the
# tutorial's way), the scripts are compiled on the board when imported, so
# they come after the native modules, one at a time, and the explanations
# here are comments: the board's parser allocates every docstring.
#
# It keeps going: a sensor error (the stream ends, as in ThingFlow), a broker
# that refuses the connection or a Wi-Fi failure is printed, then everything
# is set up again after a wait that doubles from RETRY_DELAY up to
# RETRY_MAX_DELAY seconds (1 and 60 by default), each attempt printed. After a
# run that published at least one event the wait starts short again.
# RETRY_LIMIT (default None: retry for ever) ends it with the last error after
# that many failed attempts in a row. Ctrl-C stops it. Other errors (bad
# settings, a bug) are raised at once.
#
# On a port without machine.I2C (the unix port, on a PC) the sensor sits on
# the simulated bus from sim_tsl2591 with the raw counts config.SIM_CHANNELS
# (default (611, 284): 592.5792 lux; (109, 24) gives the tutorial's 284.1312,
# as mpy-scripts/pc/config.py and the demo set), and Wi-Fi is skipped. With
# SIMULATE_SENSOR = True in config.py, boot.py has put the simulator behind
# machine.I2C instead (sim/sim_machine.py) and client.py uses that.

import gc
import time

import config


def _opt(name, default):
    return getattr(config, name, default)


# ``name.attr`` from the native module, else from ``name_fallback``.
def _load(name, attr):
    gc.collect()
    try:
        return getattr(__import__(name), attr)
    except (ImportError, MemoryError, ValueError) as e:
        err = e
    gc.collect()
    fallback = name + '_fallback'
    try:
        mod = __import__(fallback)
    except ImportError:
        raise ImportError('no usable %s module (%s: %s) and no %s: copy '
                          'them with `make deploy` (mpy-scripts/README.md)'
                          % (name, type(err).__name__, err, fallback))
    print('%s: native module not used (%s: %s); using %s'
          % (name, type(err).__name__, err, fallback))
    return getattr(mod, attr)


MQTTWriter = _load('mqtt_writer', 'MQTTWriter')
Tsl2591 = _load('tsl2591', 'Tsl2591')

# Then the scripts, the biggest first, each in a collected heap: copied as .py
# sources, each is compiled on the board when imported, next to everything
# loaded so far.
gc.collect()
from thingflow import Scheduler  # noqa: E402
gc.collect()
from wifi import wifi_connect, disable_wifi_ap  # noqa: E402
from config import SENSOR_ID, WIFI_ESSID, WIFI_PASSWORD, MQTT_HOST, \
    MQTT_TOPIC, SLEEP_TIME  # noqa: E402

SIM_CHANNELS = (611, 284)  # raw (full, infrared) counts: 592.5792 lux


def _make_sensor():
    try:
        import machine
        has_i2c = hasattr(machine, 'I2C')
    except ImportError:
        has_i2c = False
    if not has_i2c:
        from sim_tsl2591 import SimTsl2591
        bus = SimTsl2591()
        full, ir = _opt('SIM_CHANNELS', SIM_CHANNELS)
        bus.set_channels(full, ir)
        print('No machine.I2C on this port: using the simulated TSL2591 '
              '(sim_tsl2591), raw counts full=%d ir=%d' % (full, ir))
        return Tsl2591(SENSOR_ID, i2c=bus)
    return Tsl2591(SENSOR_ID)


# A subscriber that remembers how the stream went.
class _Watch:

    def __init__(self):
        self.events = 0
        self.error = None

    def on_next(self, x):
        self.events += 1

    def on_error(self, e):
        self.error = e

    def on_completed(self):
        pass


# Set up Wi-Fi, the writer and the sensor, then run until the stream ends.
# Returns the _Watch of the stream; raises what set-up raised.
def run_once():
    wifi_connect(WIFI_ESSID, WIFI_PASSWORD, _opt('WIFI_TIMEOUT', 30))
    # The keepalive must outlast the gap between two publishes, or the broker
    # closes the idle connection (after 1.5 x keepalive) between samples.
    m = MQTTWriter(SENSOR_ID, MQTT_HOST, _opt('MQTT_PORT', 1883), MQTT_TOPIC,
                   qos=_opt('MQTT_QOS', 0),
                   keepalive=_opt('MQTT_KEEPALIVE',
                                  max(60, int(SLEEP_TIME * 2))),
                   user=_opt('MQTT_USER', None),
                   password=_opt('MQTT_PASSWORD', None))
    try:
        tsl = _make_sensor()
    except BaseException as e:
        m.on_error(e)  # disconnect cleanly before the retry
        raise
    watch = _Watch()
    sched = Scheduler()
    sched.schedule_sensor(tsl, SLEEP_TIME, m, watch)
    print('Running main loop with sample every %s seconds...' % SLEEP_TIME)
    sched.run_forever()
    return watch


def main():
    disable_wifi_ap()
    first = _opt('RETRY_DELAY', 1)
    most = _opt('RETRY_MAX_DELAY', 60)
    limit = _opt('RETRY_LIMIT', None)
    delay = first
    failures = 0
    while True:
        try:
            watch = run_once()
            err = watch.error
            if watch.events:  # it worked for a while: start the waits over
                failures = 0
                delay = first
            what = ('sensor %s failed (%s: %s)'
                    % (SENSOR_ID, type(err).__name__, err) if err is not None
                    else 'sensor %s stream ended' % SENSOR_ID)
        except (OSError, MemoryError) as e:
            err = e
            what = '%s: %s' % (type(e).__name__, e)
        failures += 1
        if limit is not None and failures > limit:
            print('client: %s; giving up after %d attempts (RETRY_LIMIT)'
                  % (what, failures))
            raise err if err is not None else OSError('sensor stream ended')
        print('client: %s; retrying in %s s (attempt %d)'
              % (what, delay, failures))
        err = watch = None
        gc.collect()
        time.sleep(delay)
        delay = min(delay * 2, most)


main()
