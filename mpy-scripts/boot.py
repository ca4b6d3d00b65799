# boot.py: runs on every reset, before main.py. Kept minimal: the
# application (client.py, or main.py for autostart) does the rest.
import gc

try:
    import esp
    # Keep the SDK's debug messages off UART0, which carries the REPL.
    esp.osdebug(None)
except ImportError:  # not an ESP8266/ESP32
    pass

# Start the application with an unfragmented heap.
gc.collect()
