# config.py for the PC (the MicroPython unix port): `make repl` and the guide's
# PC session use it. The same settings as the board's config.py (see
# mpy-scripts/README.md), with the simulated sensor selected.

SENSOR_ID = 'lux-1'

# The unix port has no `network` module: Wi-Fi is skipped.
WIFI_ESSID = 'unused-on-a-pc'
WIFI_PASSWORD = 'unused-on-a-pc'

# A broker on this machine: `host-service sensor-data test.csv --embedded-broker`
# or `mosquitto`.
MQTT_HOST = '127.0.0.1'
MQTT_PORT = 1883
MQTT_TOPIC = 'sensor-data'

SLEEP_TIME = 2.0

# boot.py puts the simulated TSL2591 behind machine.I2C, so Tsl2591('lux-1')
# works as on the board; SIM_CHANNELS are its raw (full, infrared) counts:
# (109, 24) reads 284.1312 lux, the tutorial's number.
SIMULATE_SENSOR = True
SIM_CHANNELS = (109, 24)
