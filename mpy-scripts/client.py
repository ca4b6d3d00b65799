# Main program for the sensor node: sample the TSL2591 light sensor every
# SLEEP_TIME seconds and publish each event to an MQTT broker.
#
# Run it from the REPL with `import client`, or copy it to the board as
# main.py to start it at every boot. Settings come from config.py.
#
# `tsl2591` and `mqtt_writer` are whichever modules come first on sys.path:
# the native .mpy files or the pure-Python fallbacks; the API is the same.
#
# On a port without machine.I2C (the unix port, for a demo on a PC) the
# sensor sits on the simulated bus from sim_tsl2591, returning the raw
# counts config.SIM_CHANNELS (default (611, 284)), and Wi-Fi is skipped.

import config
from config import SENSOR_ID, WIFI_ESSID, WIFI_PASSWORD, MQTT_HOST, \
    MQTT_TOPIC, SLEEP_TIME

from wifi import wifi_connect, disable_wifi_ap
from thingflow import Scheduler
from tsl2591 import Tsl2591
from mqtt_writer import MQTTWriter


def _opt(name, default):
    return getattr(config, name, default)


def _make_sensor():
    try:
        from machine import I2C  # noqa: F401  (only probing for it)
    except ImportError:
        from sim_tsl2591 import SimTsl2591
        bus = SimTsl2591()
        full, ir = _opt('SIM_CHANNELS', (611, 284))
        bus.set_channels(full, ir)
        print('No machine.I2C on this port: using the simulated TSL2591 '
              '(sim_tsl2591), raw counts full=%d ir=%d' % (full, ir))
        return Tsl2591(SENSOR_ID, i2c=bus)
    return Tsl2591(SENSOR_ID)


# setup network
disable_wifi_ap()
wifi_connect(WIFI_ESSID, WIFI_PASSWORD, _opt('WIFI_TIMEOUT', 30))

# create objects
# The keepalive must outlast the gap between two publishes, or the broker
# closes the idle connection (after 1.5 x keepalive) between samples.
m = MQTTWriter(SENSOR_ID, MQTT_HOST, _opt('MQTT_PORT', 1883), MQTT_TOPIC,
               qos=_opt('MQTT_QOS', 0),
               keepalive=_opt('MQTT_KEEPALIVE', max(60, int(SLEEP_TIME * 2))),
               user=_opt('MQTT_USER', None),
               password=_opt('MQTT_PASSWORD', None))
tsl = _make_sensor()
sched = Scheduler()

# schedule and run
sched.schedule_sensor(tsl, SLEEP_TIME, m)
print('Running main loop with sample every %s seconds...' % SLEEP_TIME)
sched.run_forever()
