"""Shared pytest fixtures for the MicroPython scripts.

Everything here drives real parts: the MicroPython unix binary as a
subprocess, a mosquitto broker started on a free loopback port, and
``mosquitto_sub`` as the receiving client.

* ``micropython_bin``: path of the MicroPython binary
  (``mpyrun.find_micropython``: env ``MICROPYTHON``, else
  ``<repo>/.venv/bin/micropython``, ..., else ``micropython`` on PATH).
* ``run_mpy``: run a MicroPython snippet with given module dirs first on
  ``sys.path`` (via ``MICROPYPATH``); returns ``CompletedProcess``.
* ``broker`` / ``mosquitto_broker``: a fresh broker per test; the first
  yields a ``MosquittoBroker`` (``port``, ``log()``, ``stop()``,
  ``start()``), the second just the port.
* ``mosquitto_sub``: factory ``(topic, port, qos=0) -> Subscriber`` that has
  subscribed (SUBACK seen) when it returns; ``wait_messages(n)`` gives the
  received ``Message(qos, retain, topic, payload)`` list.
* ``host_service``: factory ``(topic, csv, port, *args, bind='127.0.0.1')``
  starting ``target/release/host-service`` with its embedded broker on
  ``bind:port``; it returns once the broker accepts connections.
* ``writer_dir``: the directory that provides ``mqtt_writer`` (and
  ``tsl2591``) for the implementation under test; parametrized so the same
  tests run on the pure-Python fallback and the native ``.mpy``.
"""

import collections
import os
import pwd
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mpyrun import IMPL_DIRS, REPO, find_micropython, mpy_env

SCRIPTS = Path(__file__).resolve().parents[1]
SIM_DIR = SCRIPTS / "sim"
HOST_SERVICE = REPO / "target" / "release" / "host-service"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
# mosquitto_sub block-buffers a pipe; stdbuf makes it line-buffered.
STDBUF = [shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []

# Implementations the writer tests run on (directories: mpyrun.IMPL_DIRS).
# "native" is build/x64/mqtt_writer.mpy (`make natmods`); the env var
# MQTT_WRITER_IMPLS=fallback (or native) narrows the default.
WRITER_IMPLS = [n.strip() for n in
                os.environ.get("MQTT_WRITER_IMPLS", "fallback,native").split(",")
                if n.strip()]


@pytest.fixture(scope="session")
def micropython_bin():
    return find_micropython()


@pytest.fixture
def run_mpy(micropython_bin, tmp_path):
    """Run MicroPython code: ``run_mpy(code, paths, timeout=10, check=True, input=None)``.

    ``paths`` (directories) come first on ``sys.path``; the code runs from a
    file in a temp dir, which is also the working directory."""

    def run(code, paths=(), timeout=10, check=True, input=None):
        script = tmp_path / "snippet.py"
        script.write_text(code)
        proc = subprocess.run(
            [micropython_bin, str(script)],
            cwd=tmp_path, env=mpy_env(paths), input=input,
            capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                "micropython exited %d\n--- stdout\n%s\n--- stderr\n%s"
                % (proc.returncode, proc.stdout, proc.stderr))
        return proc

    return run


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(proc, port, what, timeout=10.0):
    """Return once 127.0.0.1:port accepts a TCP connection; fail at once if
    ``proc`` exits, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited (%d) before listening on port %d"
                               % (what, proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("%s did not listen on port %d" % (what, port))


class MosquittoBroker:
    """A mosquitto process on 127.0.0.1:port with a verbose log file."""

    def __init__(self, workdir, port=None, extra_conf=""):
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.conf = self.workdir / "mosquitto.conf"
        self.logfile = self.workdir / "mosquitto.log"
        self.conf.write_text(
            "listener %d 127.0.0.1\n" % self.port
            + ("allow_anonymous true\n" if "allow_anonymous" not in extra_conf
               else "")
            + "log_dest file %s\n" % self.logfile
            + "log_type all\nconnection_messages true\n"
            # Started as root, mosquitto would switch to user "mosquitto",
            # which cannot write our temp files; stay who we are.
            + "user %s\n" % pwd.getpwuid(os.geteuid()).pw_name
            + extra_conf)
        self.proc = None

    def start(self, timeout=5.0):
        # Startup errors go to stderr; the log file gets the rest.
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        try:
            wait_listening(self.proc, self.port, "mosquitto", timeout)
        except RuntimeError as e:
            raise RuntimeError("%s: %s\n%s" % (
                e, self.proc.stderr.read().decode(errors="replace")
                if self.proc.poll() is not None else "", self.log()))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stderr.close()
        self.proc = None

    def log(self):
        return self.logfile.read_text(errors="replace") \
            if self.logfile.exists() else ""

    def wait_log(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return True
            time.sleep(0.02)
        raise AssertionError("%r not in broker log:\n%s" % (text, self.log()))


@pytest.fixture
def broker(tmp_path):
    d = tmp_path / "broker"
    d.mkdir()
    b = MosquittoBroker(d).start()
    yield b
    b.stop()


@pytest.fixture
def mosquitto_broker(broker):
    """The port of a running broker (started for this test)."""
    return broker.port


Message = collections.namedtuple("Message", "qos retain topic payload")


class Subscriber:
    """``mosquitto_sub`` collecting messages on a background thread."""

    def __init__(self, topic, port, qos=0, timeout=5.0):
        self.proc = subprocess.Popen(
            STDBUF + [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic,
             "-q", str(qos), "-d", "-F", "MSG %q %r %t %p"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            bufsize=1)
        self.messages = queue.Queue()
        self.debug = []
        subscribed = threading.Event()

        def reader():
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                if line.startswith("MSG "):
                    q, r, t, p = line[4:].split(" ", 3)
                    self.messages.put(Message(int(q), int(r), t, p))
                else:
                    self.debug.append(line)
                    if "received SUBACK" in line:
                        subscribed.set()

        self.thread = threading.Thread(target=reader, daemon=True)
        self.thread.start()
        if not subscribed.wait(timeout):
            self.close()
            raise RuntimeError("mosquitto_sub did not subscribe: %s"
                               % self.debug)

    def wait_messages(self, n, timeout=5.0):
        """The next ``n`` messages; fails if they do not come in time."""
        got = []
        deadline = time.monotonic() + timeout
        while len(got) < n:
            left = deadline - time.monotonic()
            try:
                got.append(self.messages.get(timeout=max(left, 0.001)))
            except queue.Empty:
                raise AssertionError("got %d of %d messages: %r"
                                     % (len(got), n, got))
        return got

    def drain(self, wait=0.3):
        """Messages arriving within ``wait`` seconds (to check for extras)."""
        time.sleep(wait)
        got = []
        while True:
            try:
                got.append(self.messages.get_nowait())
            except queue.Empty:
                return got

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def mosquitto_sub():
    subs = []

    def start(topic, port, qos=0):
        s = Subscriber(topic, port, qos)
        subs.append(s)
        return s

    yield start
    for s in subs:
        s.close()


@pytest.fixture
def host_service(tmp_path):
    """Factory: ``host_service(topic, csv, port, *args, bind='127.0.0.1')``
    runs host-service with its embedded broker on ``bind:port`` (status page
    on a port the system picks, output in tmp_path/host-service.log) and
    returns the process once the broker accepts connections (the CSV is
    opened before the broker listens: waiting for the file races it).
    Stopped after the test."""
    procs = []

    def start(topic, csv, port, *args, bind="127.0.0.1"):
        if not HOST_SERVICE.exists():
            pytest.fail("%s missing: run `make host`" % HOST_SERVICE)
        with open(tmp_path / "host-service.log", "ab") as log:
            p = subprocess.Popen(
                [str(HOST_SERVICE), topic, str(csv),
                 "--embedded-broker=%s:%d" % (bind, port),
                 "--status-addr", "127.0.0.1:0"] + list(args),
                stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        wait_listening(p, port, "host-service")
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture(params=WRITER_IMPLS)
def writer_dir(request):
    d = IMPL_DIRS[request.param]
    if not (d / "mqtt_writer.py").exists() and \
            not (d / "mqtt_writer.mpy").exists():
        pytest.fail("no mqtt_writer module in %s (build it first)" % d)
    return d


class MpyProcess:
    """A long-running MicroPython process with line-based stdout, for tests
    that interact with it (stdin lines act as 'go' signals)."""

    def __init__(self, micropython_bin, args, paths, cwd):
        self.proc = subprocess.Popen(
            [micropython_bin] + list(args), cwd=cwd, env=mpy_env(paths),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self._q = queue.Queue()

        def reader():
            for line in self.proc.stdout:
                self._q.put(line.rstrip("\n"))
            self._q.put(None)

        threading.Thread(target=reader, daemon=True).start()

    def wait_line(self, pred, timeout=10.0):
        """Read output until a line satisfies ``pred`` (str: substring)."""
        if isinstance(pred, str):
            text = pred
            pred = lambda line: text in line  # noqa: E731
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._q.get(timeout=max(left, 0.001))
            except queue.Empty:
                raise AssertionError("timed out; output so far:\n"
                                     + "\n".join(self.lines))
            if line is None:
                raise AssertionError("process exited (%s); output:\n%s"
                                     % (self.proc.wait(), "\n".join(self.lines)))
            self.lines.append(line)
            if pred(line):
                return line

    def send(self, line="go"):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout=10.0):
        """Wait for exit; returns the whole output."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("process did not exit; output:\n"
                                 + "\n".join(self.lines))
        while True:
            line = self._q.get(timeout=5)
            if line is None:
                break
            self.lines.append(line)
        return "\n".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def mpy_process(micropython_bin, tmp_path):
    """Factory ``(code, paths) -> MpyProcess`` for interactive scripts."""
    procs = []

    def start(code, paths, args=None):
        script = tmp_path / "interactive.py"
        script.write_text(code)
        p = MpyProcess(micropython_bin, args or [str(script)], paths, tmp_path)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
