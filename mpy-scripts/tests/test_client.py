"""client.py end to end: the unix port, the simulated TSL2591, a real broker.

The config comes from a temp dir placed first on sys.path, the rest from
mpy-scripts (thingflow, wifi, client), the implementation dir (tsl2591,
mqtt_writer) and sim/ (sim_tsl2591).
"""

import json

import pytest

from conftest import SCRIPTS, SIM_DIR

CONFIG = """\
SENSOR_ID = 'lux-7'
WIFI_ESSID = 'unused'
WIFI_PASSWORD = 'unused'
MQTT_HOST = '127.0.0.1'
MQTT_TOPIC = 'test-topic'
SLEEP_TIME = 0.2
MQTT_PORT = {port}
SIM_CHANNELS = ({full}, {ir})
"""


def expected_lux(full, ir):
    # The tutorial's formula at 100 ms integration and gain x1.
    cpl = 100 * 1.0 / 408.0
    return max((full - 1.64 * ir) / cpl, (0.59 * full - 0.86 * ir) / cpl)


@pytest.mark.parametrize("full, ir", [(611, 284), (37000, 12000)])
def test_client_publishes_samples(writer_dir, broker, mosquitto_sub,
                                  mpy_process, tmp_path, full, ir):
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.py").write_text(CONFIG.format(port=broker.port, full=full,
                                                 ir=ir))
    sub = mosquitto_sub("test-topic", broker.port)
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import client"])
    try:
        p.wait_line("Running main loop with sample every 0.2 seconds...")
        msgs = sub.wait_messages(4, timeout=5)
    finally:
        p.kill()
    events = [json.loads(m.payload) for m in msgs]
    assert [e[0] for e in events] == ["lux-7"] * 4
    assert all(e[2] == pytest.approx(expected_lux(full, ir), rel=1e-9)
               for e in events)
    ts = [e[1] for e in events]
    assert all(isinstance(t, int) for t in ts) and ts == sorted(ts)
    # Four samples 0.2 s apart span about 0.6 s of whole-second timestamps.
    assert ts[-1] - ts[0] <= 2
    assert p.lines[:5] == [
        "No network module on this port: Wi-Fi access point set-up skipped",
        "No network module on this port: Wi-Fi connection skipped",
        "Connecting to 127.0.0.1:%d" % broker.port,
        "Connection successful",
        "No machine.I2C on this port: using the simulated TSL2591 "
        "(sim_tsl2591), raw counts full=%d ir=%d" % (full, ir),
    ]
    # keepalive: at least 60 s by default; QoS 0; not retained.
    assert "as lux-7 (p2, c1, k60)" in broker.log()
    assert "Received PUBLISH from lux-7 (d0, q0, r0, m0, 'test-topic'" \
        in broker.log()


def test_client_with_bad_broker_address_fails_clearly(writer_dir, tmp_path,
                                                      mpy_process):
    from conftest import free_port
    port = free_port()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.py").write_text(CONFIG.format(port=port, full=1, ir=1))
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import client"])
    out = p.finish()
    assert p.proc.returncode != 0
    assert "Connecting to 127.0.0.1:%d" % port in out
    assert "ECONNREFUSED" in out
    assert "Running main loop" not in out


# A stand-in for the ESP8266 `network` module (the unix port has none), so
# wifi.py's board path runs on the real MicroPython. SCENARIO picks what the
# access point does.
FAKE_NETWORK = """\
STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5
SCENARIO = 'ok'
calls = []

class WLAN:
    def __init__(self, iface):
        self.iface = iface
        self.polls = 0
        self.up = False
    def active(self, on=None):
        calls.append(('active', self.iface, on))
    def connect(self, essid, password):
        calls.append(('connect', essid, password))
    def isconnected(self):
        self.polls += 1
        return SCENARIO == 'ok' and self.polls > 3
    def status(self):
        return {'ok': STAT_CONNECTING, 'wrong': STAT_WRONG_PASSWORD,
                'noap': STAT_NO_AP_FOUND, 'never': STAT_CONNECTING}[SCENARIO]
    def ifconfig(self):
        return ('192.168.1.50', '255.255.255.0', '192.168.1.1', '192.168.1.1')
"""


@pytest.mark.parametrize("scenario, expected", [
    ("ok", "network config: ('192.168.1.50', '255.255.255.0', "
           "'192.168.1.1', '192.168.1.1')"),
    ("wrong", "OSError Wi-Fi: cannot join 'home': wrong password"),
    ("noap", "OSError Wi-Fi: cannot join 'home': network not found"),
    ("never", "OSError Wi-Fi: no connection to 'home' after 0.3 s (status 1)"),
])
def test_wifi_on_a_board_port(run_mpy, tmp_path, scenario, expected):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "network.py").write_text(FAKE_NETWORK)
    code = ("import network\n"
            "network.SCENARIO = %r\n"
            "from wifi import disable_wifi_ap, wifi_connect\n"
            "disable_wifi_ap()\n"
            "try:\n"
            "    wifi_connect('home', 'pw', timeout=0.3)\n"
            "except OSError as e:\n"
            "    print('OSError', e)\n"
            "print('CALLS', network.calls)\n" % scenario)
    out = run_mpy(code, [fake, SCRIPTS]).stdout.splitlines()
    assert out[0] == "Wi-Fi access point disabled"
    assert out[1] == "Connecting to Wi-Fi network home..."
    assert out[2] == expected
    calls = eval(out[3][len("CALLS "):])
    assert calls[:3] == [("active", 1, False), ("active", 0, True),
                         ("connect", "home", "pw")]
    if scenario != "ok":
        assert calls[-1] == ("active", 0, False)  # radio off after failure


def test_boot_py_runs_without_esp(run_mpy):
    # On the unix port there is no `esp` module: boot.py must still run.
    boot = (SCRIPTS / "boot.py").read_text()
    out = run_mpy(boot + "\nprint('BOOT OK', gc.isenabled())\n", [SCRIPTS])
    assert out.stdout.strip() == "BOOT OK True"
