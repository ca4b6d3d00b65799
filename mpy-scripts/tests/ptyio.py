"""A process on a pseudo-terminal, read and written as a user at a terminal
(or a serial console) would: ``PtyProcess(args)``, ``send(text)``,
``read_until(text)``; ``PtyEnd(fd)`` does the same on any terminal end. Output is kept as bytes; ``read_until`` returns what
came up to and including the text, or raises with everything seen so far.
"""

import os
import pty
import select
import signal
import subprocess
import time


class PtyEnd:
    """One end of a pseudo-terminal, ``fd``: ``send(text)``, ``read_until(text)``."""

    def __init__(self, fd):
        self.fd = fd
        self.pending = b""
        self.seen = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        os.write(self.fd, data)

    def _fill(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return False
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the process closed the terminal
            chunk = b""
        if not chunk:
            raise AssertionError("process ended; output:\n"
                                 + (self.seen + self.pending).decode(errors="replace"))
        self.pending += chunk
        return True

    def read_until(self, text, timeout=10.0):
        if isinstance(text, str):
            text = text.encode()
        deadline = time.monotonic() + timeout
        while text not in self.pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "timed out waiting for %r; output:\n%s"
                    % (text, (self.seen + self.pending).decode(errors="replace")))
            self._fill(min(left, 0.2))
        i = self.pending.index(text) + len(text)
        out, self.pending = self.pending[:i], self.pending[i:]
        self.seen += out
        return out


class PtyProcess(PtyEnd):
    """``args`` run on a new pseudo-terminal; this is the terminal's side."""

    def __init__(self, args, cwd=None, env=None):
        master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
            close_fds=True, start_new_session=True)
        os.close(slave)
        super().__init__(master)

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        try:
            os.close(self.fd)
        except OSError:
            pass
