"""The guide's PC REPL session (mpy-scripts/README.md, "The tutorial's REPL
session on a PC"), replayed on the real MicroPython REPL through a
pseudo-terminal, as `make repl` starts it (mpy-scripts/pc/repl.sh).

Each input line is taken from the README, so the guide and this test cannot
drift apart; each printed line, the README's and the runtime's, must have
the tutorial's format: ``('lux-1', 611, 284.1312)`` events, ``Connecting to
HOST:PORT`` / ``Connection successful`` from the MQTT writer.
"""

import json
import re

import pytest

from conftest import SCRIPTS
from mpyrun import TSL2591_IMPLS
from ptyio import PtyProcess

README = SCRIPTS / "README.md"
REPL_SH = SCRIPTS / "pc" / "repl.sh"
BEGIN = "<!-- pc-repl-session: begin -->"
END = "<!-- pc-repl-session: end -->"

# 284.1312 lux (the tutorial's reading): the unix port's doubles print it as
# 284.13120000000004, the ESP8266's single-precision floats as 284.1312.
LUX = r"284\.1312(0000000004)?"
EVENT = r"\('lux-1', \d+, %s\)" % LUX
CLOSURE = r"<closure\b.*>"
TRACEBACK = [r"\^CTraceback \(most recent call last\):",
             r'  File "<stdin>", line 1, in <module>',
             r'  File ".*", line \d+, in \w+',
             r"KeyboardInterrupt: ?"]

# (input line, the format of each line it prints); None: what boot prints.
SESSION = [
    (None, [r"simulated TSL2591 on machine\.I2C \(SIMULATE_SENSOR in config\.py\)",
            r"MicroPython \S+ on \S+; .*",
            r'Type "help\(\)" for more information\.']),
    ("from thingflow import *", []),
    ("from tsl2591 import Tsl2591", []),
    ("tsl = Tsl2591('lux-1')", []),
    ("tsl.sample()", [LUX]),
    ("sensor = SensorAsOutputThing(tsl)", []),
    ("sensor.connect(Output())", [CLOSURE]),
    ("from mqtt_writer import MQTTWriter",  []),
    ("sensor.connect(MQTTWriter('lux-1', '127.0.0.1', 1883, 'sensor-data'))",
     [r"Connecting to 127\.0\.0\.1:1883", r"Connection successful", CLOSURE]),
    ("sched = Scheduler()", []),
    ("sched.schedule_periodic(sensor, 2.0)", [CLOSURE]),
    ("sched.run_forever()", [EVENT, EVENT] + TRACEBACK),
]


def readme_session():
    """[(input or None, [printed lines])] from the README's session block."""
    text = README.read_text()
    assert BEGIN in text and END in text, "session markers missing in README"
    block = text[text.index(BEGIN):text.index(END)]
    lines = block.split("```")[1].splitlines()[1:]  # inside the fence
    assert lines[0] == "$ make repl"
    steps = [(None, [])]
    for line in lines[1:]:
        if line.startswith(">>> "):
            steps.append((line[4:], []))
        elif line != ">>>" and line.strip() != "...":
            steps[-1][1].append(line)
    return steps


def test_readme_session_has_the_tutorial_format():
    steps = readme_session()
    assert [s[0] for s in steps] == [s[0] for s in SESSION]
    for (inp, printed), (_, formats) in zip(steps, SESSION):
        if inp == "sched.run_forever()":
            # The guide shows a few events, then Ctrl-C.
            events = [p for p in printed if not p.startswith(("^C", " ", "Key"))]
            assert len(events) >= 2
            assert all(re.fullmatch(EVENT, e) for e in events), events
            printed = printed[:2] + printed[len(events):]
        assert len(printed) == len(formats), (inp, printed)
        for line, fmt in zip(printed, formats):
            assert re.fullmatch(fmt, line), (inp, line, fmt)


def lines_of(chunk):
    return chunk.decode(errors="replace").replace("\r", "").split("\n")


@pytest.mark.parametrize("impl", TSL2591_IMPLS)
def test_pc_repl_session(impl, broker, mosquitto_sub, monkeypatch):
    sub = mosquitto_sub("sensor-data", broker.port)
    monkeypatch.setenv("IMPL", impl)
    repl = PtyProcess([str(REPL_SH)])
    try:
        boot = lines_of(repl.read_until(">>> "))
        assert boot[-1] == ">>> "
        printed = boot[:-1]
        assert len(printed) == len(SESSION[0][1]), printed
        for line, fmt in zip(printed, SESSION[0][1]):
            assert re.fullmatch(fmt, line), (line, fmt)
        for inp, formats in SESSION[1:]:
            sent = inp.replace("1883", str(broker.port))
            repl.send(sent + "\r")
            echo = lines_of(repl.read_until("\n"))
            assert echo[0] == sent
            if inp == "sched.run_forever()":
                printed = [lines_of(repl.read_until("\n"))[0] for _ in range(2)]
                # Each event is printed, then published: Ctrl-C only once
                # both are at the broker, as a user would wait to see them.
                msgs = sub.wait_messages(2)
                repl.send("\x03")
                tail = lines_of(repl.read_until(">>> "))
                assert tail[-1] == ">>> "
                printed += tail[:-1]
                # Ctrl-C may land mid-call: any number of frames.
                frames = [p for p in printed if p.startswith("  File")]
                formats = formats[:4] + [TRACEBACK[2]] * (len(frames) - 1) \
                    + formats[5:]
            else:
                out = lines_of(repl.read_until(">>> "))
                assert out[-1] == ">>> "
                printed = out[:-1]
            formats = [f.replace("1883", str(broker.port)) for f in formats]
            assert len(printed) == len(formats), (sent, printed)
            for line, fmt in zip(printed, formats):
                assert re.fullmatch(fmt, line), (sent, line, fmt)
    finally:
        repl.close()
    for m in msgs:
        sensor, ts, lux = json.loads(m.payload)
        assert sensor == "lux-1" and isinstance(ts, int)
        assert lux == pytest.approx(284.1312)
