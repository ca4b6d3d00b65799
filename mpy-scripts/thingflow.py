# A small ThingFlow-compatible core for MicroPython (and the unix port).
#
# Same API as the ``micropython/thingflow.py`` of ThingFlow, which the
# tutorial's REPL sessions and ``client.py`` use::
#
#     from thingflow import *
#     from tsl2591 import Tsl2591
#     sched = Scheduler()
#     sched.schedule_sensor(Tsl2591('lux-1'), 2.0, Output())
#     sched.run_forever()        # prints ('lux-1', 611, 284.1312) every 2 s
#
# An event is the tuple ``(sensor_id, ts, value)``; ``ts`` is ``time.time()``
# in whole seconds (seconds since boot on a board without an RTC).
#
# The scheduler is here; the event sources, Output and the errors are in
# thingflow_things.py (copy both files to the board), imported below, so
# `from thingflow import *` gives all of them. Two modules because a board
# compiles a .py source in its own heap, one module at a time, and the whole
# did not fit next to the application (thingflow_things.py says more); the
# explanations are comments, not docstrings, for the same reason.
#
# Timing uses ``time.ticks_ms``/``ticks_diff``/``sleep_ms`` when present
# (MicroPython), so wrap-around of the millisecond counter is handled.

import time

from thingflow_things import (FatalError, ExcInDispatch, OutputThing,  # noqa: F401
                              SensorAsOutputThing, Output)

try:
    from time import ticks_ms, ticks_diff, ticks_add, sleep_ms
except ImportError:  # CPython: only used for tooling, not on the board
    def ticks_ms():
        return int(time.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b

    def sleep_ms(ms):
        time.sleep(ms / 1000)


class _Task:
    __slots__ = ('thing', 'interval_ms', 'due')

    def __init__(self, thing, interval_ms, due):
        self.thing = thing
        self.interval_ms = interval_ms
        self.due = due


# Runs output things periodically on one thread.
#
# ``schedule_periodic(thing, interval)`` calls ``thing._observe()`` now and
# then every ``interval`` seconds; ``run_forever()`` returns when ``stop()``
# was called or when no task is left (all streams completed or failed).
class Scheduler:

    def __init__(self):
        # A tuple replaced on change (copy on write): run_forever iterates it
        # without copying while tasks may cancel themselves or others.
        self._tasks = ()
        self._stopping = False

    def _remove(self, task):
        self._tasks = tuple(t for t in self._tasks if t is not task)

    # Schedule ``output_thing`` every ``interval`` seconds (a number > 0).
    # Returns a function that cancels the schedule.
    def schedule_periodic(self, output_thing, interval):
        interval_ms = int(round(interval * 1000))
        if interval_ms <= 0:
            raise ValueError('interval must be at least 1 ms, got %r'
                             % (interval,))
        task = _Task(output_thing, interval_ms, ticks_ms())
        self._tasks = self._tasks + (task,)

        def cancel():
            self._remove(task)
        return cancel

    # Wrap ``sensor`` in a SensorAsOutputThing, connect ``subscribers`` and
    # schedule it every ``interval`` seconds. Returns the cancel function.
    def schedule_sensor(self, sensor, interval, *subscribers):
        thing = SensorAsOutputThing(sensor)
        for s in subscribers:
            thing.connect(s)
        return self.schedule_periodic(thing, interval)

    # Make ``run_forever()`` return after the task now running.
    def stop(self):
        self._stopping = True

    # Run the scheduled tasks until ``stop()`` or no task is left.
    def run_forever(self):
        try:
            while not self._stopping:
                if not self._tasks:
                    print('Scheduler: no task left, leaving the main loop')
                    return
                now = ticks_ms()
                for task in self._tasks:
                    if self._stopping:
                        break
                    if ticks_diff(now, task.due) < 0:
                        continue
                    task.thing._observe()
                    task.due = ticks_add(task.due, task.interval_ms)
                    now = ticks_ms()
                    # After a long stall, skip the missed periods instead of
                    # firing a burst of back-to-back samples.
                    if ticks_diff(now, task.due) >= 0:
                        task.due = ticks_add(now, task.interval_ms)
                    if not task.thing._connections:
                        self._remove(task)
                if self._stopping or not self._tasks:
                    continue
                wait = None
                for t in self._tasks:  # a plain loop: no heap per pass
                    d = ticks_diff(t.due, now)
                    if wait is None or d < wait:
                        wait = d
                if wait > 0:
                    sleep_ms(wait)
        finally:
            self._stopping = False
