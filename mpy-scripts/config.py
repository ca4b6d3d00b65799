# Settings for client.py. Edit, then copy to the board next to client.py.

# Sensor id: the first field of every event, e.g. ["lux-1", 624, 284.1312].
SENSOR_ID = 'lux-1'

# Wi-Fi network the board joins (ignored on the unix port, which has no
# `network` module).
WIFI_ESSID = 'CHANGE_ME'
WIFI_PASSWORD = 'CHANGE_ME'

# MQTT broker: host name or IP address of the machine running mosquitto
# (on the board, 'localhost' is the board itself: put your server's IP).
MQTT_HOST = 'localhost'
# Topic the events are published on; the host service subscribes to it.
MQTT_TOPIC = 'sensor-data'

# Seconds between two samples (a float is fine).
SLEEP_TIME = 5.0

# Optional settings, read by client.py with these defaults when absent:
# MQTT_PORT = 1883
# MQTT_QOS = 0              # 0 or 1 (1: each event waits for the PUBACK)
# MQTT_KEEPALIVE = 60       # seconds; client.py uses at least 2 x SLEEP_TIME
# MQTT_USER = None
# MQTT_PASSWORD = None
# WIFI_TIMEOUT = 30         # seconds to wait for the Wi-Fi connection
# SIM_CHANNELS = (611, 284) # unix demo only: raw (full, infrared) counts
# NATIVE_CODE_LOCATION = (0xE0000, 0x20000)  # ESP8266 + native .mpy: flash region for
#                                            # their machine code (boot.py; see README)
