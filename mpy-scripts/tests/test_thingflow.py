"""The ThingFlow core (mpy-scripts/thingflow.py) on the real MicroPython."""

import ast

import pytest

from conftest import SCRIPTS, SIM_DIR
from mpyrun import IMPL_DIRS, TSL2591_IMPLS

PATHS = [SCRIPTS]

# Test sensors: count up, fail or complete after a few samples.
SENSORS = """
from thingflow import *

class Counter:
    def __init__(self, sensor_id, fail_at=None, stop_at=None):
        self.sensor_id = sensor_id
        self.n = 0
        self.fail_at = fail_at
        self.stop_at = stop_at
    def sample(self):
        self.n += 1
        if self.n == self.fail_at:
            raise OSError(19)
        if self.n == self.stop_at:
            raise StopIteration
        return self.n

class Recorder:
    def __init__(self, name, sched=None, stop_after=None):
        self.name = name
        self.events = []
        self.sched = sched
        self.stop_after = stop_after
    def on_next(self, x):
        self.events.append(x)
        print('NEXT', self.name, repr(x))
        if self.stop_after and len(self.events) >= self.stop_after:
            self.sched.stop()
    def on_error(self, e):
        print('ERROR', self.name, repr(e))
    def on_completed(self):
        print('COMPLETED', self.name)
"""


def parse(out, kind):
    return [ast.literal_eval(line.split(" ", 2)[2])
            for line in out.splitlines() if line.startswith(kind + " ")]


def test_output_prints_tutorial_events(run_mpy):
    code = SENSORS + """
sched = Scheduler()
c = Counter('lux-1')
stopper = Recorder('r', sched, stop_after=3)
t0 = int(time.time())
cancel = sched.schedule_sensor(c, 0.02, Output(), stopper)
print('CANCEL', callable(cancel))
sched.run_forever()
print('T0', t0, int(time.time()))
"""
    out = run_mpy(code, PATHS).stdout
    lines = out.splitlines()
    assert lines[0] == "CANCEL True"
    printed = [ast.literal_eval(x) for x in lines if x.startswith("('lux-1'")]
    t0, t1 = (int(v) for v in lines[-1].split()[1:])
    # Output prints the event tuple: (sensor_id, whole seconds, value).
    assert [p[0] for p in printed] == ["lux-1"] * 3
    assert [p[2] for p in printed] == [1, 2, 3]
    assert all(isinstance(p[1], int) and t0 <= p[1] <= t1 for p in printed)
    assert parse(out, "NEXT") == printed


# The scheduler's clock made virtual: its sleep_ms advances its ticks_ms at
# once, so periods come out exact whatever the machine's load (the real
# clock is thingflow's default; the tests above use it).
VIRTUAL_CLOCK = """
import thingflow
_now = [%d]
thingflow.ticks_ms = lambda: _now[0]
def _sleep_ms(ms):
    _now[0] = time.ticks_add(_now[0], ms)
thingflow.sleep_ms = _sleep_ms
"""


def test_periods_are_kept(run_mpy):
    # Two sensors: one every 30 ms, one every 90 ms; stop after 12 fast ones.
    code = SENSORS + VIRTUAL_CLOCK % 0 + """
sched = Scheduler()
sched.schedule_sensor(Counter('fast'), 0.03, Recorder('fast', sched, 12))
slow = Recorder('slow')
sched.schedule_sensor(Counter('slow'), 0.09, slow)
t = thingflow.ticks_ms()
sched.run_forever()
print('ELAPSED', time.ticks_diff(thingflow.ticks_ms(), t))
print('SLOW', len(slow.events))
"""
    out = run_mpy(code, PATHS).stdout
    fast = [e for e in parse(out, "NEXT") if e[0] == "fast"]
    assert [e[2] for e in fast] == list(range(1, 13))
    # Both start at once and interleave: 11 fast periods = 330 ms, in which
    # the slow one ran at 0, 90, 180 and 270 ms.
    assert int(out.split("SLOW ")[1].split()[0]) == 4, out
    assert int(out.split("ELAPSED ")[1].split()[0]) == 330, out


def test_sensor_error_reaches_on_error_and_is_reported(run_mpy):
    code = SENSORS + """
sched = Scheduler()
sched.schedule_sensor(Counter('bad', fail_at=3), 0.01, Recorder('a'),
                      Recorder('b'))
sched.run_forever()
print('RETURNED')
"""
    out = run_mpy(code, PATHS).stdout
    lines = out.splitlines()
    assert [e[2] for e in parse(out, "NEXT")] == [1, 1, 2, 2]
    # Reported on the console, then every subscriber's on_error, once.
    i = lines.index("Error from sensor bad: OSError(19,); stopping this stream")
    assert lines[i + 1:i + 3] == ["ERROR a OSError(19,)", "ERROR b OSError(19,)"]
    # The stream is over (as in ThingFlow): no task left, the loop says so.
    assert lines[-2:] == ["Scheduler: no task left, leaving the main loop",
                          "RETURNED"]


def test_failed_sensor_does_not_stop_other_sensors(run_mpy):
    code = SENSORS + """
sched = Scheduler()
sched.schedule_sensor(Counter('bad', fail_at=2), 0.01, Recorder('bad'))
sched.schedule_sensor(Counter('good'), 0.01, Recorder('good', sched, 6))
sched.run_forever()
"""
    out = run_mpy(code, PATHS).stdout
    good = [e[2] for e in parse(out, "NEXT") if e[0] == "good"]
    assert good == [1, 2, 3, 4, 5, 6]
    assert out.count("ERROR bad OSError(19,)") == 1


def test_stop_iteration_completes_the_stream(run_mpy):
    code = SENSORS + """
sched = Scheduler()
sched.schedule_sensor(Counter('s', stop_at=3), 0.01, Recorder('r'), Output())
sched.run_forever()
"""
    out = run_mpy(code, PATHS).stdout
    lines = out.splitlines()
    assert [e[2] for e in parse(out, "NEXT")] == [1, 2]
    assert [ast.literal_eval(x)[2] for x in lines if x.startswith("('s'")] \
        == [1, 2]
    # The third sample raised StopIteration: on_completed, then the task
    # is gone and the loop ends.
    assert lines[4:] == ["COMPLETED r", "Completed",
                         "Scheduler: no task left, leaving the main loop"]


def test_subscriber_exception_propagates(run_mpy):
    code = SENSORS + """
class Broken:
    def on_next(self, x): raise ValueError('boom')
    def on_error(self, e): pass
    def on_completed(self): pass
sched = Scheduler()
sched.schedule_sensor(Counter('s'), 0.01, Broken())
try:
    sched.run_forever()
except ExcInDispatch as e:
    print('FATAL', e)
"""
    out = run_mpy(code, PATHS).stdout
    assert out.startswith("FATAL dispatching event ('s', ")
    assert "ValueError('boom',)" in out


def test_connect_disconnect_and_cancel(run_mpy):
    code = SENSORS + """
sched = Scheduler()
thing = SensorAsOutputThing(Counter('s'))
a = Recorder('a')
b = Recorder('b', sched, 4)
dispose_a = thing.connect(a)
thing.connect(b)
cancel = sched.schedule_periodic(thing, 0.01)
other = Recorder('other')
cancel_other = sched.schedule_sensor(Counter('o'), 0.01, other)
cancel_other()                      # never runs
thing._observe(); thing._observe()  # by hand: a and b see 1, 2
dispose_a()
sched.run_forever()                 # b sees 3, 4 and stops the loop
cancel()
print('A', [e[2] for e in a.events], 'B', [e[2] for e in b.events],
      'O', len(other.events))
thing.disconnect(b)
thing._observe()
print('AFTER', len(b.events))
try:
    sched.schedule_periodic(thing, 0)
except ValueError as e:
    print('ValueError', e)
"""
    out = run_mpy(code, PATHS).stdout
    assert "A [1, 2] B [1, 2, 3, 4] O 0" in out
    assert "AFTER 4" in out
    assert "ValueError interval must be at least 1 ms, got 0" in out


def test_stop_from_outside_a_subscriber(run_mpy):
    # A periodic task of our own stops the scheduler: run_forever returns
    # and can be run again.
    code = SENSORS + """
class Stopper(OutputThing):
    def __init__(self, sched):
        super().__init__()
        self.sched = sched
        self.connect(Recorder('stopper'))
    def _observe(self):
        self.sched.stop()
sched = Scheduler()
r = Recorder('r')
sched.schedule_sensor(Counter('s'), 0.01, r)
cancel = sched.schedule_periodic(Stopper(sched), 0.055)
sched.run_forever()
first = len(r.events)
cancel()
time.sleep_ms(20)  # the sensor is due again
sched.schedule_periodic(Stopper(sched), 0.03)
sched.run_forever()
print('RUNS', first, len(r.events))
"""
    out = run_mpy(code, PATHS).stdout
    first, total = (int(x) for x in out.split("RUNS ")[1].split())
    # Each run: the due sensor samples once, then the Stopper (due at once)
    # ends the run.
    assert first == 1 and total == 2, out


@pytest.mark.parametrize("impl", TSL2591_IMPLS)
def test_with_simulated_tsl2591(run_mpy, impl):
    code = """
from thingflow import *
from sim_tsl2591 import SimTsl2591
from tsl2591 import Tsl2591
bus = SimTsl2591()
bus.set_channels(611, 284)
sched = Scheduler()
class Stop:
    n = 0
    def on_next(self, x):
        self.n += 1
        if self.n == 3:
            sched.stop()
    def on_error(self, e): pass
    def on_completed(self): pass
sched.schedule_sensor(Tsl2591('lux-1', i2c=bus), 0.02, Output(), Stop())
sched.run_forever()
# Then a sensor that falls off the bus: its stream ends with an error.
tsl = Tsl2591('lux-2', i2c=bus)
bus.present = False
sched2 = Scheduler()
sched2.schedule_sensor(tsl, 0.02, Output())
sched2.run_forever()
"""
    out = run_mpy(code, PATHS + [IMPL_DIRS[impl], SIM_DIR]).stdout
    lines = out.splitlines()
    events = [ast.literal_eval(x) for x in lines[:3]]
    cpl = 100 * 1.0 / 408.0
    lux = max((611 - 1.64 * 284) / cpl, (0.59 * 611 - 0.86 * 284) / cpl)
    assert [e[0] for e in events] == ["lux-1"] * 3
    assert all(e[2] == pytest.approx(lux, rel=1e-9) for e in events)
    assert lines[3].startswith("Error from sensor lux-2: OSError(19, ")
    assert lines[4].startswith("Error: OSError(19, ")
    assert lines[5] == "Scheduler: no task left, leaving the main loop"


def test_ticks_wraparound_is_handled(run_mpy):
    # Fake a ticks_ms counter close to its wrap point: the scheduler must
    # keep its period across the wrap (ticks_diff/ticks_add, not < or +).
    code = SENSORS + """
import thingflow
PERIOD = time.ticks_add(0, -1) + 1  # the ticks period of this port
""" + VIRTUAL_CLOCK % 0 + """
_now[0] = time.ticks_add(0, -40)  # wraps 40 ms from now
sched = Scheduler()
sched.schedule_sensor(Counter('w'), 0.02, Recorder('w', sched, 6))
t = thingflow.ticks_ms()
sched.run_forever()
print('ELAPSED', time.ticks_diff(thingflow.ticks_ms(), t), t > PERIOD // 2)
"""
    out = run_mpy(code, PATHS).stdout
    assert [e[2] for e in parse(out, "NEXT")] == [1, 2, 3, 4, 5, 6]
    # Exactly 5 periods of 20 ms from just below the wrap point: neither a
    # burst (wrap seen as "overdue") nor a stall (wrap seen as "far in the
    # future", which the virtual clock would show at once as a huge wait).
    assert out.split("ELAPSED ")[1].split() == ["100", "True"], out
