# A MicroPython board on a serial line, for testing `make deploy` without
# hardware. Runs on the MicroPython unix port:
#
#     MICROPYPATH=mpy-scripts/sim micropython fake_board.py FLASH_DIR
#
# stdin/stdout are the "serial line" (e.g. a pseudo-terminal).
#
# FLASH_DIR becomes the board's filesystem: it is mounted (VfsPosix) at "/"
# in place of the host's root, so every path the host sends stays inside it,
# and imports find the copied .mpy/.py files there, as on a board.
#
# What it answers, as a MicroPython board's REPL does (the protocol mpremote
# and pyboard.py speak):
# - friendly REPL: ">>> " prompt, typed characters echoed, a line is run when
#   Enter (\r) arrives, its value printed; Ctrl-A enters the raw REPL, Ctrl-B
#   prints the banner again, Ctrl-D soft-resets.
# - raw REPL: "raw REPL; CTRL-B to exit\r\n>"; the code is collected until
#   Ctrl-D, then "OK", its output, "\x04", the exception text if any, "\x04",
#   ">". Ctrl-D on an empty buffer soft-resets ("soft reboot\r\n"), Ctrl-B
#   goes back to the friendly REPL, Ctrl-C drops the buffer. Raw-paste mode
#   (Ctrl-E A Ctrl-A, what mpremote uses first): "R\x01", a 256-byte window
#   renewed with Ctrl-A, the end (Ctrl-D) acknowledged with Ctrl-D.
# - machine.reset() reboots: user modules are forgotten, boot.py then main.py
#   run if present, then the banner and the friendly REPL, as on the ESP8266.
# Not modelled: Ctrl-C while a program runs (nothing reads the line then).

import os
import sys

flash = sys.argv[1]
stdin = sys.stdin.buffer
out = sys.stdout.buffer


class _Reset(BaseException):
    pass


import sim_tsl2591  # noqa: E402  (from MICROPYPATH, before "/" is replaced)


class _Machine:
    """The board's `machine`: reset() reboots; I2C is a TSL2591 wired as the
    guide says (SCL = GPIO5, SDA = GPIO4: sim_tsl2591 at 284.1312 lux; any
    other pins find nothing, ENODEV); other names come from the unix port's
    machine module."""

    def __init__(self, real):
        self._real = real

    def reset(self):
        raise _Reset()

    def Pin(self, n, *args, **kwargs):  # noqa: N802
        return ('Pin', n)

    def I2C(self, *args, scl=None, sda=None, **kwargs):  # noqa: N802
        bus = sim_tsl2591.SimTsl2591()
        bus.set_channels(109, 24)
        bus.present = scl == ('Pin', 5) and sda == ('Pin', 4)
        return bus

    def __getattr__(self, name):
        return getattr(self._real, name)


class _Os:
    """The board's `os`: the unix port's, plus uname() (mpfshell asks for it)."""

    def __init__(self, real):
        self._real = real

    def uname(self):
        return ('esp8266', 'esp8266', '2.2.0-dev(9422289)',
                'v%d.%d.%d on fake board' % sys.implementation.version[:3],
                'ESP module with ESP8266')

    def __getattr__(self, name):
        return getattr(self._real, name)


import machine as _real_machine  # noqa: E402

os.umount('/')
os.mount(os.VfsPosix(flash), '/')
os.chdir('/')
sys.path[:] = ['', '/lib', '.frozen']
BASE_MODULES = list(sys.modules.keys())


def write(s):
    if isinstance(s, str):
        s = s.encode()
    out.write(s)


def fresh_state():
    for name in list(sys.modules.keys()):
        if name not in BASE_MODULES:
            del sys.modules[name]
    sys.modules['machine'] = sys.modules['umachine'] = _Machine(_real_machine)
    sys.modules['os'] = sys.modules['uos'] = _Os(os)
    return {'__name__': '__main__'}


def run_source(src, g, name, mode='exec'):
    """Run code as the REPL does: an exception is printed, not raised
    (except a reset)."""
    try:
        code = compile(src, name, mode)
        exec(code, g)
    except _Reset:
        raise
    except SystemExit:
        pass
    except BaseException as e:  # noqa: B902 - a board prints everything
        sys.print_exception(e, sys.stdout)


def run_file(path, g):
    try:
        with open(path) as f:
            src = f.read()
    except OSError:
        return
    run_source(src, g, path)


def readbyte():
    b = stdin.read(1)
    if not b:
        raise SystemExit  # the line is gone: power off
    return b[0]


def boot(g):
    write('MicroPython fake board (unix port) with a VfsPosix filesystem\r\n')
    run_file('boot.py', g)
    run_file('main.py', g)


def banner():
    write('MicroPython %s on fake board; unix port with a filesystem\r\n'
          'Type "help()" for more information.\r\n' %
          '.'.join(str(v) for v in sys.implementation.version[:3]))


def raw_repl(g):
    """Returns 'friendly' (Ctrl-B)."""
    write('raw REPL; CTRL-B to exit\r\n>')
    buf = bytearray()
    while True:
        c = readbyte()
        if c == 0x02:  # Ctrl-B
            write('\r\n')
            return 'friendly'
        if c == 0x03:  # Ctrl-C
            buf = bytearray()
            continue
        if c == 0x01:  # Ctrl-A again: new prompt
            buf = bytearray()
            write('raw REPL; CTRL-B to exit\r\n>')
            continue
        if c == 0x05 and not buf:  # raw-paste request: Ctrl-E 'A' Ctrl-A
            readbyte()
            readbyte()
            src = raw_paste()
            run_raw(src, g)
            continue
        if c != 0x04:
            buf.append(c)
            continue
        if not buf:  # Ctrl-D on an empty line: soft reset
            write('soft reboot\r\n')
            g.clear()
            g.update(fresh_state())
            write('raw REPL; CTRL-B to exit\r\n>')
            continue
        write('OK')
        src = bytes(buf).decode()
        buf = bytearray()
        run_raw(src, g)


WINDOW = 256


def raw_paste():
    """Raw-paste mode: "R\x01" and the window size, then a Ctrl-A for every
    window of bytes taken, until Ctrl-D (acknowledged with Ctrl-D)."""
    write(b'R\x01' + bytes([WINDOW & 0xFF, WINDOW >> 8]))
    buf = bytearray()
    taken = 0
    while True:
        c = readbyte()
        if c == 0x04:
            write(b'\x04')
            return bytes(buf).decode()
        buf.append(c)
        taken += 1
        if taken == WINDOW:
            taken = 0
            write(b'\x01')


def run_raw(src, g):
    """Output, Ctrl-D, the exception if any, Ctrl-D, the prompt."""
    try:
        code = compile(src, '<stdin>', 'exec')
        exec(code, g)
        write(b'\x04\x04>')
    except _Reset:
        raise
    except BaseException as e:  # noqa: B902
        write(b'\x04')
        sys.print_exception(e, sys.stdout)
        write(b'\x04>')


def friendly_repl(g):
    """Returns 'raw' (Ctrl-A) or 'soft' (Ctrl-D)."""
    banner()
    write('>>> ')
    line = bytearray()
    while True:
        c = readbyte()
        if c == 0x02:  # Ctrl-B: the friendly REPL again, banner first
            write('\r\n')
            banner()
            write('>>> ')
            line = bytearray()
            continue
        if c == 0x01:
            write('\r\n')
            return 'raw'
        if c == 0x04 and not line:
            write('\r\n')
            return 'soft'
        if c == 0x03:
            line = bytearray()
            write('\r\nKeyboardInterrupt\r\n>>> ')
            continue
        if c in (0x0D, 0x0A):
            write('\r\n')
            src = bytes(line).decode()
            line = bytearray()
            if src.strip():
                run_source(src, g, '<stdin>', 'single')
            write('>>> ')
            continue
        if c in (0x08, 0x7F):
            if line:
                line = line[:-1]
                write('\x08 \x08')
            continue
        line.append(c)
        out.write(bytes([c]))


def main():
    mode = 'boot'  # its step makes g
    while True:
        try:
            if mode == 'boot':
                g = fresh_state()
                boot(g)
                mode = 'friendly'
            elif mode == 'soft':
                write('MPY: soft reboot\r\n')
                mode = 'boot'
            elif mode == 'friendly':
                mode = friendly_repl(g)
            else:
                mode = raw_repl(g)
        except _Reset:
            mode = 'boot'


main()
