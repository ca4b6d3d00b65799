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


RETRY = "RETRY_DELAY = 0.1\nRETRY_MAX_DELAY = 0.2\nRETRY_LIMIT = {limit}\n"


def write_config(tmp_path, port, full=109, ir=24, limit=None, sleep=0.2):
    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "config.py").write_text(
        CONFIG.format(port=port, full=full, ir=ir).replace(
            "SLEEP_TIME = 0.2", "SLEEP_TIME = %s" % sleep)
        + RETRY.format(limit=limit))
    return cfg


def test_client_refused_broker_retries_bounded_then_fails(writer_dir, tmp_path,
                                                         mpy_process):
    from conftest import free_port
    port = free_port()
    cfg = write_config(tmp_path, port, limit=3)
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import client"])
    out = p.finish().splitlines()
    assert p.proc.returncode != 0
    refused = ("OSError: [Errno 111] ECONNREFUSED: MQTT broker 127.0.0.1:%d "
               "refused connection" % port)
    # Each attempt: connect, refused, a printed wait that doubles up to the cap.
    waits = [line for line in out if line.startswith("client: ")]
    assert waits == [
        "client: %s; retrying in 0.1 s (attempt 1)" % refused,
        "client: %s; retrying in 0.2 s (attempt 2)" % refused,
        "client: %s; retrying in 0.2 s (attempt 3)" % refused,
        "client: %s; giving up after 4 attempts (RETRY_LIMIT)" % refused,
    ]
    assert out.count("Connecting to 127.0.0.1:%d" % port) == 4
    assert "Running main loop" not in "\n".join(out)
    assert out[-1] == "OSError: [Errno 111] ECONNREFUSED: MQTT broker " \
        "127.0.0.1:%d refused connection" % port


def test_client_waits_for_a_broker_that_comes_up(writer_dir, tmp_path,
                                                 mpy_process, mosquitto_sub):
    from conftest import MosquittoBroker, free_port
    port = free_port()
    cfg = write_config(tmp_path, port)
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import client"])
    broker = None
    try:
        p.wait_line("retrying in 0.2 s (attempt 2)")
        d = tmp_path / "late-broker"
        d.mkdir()
        broker = MosquittoBroker(d, port=port).start()
        sub = mosquitto_sub("test-topic", port)
        p.wait_line("Running main loop with sample every 0.2 seconds...")
        msgs = sub.wait_messages(2, timeout=5)
    finally:
        p.kill()
        if broker:
            broker.stop()
    assert [json.loads(m.payload)[0] for m in msgs] == ["lux-7", "lux-7"]


# A flaky bus: the simulated TSL2591 fails with EIO (a loose wire) while the
# file "fail" exists in the working directory.
FLAKY = """\
import os
import sim_tsl2591
_Sim = sim_tsl2591.SimTsl2591
class Flaky(_Sim):
    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        try:
            os.stat('fail')
        except OSError:
            return _Sim.readfrom_mem_into(self, addr, memaddr, buf, addrsize)
        raise OSError(5)
sim_tsl2591.SimTsl2591 = Flaky
"""


def test_client_recovers_from_a_sensor_error(writer_dir, broker, tmp_path,
                                             mosquitto_sub, mpy_process):
    cfg = write_config(tmp_path, broker.port, limit=5)
    (cfg / "flaky.py").write_text(FLAKY)
    sub = mosquitto_sub("test-topic", broker.port)
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import flaky, client"])
    fail = tmp_path / "fail"  # the process runs in tmp_path
    try:
        sub.wait_messages(2, timeout=5)
        fail.write_text("")
        p.wait_line("retrying in 0.2 s (attempt 2)")
        fail.unlink()
        n = len(p.lines)
        p.wait_line("Running main loop with sample every 0.2 seconds...")
        msgs = sub.wait_messages(2, timeout=5)
    finally:
        p.kill()
    out = p.lines
    assert [json.loads(m.payload)[2] for m in msgs] == \
        [pytest.approx(284.1312)] * 2
    # The stream's end is reported by thingflow, the writer and the client.
    i = next(i for i, line in enumerate(out) if line.startswith("Error from sensor"))
    assert out[i].startswith("Error from sensor lux-7: OSError(5, 'TSL2591 at 0x29: ")
    assert out[i + 1].startswith("Disconnecting from MQTT broker due to error: OSError(5")
    assert out[i + 2] == "Scheduler: no task left, leaving the main loop"
    assert out[i + 3].startswith("client: sensor lux-7 failed (OSError: [Errno 5] EIO: TSL2591 at 0x29")
    assert out[i + 3].endswith("retrying in 0.1 s (attempt 1)")
    # Set-up fails while the bus is down: the sensor is not found (its ID
    # check), the writer's connection is closed again, the wait doubles.
    fails = [line for line in out[i + 4:n] if line.startswith("client: ")]
    assert fails == ["client: OSError: [Errno 5] EIO: TSL2591 not found at 0x29: "
                     "bus error (EIO); retrying in 0.2 s (attempt 2)"]
    assert "Connection successful" in out[i + 4:n]


def test_client_falls_back_when_the_native_module_cannot_load(broker, tmp_path,
                                                              mosquitto_sub,
                                                              mpy_process):
    # As on a board after `make deploy`: the fallbacks under their own
    # names, and a native module that fails to load (MemoryError, as a
    # fragmented ESP8266 heap gives) or is missing.
    from mpyrun import IMPL_DIRS
    cfg = write_config(tmp_path, broker.port)
    board = tmp_path / "board"
    board.mkdir()
    for mod in ("tsl2591", "mqtt_writer"):
        (board / (mod + "_fallback.py")).write_text(
            (IMPL_DIRS["fallback"] / (mod + ".py")).read_text())
    (board / "mqtt_writer.py").write_text(
        "raise MemoryError('memory allocation failed, allocating 29882 bytes')\n")
    sub = mosquitto_sub("test-topic", broker.port)
    p = mpy_process("", [cfg, board, SCRIPTS, SIM_DIR],
                    args=["-c", "import client"])
    try:
        p.wait_line("Running main loop")
        sub.wait_messages(1, timeout=5)
    finally:
        p.kill()
    assert p.lines[:2] == [
        "mqtt_writer: native module not used (MemoryError: memory allocation "
        "failed, allocating 29882 bytes); using mqtt_writer_fallback",
        "tsl2591: native module not used (ImportError: no module named "
        "'tsl2591'); using tsl2591_fallback",
    ]


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


@pytest.mark.parametrize("fs_start, expected", [
    (0x100000, "native code goes to flash 0xe0000..0x100000"),
    (0x9B000, "NATIVE_CODE_LOCATION 0xe0000..0x100000 overlaps the filesystem (from "
              "0x9b000): not applied; client.py will use the pure-Python modules"),
])
def test_boot_py_native_code_location(run_mpy, tmp_path, fs_start, expected):
    # A stand-in for the ESP8266's esp module: a 2 MiB+ board's filesystem
    # starts at 1 MiB, a 1 MiB board's below the region.
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "esp.py").write_text(
        "calls = []\n"
        "def osdebug(x): calls.append(('osdebug', x))\n"
        "def flash_user_start(): return %d\n"
        "def set_native_code_location(s, n): calls.append(('ncl', s, n))\n" % fs_start)
    (fake / "config.py").write_text("NATIVE_CODE_LOCATION = (0xE0000, 0x20000)\n")
    boot = (SCRIPTS / "boot.py").read_text()
    out = run_mpy(boot + "\nprint(esp.calls)\n", [fake, SCRIPTS]).stdout.splitlines()
    assert out[0] == expected
    applied = [("ncl", 0xE0000, 0x20000)] if fs_start == 0x100000 else []
    assert out[1] == repr([("osdebug", None)] + applied)


def lan_address():
    """This machine's address on its network (what a board would use), or
    127.0.0.1 when it has none."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@pytest.mark.parametrize("password, ok", [("s3cret", True), ("wrong", False)])
def test_client_to_host_service_embedded_broker_on_the_network(
        writer_dir, tmp_path, mpy_process, host_service, password, ok):
    # The guide's host side: `host-service sensor-data test.csv
    # --embedded-broker=0.0.0.0:1883 --username lux --password ...` (topic
    # test-topic here), and the board's config.py naming this machine's
    # address and the credentials.
    import time
    from conftest import free_port
    port = free_port()
    csv = tmp_path / "test.csv"
    host_service("test-topic", csv, port, "--username", "lux", "--password", "s3cret",
                 bind="0.0.0.0")
    host = lan_address()
    cfg = write_config(tmp_path, port, limit=1)
    (cfg / "config.py").write_text(
        (cfg / "config.py").read_text().replace("'127.0.0.1'", repr(host))
        + "MQTT_USER = 'lux'\nMQTT_PASSWORD = %r\n" % password)
    p = mpy_process("", [cfg, SCRIPTS, writer_dir, SIM_DIR],
                    args=["-c", "import client"])
    if ok:
        p.wait_line("Running main loop")
        deadline = time.monotonic() + 10
        while len(csv.read_text().splitlines()) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        p.kill()
        rows = csv.read_text().splitlines()
        assert rows[0] == "timestamp,datetime,sensor_id,value", rows
        assert len(rows) >= 3, rows
        assert all(r.split(",")[2:] in (["lux-7", "284.1312"],
                                        ["lux-7", "284.13120000000004"])
                   for r in rows[1:3]), rows
    else:
        out = p.finish()
        refused = ("OSError: MQTT broker refused the connection: bad user name or "
                   "password (CONNACK code 4)")
        assert "client: %s; retrying in 0.1 s (attempt 1)" % refused in out, out
        assert "client: %s; giving up after 2 attempts (RETRY_LIMIT)" % refused in out
