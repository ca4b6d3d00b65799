# The things of the ThingFlow core (thingflow.py imports them from here and
# exports them): the errors, OutputThing, SensorAsOutputThing and Output.
# Import them from thingflow (`from thingflow import *`), not from here.
#
# Two modules, not one, because a board that is given the .py sources
# (copied by hand, as in the tutorial) compiles each module in its own heap:
# the parse tree of one module is held while it compiles, so two halves fit
# where the whole did not (mpy-scripts/README.md, step 4). For the same
# reason the explanations are comments, not docstrings: the board's parser
# allocates every docstring and throws it away.
#
# Errors: as in ThingFlow (and Rx), an exception from ``sensor.sample()`` is
# terminal for that stream: every subscriber's ``on_error(e)`` is called, the
# subscribers are disconnected and the scheduler drops the task. Unlike
# ThingFlow we also print the error, and ``run_forever()`` says so when it
# returns because no task is left, so a dead sensor never stops the loop
# silently. An exception raised by a subscriber is a bug in the flow: it is
# wrapped in ``ExcInDispatch`` and propagates out of ``run_forever()``.

import time


# An error that must stop the scheduler.
class FatalError(Exception):
    pass


# A subscriber raised while handling an event (a bug in the flow).
class ExcInDispatch(FatalError):
    pass


# Base class of event sources: subscribers are connected to it and get
# ``on_next(x)``, ``on_error(e)`` and ``on_completed()`` calls.
class OutputThing:

    def __init__(self):
        # A tuple replaced on every change (copy on write), so a subscriber
        # that disconnects during a dispatch does not upset the loop.
        self._connections = ()

    # Subscribe ``input_thing``; returns a function that disconnects it.
    def connect(self, input_thing):
        conn = (input_thing, input_thing.on_next, input_thing.on_error,
                input_thing.on_completed)
        self._connections = self._connections + (conn,)

        def dispose():
            self.disconnect(input_thing)
        return dispose

    # Unsubscribe ``input_thing`` (no error if it is not connected).
    def disconnect(self, input_thing):
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

    # Called by the scheduler: produce an event and dispatch it.
    def _observe(self):
        raise NotImplementedError


# Wraps a sensor (an object with ``sensor_id`` and ``sample()``) so each
# ``_observe()`` emits ``(sensor_id, ts, value)``.
class SensorAsOutputThing(OutputThing):

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


# A subscriber that prints each event, e.g. ``('lux-1', 611, 284.1312)``.
class Output:

    def on_next(self, x):
        print(x)

    def on_error(self, e):
        print('Error: %r' % (e,))

    def on_completed(self):
        print('Completed')
