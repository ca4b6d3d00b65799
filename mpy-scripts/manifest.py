# Freeze the device scripts into a custom ESP8266 firmware: their bytecode
# then runs from flash and leaves the small heap for data.
#
#   make -C ports/esp8266 BOARD=ESP8266_GENERIC \
#        FROZEN_MANIFEST=/path/to/mpy-scripts/manifest.py
#
# config.py, boot.py and client.py/main.py stay on the filesystem (they are
# edited per board). The native .mpy modules cannot be frozen this way: to
# use them, drop the two fallback lines and copy the .mpy files instead.

metadata(description="lumen-link sensor node: ThingFlow core, TSL2591, MQTT writer",
         version="0.1.0")

# The port's default frozen modules (the 1 MiB+ builds; use
# $(BOARD_DIR)/manifest_512kiB.py for the 512K variant).
include("$(PORT_DIR)/boards/manifest.py")

module("thingflow.py", opt=3)
module("thingflow_things.py", opt=3)
module("wifi.py", opt=3)
module("tsl2591.py", base_path="fallback", opt=3)
module("mqtt_writer.py", base_path="fallback", opt=3)
