"""The guide's troubleshooting messages (mpy-scripts/README.md), produced for real.

Every `client: ...` line quoted in the README is read from it and must be
what client.py prints, with both implementations, when its cause is
staged: a sensor that does not answer, a bus that fails while running, a
closed port, a broker that refuses the password, a Wi-Fi network that
refuses or is not there. (`...` in a quoted line stands for any text.)
"""

import re

import pytest

from conftest import SCRIPTS, SIM_DIR, free_port
from test_client import FAKE_NETWORK

README = SCRIPTS / "README.md"

CONFIG = """\
SENSOR_ID = 'lux-1'
WIFI_ESSID = 'home'
WIFI_PASSWORD = 'secret'
MQTT_HOST = '127.0.0.1'
MQTT_PORT = {port}
MQTT_TOPIC = 'sensor-data'
SLEEP_TIME = 0.2
SIMULATE_SENSOR = True
SIM_CHANNELS = (109, 24)
"""

# A bus that answers the first few transfers, then fails (a wire comes loose).
LOOSE = """\
import sim_machine
_bus = sim_machine.BUS
_read = _bus.readfrom_mem_into
_calls = [0]
def _loose(addr, memaddr, buf, addrsize=8):
    _calls[0] += 1
    if _calls[0] > 4:
        raise OSError(5)
    return _read(addr, memaddr, buf, addrsize)
_bus.readfrom_mem_into = _loose
"""


def readme_lines():
    text = README.read_text()
    section = text[text.index("### Troubleshooting"):text.index("## The tutorial's REPL")]
    return re.findall(r"^- `(client: [^`]*)`", section, re.M)


def pattern(line, port):
    line = line.replace("192.168.1.10:1883", "127.0.0.1:%d" % port)
    return re.compile(".*".join(re.escape(part) for part in line.split("...")))


SCENARIOS = {
    "no acknowledge (ENODEV)": "import sim_machine; sim_machine.BUS.present = False",
    "TSL2591 at 0x29": "exec(open('loose.py').read())",
    "ECONNREFUSED": "",
    "bad user name or password": "",
    "wrong password": "import network; network.SCENARIO = 'wrong'",
    "network not found": "import network; network.SCENARIO = 'noap'",
}


def scenario_of(line):
    for key in SCENARIOS:
        if key in line:
            return key
    return None


def test_readme_quotes_the_messages():
    lines = readme_lines()
    staged = [ln for ln in lines if scenario_of(ln)]
    # All but the 30 s Wi-Fi timeout (wifi.py's own test covers its text).
    assert len(staged) == len(SCENARIOS) and len(lines) == len(SCENARIOS) + 1, lines


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_troubleshooting_message(key, writer_dir, broker, tmp_path, mpy_process,
                                 host_service):
    line = next(ln for ln in readme_lines() if scenario_of(ln) == key)
    port = broker.port
    extra = ""
    if key == "ECONNREFUSED":
        port = free_port()
    elif key == "bad user name or password":
        port = free_port()
        host_service("sensor-data", tmp_path / "t.csv", port,
                     "--username", "lux", "--password", "s3cret")
        extra = "MQTT_USER = 'lux'\nMQTT_PASSWORD = 'wrong'\n"
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.py").write_text(CONFIG.format(port=port) + extra)
    (cfg / "network.py").write_text(FAKE_NETWORK)
    (tmp_path / "loose.py").write_text(LOOSE)
    paths = [cfg, SCRIPTS, writer_dir, SIM_DIR]
    if "network" not in SCENARIOS[key]:
        (cfg / "network.py").unlink()  # the unix port's way: no Wi-Fi at all
    code = "import boot; %s; import client" % SCENARIOS[key] if SCENARIOS[key] \
        else "import boot; import client"
    p = mpy_process("", paths, args=["-c", code])
    want = pattern(line, port)
    try:
        got = p.wait_line(lambda s: s.startswith("client: "), timeout=15)
    finally:
        p.kill()
    assert want.fullmatch(got), (line, got)
