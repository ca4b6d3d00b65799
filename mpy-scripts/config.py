# Settings for client.py. Edit, then `make deploy PORT=/dev/ttyUSB0` copies it to
# the board (it refuses a file that still says CHANGE_ME).

# Sensor id: the first field of every event, e.g. ["lux-1", 624, 284.1312].
SENSOR_ID = 'lux-1'

# Wi-Fi network the board joins (2.4 GHz; ignored on the unix port, which has
# no `network` module).
WIFI_ESSID = 'CHANGE_ME'
WIFI_PASSWORD = 'CHANGE_ME'

# MQTT broker: IP address (or host name) of the machine running
# `host-service ... --embedded-broker` or mosquitto, e.g. '192.168.1.10'.
# Not 'localhost': on the board that is the board itself.
MQTT_HOST = 'CHANGE_ME'
# Topic the events are published on; the host service subscribes to it.
MQTT_TOPIC = 'sensor-data'

# Seconds between two samples (a float is fine).
SLEEP_TIME = 5.0

# ESP8266 with the native .mpy modules: the flash region for their machine
# code, (start, length) in bytes; boot.py applies it at every reset, before
# any import. (0xE0000, 0x20000) fits ESP8266_GENERIC v1.23+ on a 2 MiB+
# board: firmware below 0xE0000, filesystem from 1 MiB. Set it to None on a
# 1 MiB board (no free gap there: use the pure-Python fallbacks).
NATIVE_CODE_LOCATION = (0xE0000, 0x20000)

# Optional settings, read by client.py with these defaults when absent:
# MQTT_PORT = 1883
# MQTT_QOS = 0              # 0 or 1 (1: each event waits for the PUBACK)
# MQTT_KEEPALIVE = 60       # seconds; client.py uses at least 2 x SLEEP_TIME
# MQTT_USER = None
# MQTT_PASSWORD = None
# WIFI_TIMEOUT = 30         # seconds to wait for the Wi-Fi connection
# RETRY_DELAY = 1           # after an error: first wait (s) before setting up again,
# RETRY_MAX_DELAY = 60      # doubling up to this,
# RETRY_LIMIT = None        # and giving up after this many failures in a row (None: never)
# PC (unix port) only:
# SIMULATE_SENSOR = False   # True: boot.py puts the simulated TSL2591 behind machine.I2C
# SIM_CHANNELS = (611, 284) # the simulator's raw (full, infrared) counts (592.5792 lux;
#                           # (109, 24) reads 284.1312, the tutorial's number)
