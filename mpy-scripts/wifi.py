# Wi-Fi set-up for the board (ESP8266 ``network`` module).
#
# On a port without ``network`` (the unix port) both functions print that
# Wi-Fi is skipped and return, so client.py runs unchanged on a PC.
# (Comments, not docstrings: a board compiling this .py parses docstrings.)

import time


def _network():
    try:
        import network
        return network
    except ImportError:
        return None


# Turn off the board's own access point (on by default on the ESP8266); a
# sensor node only needs to be a station.
def disable_wifi_ap():
    network = _network()
    if network is None:
        print('No network module on this port: Wi-Fi access point set-up '
              'skipped')
        return
    network.WLAN(network.AP_IF).active(False)
    print('Wi-Fi access point disabled')


# Join ``essid``; wait up to ``timeout`` seconds.
#
# Raises ``OSError`` naming the cause (wrong password, network not found,
# timeout) instead of looping forever as the tutorial did.
def wifi_connect(essid, password, timeout=30):
    network = _network()
    if network is None:
        print('No network module on this port: Wi-Fi connection skipped')
        return
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if not wlan.isconnected():
        print('Connecting to Wi-Fi network %s...' % essid)
        wlan.connect(essid, password)
        # Status codes that will not get better by waiting.
        fatal = {}
        for name, what in (('STAT_WRONG_PASSWORD', 'wrong password'),
                           ('STAT_NO_AP_FOUND', 'network not found'),
                           ('STAT_CONNECT_FAIL', 'connection failed')):
            code = getattr(network, name, None)
            if code is not None:
                fatal[code] = what
        start = time.ticks_ms()
        while not wlan.isconnected():
            status = wlan.status()
            if status in fatal:
                wlan.active(False)
                raise OSError('Wi-Fi: cannot join %r: %s'
                              % (essid, fatal[status]))
            if time.ticks_diff(time.ticks_ms(), start) > timeout * 1000:
                wlan.active(False)
                raise OSError('Wi-Fi: no connection to %r after %s s '
                              '(status %r)' % (essid, timeout, status))
            time.sleep_ms(100)
    print('network config: %r' % (wlan.ifconfig(),))
