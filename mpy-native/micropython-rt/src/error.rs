//! Errors that become Python exceptions at the boundary.
use core::fmt::{self, Write};

use crate::obj::{global, Obj, Qstr};
use crate::{ft, qstr};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Common errno values (MicroPython uses the Linux numbers on unix and on the ESP8266).
pub mod errno {
    /// I/O error (a bus error).
    pub const EIO: i32 = 5;
    /// Try again.
    pub const EAGAIN: i32 = 11;
    /// No such device (an I2C device that does not acknowledge).
    pub const ENODEV: i32 = 19;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Broken pipe.
    pub const EPIPE: i32 = 32;
    /// Connection reset by peer.
    pub const ECONNRESET: i32 = 104;
    /// Not connected.
    pub const ENOTCONN: i32 = 107;
    /// Timed out.
    pub const ETIMEDOUT: i32 = 110;
    /// Connection refused.
    pub const ECONNREFUSED: i32 = 111;
    /// Host unreachable.
    pub const EHOSTUNREACH: i32 = 113;
}

/// The built-in exception types Rust code raises by name.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ExcKind {
    ValueError,
    TypeError,
    OSError,
    RuntimeError,
    MemoryError,
    KeyError,
    IndexError,
    AttributeError,
    NotImplementedError,
    OverflowError,
}

impl ExcKind {
    fn qstr(self) -> Qstr {
        match self {
            ExcKind::ValueError => qstr!("ValueError"),
            ExcKind::TypeError => qstr!("TypeError"),
            ExcKind::OSError => qstr!("OSError"),
            ExcKind::RuntimeError => qstr!("RuntimeError"),
            ExcKind::MemoryError => qstr!("MemoryError"),
            ExcKind::KeyError => qstr!("KeyError"),
            ExcKind::IndexError => qstr!("IndexError"),
            ExcKind::AttributeError => qstr!("AttributeError"),
            ExcKind::NotImplementedError => qstr!("NotImplementedError"),
            ExcKind::OverflowError => qstr!("OverflowError"),
        }
    }
}

/// Text formatted on the stack without allocation, truncated (with `...`) to `CAP` bytes.
#[derive(Clone)]
pub struct Msg<const CAP: usize = 160> {
    buf: [u8; CAP],
    len: usize,
}

impl<const CAP: usize> Msg<CAP> {
    /// Capacity in bytes.
    pub const CAP: usize = CAP;
    /// An empty message.
    pub const fn new() -> Self {
        Msg { buf: [0; CAP], len: 0 }
    }
    /// Format `args` into a message.
    pub fn from_fmt(args: fmt::Arguments<'_>) -> Self {
        let mut m = Self::new();
        let _ = m.write_fmt(args);
        m
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: only whole UTF-8 sequences are ever appended (see write_str).
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
}

impl<const CAP: usize> Default for Msg<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAP: usize> fmt::Write for Msg<CAP> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = CAP - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        // Truncate on a char boundary and mark it.
        let mut cut = room.saturating_sub(3);
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        let dots = (CAP - self.len).min(3);
        self.buf[self.len..self.len + dots].copy_from_slice(&b"..."[..dots]);
        self.len += dots;
        Err(fmt::Error)
    }
}

impl<const CAP: usize> fmt::Debug for Msg<CAP> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// `print(<formatted text>)` through the builtin `print` (the console, or wherever
/// `sys.stdout` goes); lines longer than 400 bytes are truncated with `...`.
pub fn print(args: fmt::Arguments<'_>) -> Result<()> {
    let line = Msg::<400>::from_fmt(args);
    global(qstr!("print"))?.call(&[Obj::str(line.as_str())])?;
    Ok(())
}

/// An error on its way to Python: two or three words, so `Result`s stay cheap to move.
///
/// Messages are formatted once, on the error path, into a `str` object on the GC heap (the
/// stack the error lives on is scanned by the GC, so the string stays alive).
#[derive(Clone, Debug)]
pub enum Error {
    /// An exception object raised by Python code or the runtime during a call Rust made.
    Py(Obj),
    /// A caught exception with context (a `str`) added: raised as the same exception type with
    /// the message `"<context>: <original>"` (an `OSError` keeps its errno).
    Context(Obj, Obj),
    /// `kind(message)`, the message a `str`.
    Raise(ExcKind, Obj),
    /// `OSError(errno, message)`, the message a `str`.
    Os(i32, Obj),
}

/// Format `args` into a new `str` (without allocating anything but the string).
#[inline(never)]
fn fmt_str(args: fmt::Arguments<'_>) -> Obj {
    let m = Msg::<160>::from_fmt(args);
    Obj::str(m.as_str())
}

/// `"<args>: <text of str object m>"` as a new `str`.
#[inline(never)]
fn prefixed(args: fmt::Arguments<'_>, m: Obj) -> Obj {
    fmt_str(format_args!("{}: {}", args, m.str_ref().unwrap_or("")))
}

impl Error {
    /// `kind(message)`.
    #[inline(never)]
    pub fn new(kind: ExcKind, args: fmt::Arguments<'_>) -> Error {
        Error::Raise(kind, fmt_str(args))
    }
    /// `OSError(errno, message)`.
    #[inline(never)]
    pub fn os(errno: i32, args: fmt::Arguments<'_>) -> Error {
        Error::Os(errno, fmt_str(args))
    }
    /// Add context to a caught exception (other errors get the context prefixed).
    #[inline(never)]
    pub fn context(self, args: fmt::Arguments<'_>) -> Error {
        match self {
            Error::Py(exc) => Error::Context(exc, fmt_str(args)),
            Error::Context(exc, inner) => Error::Context(exc, prefixed(args, inner)),
            Error::Raise(kind, m) => Error::Raise(kind, prefixed(args, m)),
            Error::Os(e, m) => Error::Os(e, prefixed(args, m)),
        }
    }
    /// The errno if this is (or wraps) an `OSError`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os(e, _) => Some(*e),
            Error::Py(exc) | Error::Context(exc, _) => exc_errno(*exc),
            Error::Raise(..) => None,
        }
    }
    /// Is this (or does it wrap) an exception of `kind`?
    pub fn is(&self, kind: ExcKind) -> bool {
        match self {
            Error::Raise(k, _) => *k == kind,
            Error::Os(..) => kind == ExcKind::OSError,
            Error::Py(exc) | Error::Context(exc, _) => isinstance(*exc, kind),
        }
    }

    /// Build the exception object (allocates; only on the error path).
    pub fn to_exception(&self) -> Obj {
        let build = || -> Result<Obj> {
            match self {
                Error::Py(exc) => Ok(*exc),
                Error::Raise(kind, m) => global(kind.qstr())?.call(&[*m]),
                Error::Os(errno, m) => global(ExcKind::OSError.qstr())?.call(&[Obj::int(*errno as isize), *m]),
                Error::Context(exc, m) => {
                    let orig = global(qstr!("str"))?.call(&[*exc])?;
                    let text = fmt_str(format_args!("{}: {}", m.str_ref().unwrap_or(""), orig.str_ref().unwrap_or("?")));
                    if let Some(e) = exc_errno(*exc) {
                        global(ExcKind::OSError.qstr())?.call(&[Obj::int(e as isize), text])
                    } else {
                        // Same type as the original: type(exc)(text)
                        global(qstr!("type"))?.call(&[*exc])?.call(&[text])
                    }
                }
            }
        };
        match build() {
            Ok(o) => o,
            // Building the exception failed (e.g. MemoryError): raise that instead.
            Err(Error::Py(e)) => e,
            Err(_) => Obj(ft().type_Exception as *mut _),
        }
    }

    /// Raise this error as a Python exception. Call only from the outermost wrapper of a call
    /// from Python, once every Rust value with a destructor is gone.
    ///
    /// # Safety
    /// Jumps over all Rust frames up to the runtime's nearest exception handler.
    pub unsafe fn raise(self) -> ! {
        let exc = self.to_exception();
        ft().raise.unwrap_unchecked()(exc.0);
        // `raise` does not return.
        #[allow(clippy::empty_loop)]
        loop {}
    }
}

fn exc_errno(exc: Obj) -> Option<i32> {
    if !isinstance(exc, ExcKind::OSError) {
        return None;
    }
    exc.attr(qstr!("errno")).ok().and_then(|e| e.to_int().ok()).map(|e| e as i32)
}

fn isinstance(exc: Obj, kind: ExcKind) -> bool {
    let check = || -> Result<bool> {
        let ty = global(kind.qstr())?;
        global(qstr!("isinstance"))?.call(&[exc, ty])?.is_true()
    };
    check().unwrap_or(false)
}

impl From<core::fmt::Error> for Error {
    fn from(_: core::fmt::Error) -> Self {
        Error::new(ExcKind::ValueError, format_args!("formatting failed"))
    }
}
