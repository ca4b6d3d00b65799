"""A small ThingFlow-compatible core for MicroPython (and the unix port).

Same API as the ``micropython/thingflow.py`` of ThingFlow, which the
tutorial's REPL sessions and ``client.py`` use::

    from thingflow import *
    from tsl2591 import Tsl2591
    sched = Scheduler()
    sched.schedule_sensor(Tsl2591('lux-1'), 2.0, Output())
    sched.run_forever()        # prints ('lux-1', 611, 284.1312) every 2 s

An event is the tuple ``(sensor_id, ts, value)``; ``ts`` is ``time.time()``
in whole seconds (seconds since boot on a board without an RTC).

Errors: as in ThingFlow (and Rx), an exception from ``sensor.sample()`` is
terminal for that stream: every subscriber's ``on_error(e)`` is called, the
subscribers are disconnected and the scheduler drops the task. Unlike
ThingFlow we also print the error, and ``run_forever()`` says so when it
returns because no task is left, so a dead sensor never stops the loop
silently. An exception raised by a subscriber is a bug in the flow: it is
wrapped in ``ExcInDispatch`` and propagates out of ``run_forever()``.

Timing uses ``time.ticks_ms``/``ticks_diff``/``sleep_ms`` when present
(MicroPython), so wrap-around of the millisecond counter is handled.
"""

import time

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


class FatalError(Exception):
    """An error that must stop the scheduler."""


class ExcInDispatch(FatalError):
    """A subscriber raised while handling an event (a bug in the flow)."""


class OutputThing:
    """Base class of event sources: subscribers are connected to it and get
    ``on_next(x)``, ``on_error(e)`` and ``on_completed()`` calls."""

    def __init__(self):
        # A tuple replaced on every change (copy on write), so a subscriber
        # that disconnects during a dispatch does not upset the loop.
        self._connections = ()

    def connect(self, input_thing):
        """Subscribe ``input_thing``; returns a function that disconnects it."""
        conn = (input_thing, input_thing.on_next, input_thing.on_error,
                input_thing.on_completed)
        self._connections = self._connections + (conn,)

        def dispose():
            self.disconnect(input_thing)
        return dispose

    def disconnect(self, input_thing):
        """Unsubscribe ``input_thing`` (no error if it is not connected)."""
        self._connections = tuple(c for c in self._connections
                                  if c[0] is not input_thing)

    def _dispatch_next(self, x):
        for c in self._connections:
            try:
                c[1](x)
            except FatalError:
                raise
            except Exception as e:
                raise ExcInDispatch('dispatching event %r to %r: %r'
                                    % (x, c[0], e))

    def _dispatch_error(self, e):
        conns = self._connections
        self._connections = ()  # an error ends the stream
        for c in conns:
            try:
                c[2](e)
            except FatalError:
                raise
            except Exception as e2:
                raise ExcInDispatch('dispatching error %r to %r: %r'
                                    % (e, c[0], e2))

    def _dispatch_completed(self):
        conns = self._connections
        self._connections = ()
        for c in conns:
            try:
                c[3]()
            except FatalError:
                raise
            except Exception as e:
                raise ExcInDispatch('dispatching completion to %r: %r'
                                    % (c[0], e))

    def _observe(self):
        """Called by the scheduler: produce an event and dispatch it."""
        raise NotImplementedError


class SensorAsOutputThing(OutputThing):
    """Wraps a sensor (an object with ``sensor_id`` and ``sample()``) so each
    ``_observe()`` emits ``(sensor_id, ts, value)``."""

    def __init__(self, sensor):
        super().__init__()
        self.sensor = sensor

    def _observe(self):
        try:
            v = self.sensor.sample()
        except StopIteration:
            self._dispatch_completed()
            return
        except Exception as e:
            print('Error from sensor %s: %r; stopping this stream'
                  % (self.sensor.sensor_id, e))
            self._dispatch_error(e)
            return
        self._dispatch_next((self.sensor.sensor_id, int(time.time()), v))

    def __repr__(self):
        return 'SensorAsOutputThing(%r)' % (self.sensor,)


class Output:
    """A subscriber that prints each event, e.g. ``('lux-1', 611, 284.1312)``."""

    def on_next(self, x):
        print(x)

    def on_error(self, e):
        print('Error: %r' % (e,))

    def on_completed(self):
        print('Completed')


class _Task:
    __slots__ = ('thing', 'interval_ms', 'due')

    def __init__(self, thing, interval_ms, due):
        self.thing = thing
        self.interval_ms = interval_ms
        self.due = due


class Scheduler:
    """Runs output things periodically on one thread.

    ``schedule_periodic(thing, interval)`` calls ``thing._observe()`` now and
    then every ``interval`` seconds; ``run_forever()`` returns when ``stop()``
    was called or when no task is left (all streams completed or failed).
    """

    def __init__(self):
        # A tuple replaced on change (copy on write): run_forever iterates it
        # without copying while tasks may cancel themselves or others.
        self._tasks = ()
        self._stopping = False

    def _remove(self, task):
        self._tasks = tuple(t for t in self._tasks if t is not task)

    def schedule_periodic(self, output_thing, interval):
        """Schedule ``output_thing`` every ``interval`` seconds (a number > 0).

        Returns a function that cancels the schedule."""
        interval_ms = int(round(interval * 1000))
        if interval_ms <= 0:
            raise ValueError('interval must be at least 1 ms, got %r'
                             % (interval,))
        task = _Task(output_thing, interval_ms, ticks_ms())
        self._tasks = self._tasks + (task,)

        def cancel():
            self._remove(task)
        return cancel

    def schedule_sensor(self, sensor, interval, *subscribers):
        """Wrap ``sensor`` in a SensorAsOutputThing, connect ``subscribers``
        and schedule it every ``interval`` seconds. Returns the cancel
        function."""
        thing = SensorAsOutputThing(sensor)
        for s in subscribers:
            thing.connect(s)
        return self.schedule_periodic(thing, interval)

    def stop(self):
        """Make ``run_forever()`` return after the task now running."""
        self._stopping = True

    def run_forever(self):
        """Run the scheduled tasks until ``stop()`` or no task is left."""
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
