# boot.py: runs on every reset, before main.py. Kept minimal: the
# application (client.py, or main.py for autostart) does the rest.
import gc

try:
    import esp
except ImportError:  # not an ESP8266/ESP32
    esp = None
if hasattr(esp, "osdebug"):
    # Keep the SDK's debug messages off UART0, which carries the REPL.
    esp.osdebug(None)

# Native modules (.mpy built from Rust) need room for their machine code: by
# default the ESP8266 has only ~500 bytes of IRAM for it. config.py can name a
# flash region, NATIVE_CODE_LOCATION = (start, length) in bytes (multiples of
# 4096, below 1 MiB, unused by the firmware and the filesystem; see the
# repository README). It must be set before the first native import.
try:
    from config import NATIVE_CODE_LOCATION
except ImportError:
    NATIVE_CODE_LOCATION = None
if NATIVE_CODE_LOCATION and esp is not None and hasattr(esp, "set_native_code_location"):
    _start, _len = NATIVE_CODE_LOCATION
    # Never over the filesystem (a 1 MiB board has no free gap below it).
    _fs = esp.flash_user_start() if hasattr(esp, "flash_user_start") else None
    if _fs is not None and _start + _len > _fs:
        print("NATIVE_CODE_LOCATION 0x%x..0x%x overlaps the filesystem (from 0x%x): "
              "not applied; client.py will use the pure-Python modules"
              % (_start, _start + _len, _fs))
    else:
        esp.set_native_code_location(_start, _len)
        print("native code goes to flash 0x%x..0x%x" % (_start, _start + _len))

# On a PC (the unix port, `make repl`), config.py can select the simulated
# TSL2591 as machine.I2C, so Tsl2591('lux-1') works without i2c= (sim/).
try:
    from config import SIMULATE_SENSOR
except ImportError:
    SIMULATE_SENSOR = False
if SIMULATE_SENSOR:
    import sim_machine
    sim_machine.install()
    print("simulated TSL2591 on machine.I2C (SIMULATE_SENSOR in config.py)")

# Start the application with an unfragmented heap.
gc.collect()
