//! Errors: one word, the Python exception object itself, with messages made by the runtime.
use crate::obj::{BinOp, Obj, Qstr};
use crate::state::{builtin, Builtin};
use crate::{ft, qstr};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The exception types Rust code raises by name: the exception entries of [`Builtin`].
pub type ExcKind = Builtin;

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

/// Values that become message arguments of [`py_err!`](crate::py_err) and friends.
pub trait IntoObj {
    /// The object.
    fn into_obj(self) -> Obj;
}
impl IntoObj for Obj {
    #[inline(always)]
    fn into_obj(self) -> Obj {
        self
    }
}
impl IntoObj for Qstr {
    #[inline(always)]
    fn into_obj(self) -> Obj {
        Obj::qstr(self)
    }
}
impl IntoObj for &str {
    #[inline(always)]
    fn into_obj(self) -> Obj {
        Obj::str(self)
    }
}
macro_rules! int_into_obj {
    ($($t:ty),*) => {$(
        impl IntoObj for $t {
            #[inline(always)]
            fn into_obj(self) -> Obj {
                Obj::int(self as isize)
            }
        }
    )*};
}
int_into_obj!(isize, i32, i16, i8, usize, u32, u16, u8);

/// A Python exception on its way to Python, or caught from it: one word (the exception object).
///
/// Made on the error path only: building one allocates the message and the exception; if that
/// fails, the runtime's `MemoryError` is raised directly (the dispatcher around every module
/// function catches it, so no Rust state is left inconsistent).
#[repr(transparent)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Error(Obj);

/// `fmt % args` by the runtime (`fmt` itself when there are no arguments or it fails).
#[inline(never)]
fn message(fmt: &str, args: &[Obj]) -> Obj {
    let f = Obj::str(fmt);
    if args.is_empty() {
        return f;
    }
    f.binary_op(BinOp::Modulo, Obj::tuple(args)).unwrap_or(f)
}

/// `kind(*args)`; the error raised instead if that fails (e.g. `MemoryError`).
#[inline(never)]
fn make(kind: ExcKind, args: &[Obj]) -> Error {
    match builtin(kind).call(args) {
        Ok(exc) => Error(exc),
        Err(e) => e,
    }
}

impl Error {
    /// An exception object caught from the runtime (or made by Python code).
    #[inline]
    pub fn from_exception(exc: Obj) -> Error {
        Error(exc)
    }
    /// The exception object.
    #[inline]
    pub fn exception(self) -> Obj {
        self.0
    }
    /// `kind(message)` (`format` with no arguments).
    #[inline(never)]
    pub fn new(kind: ExcKind, msg: &str) -> Error {
        Error::format(kind, msg, &[])
    }
    /// `kind(fmt % args)`, formatted by the runtime (`%d`, `%s`, `%r`, `%02x`, ...).
    #[inline(never)]
    pub fn format(kind: ExcKind, fmt: &str, args: &[Obj]) -> Error {
        make(kind, &[message(fmt, args)])
    }
    /// `OSError(errno, fmt % args)`.
    #[inline(never)]
    pub fn os(errno: i32, fmt: &str, args: &[Obj]) -> Error {
        make(Builtin::OSError, &[Obj::int(errno as isize), message(fmt, args)])
    }
    /// The same exception type with `"<fmt % args>: <str(self)>"` as its message (an `OSError`
    /// keeps its errno).
    #[inline(never)]
    pub fn context(self, fmt: &str, args: &[Obj]) -> Error {
        let orig = self.text();
        let text = message("%s: %s", &[message(fmt, args), orig]);
        if let Some(e) = self.errno() {
            return make(Builtin::OSError, &[Obj::int(e as isize), text]);
        }
        match builtin(Builtin::type_).call(&[self.0]).and_then(|t| t.call(&[text])) {
            Ok(exc) => Error(exc),
            Err(e) => e,
        }
    }
    /// `str(exception)` (the message; `"?"` if even that fails).
    pub fn text(self) -> Obj {
        builtin(Builtin::str).call(&[self.0]).unwrap_or_else(|_| Obj::str("?"))
    }
    /// The errno if this is an `OSError` (or anything else with an int `errno` attribute).
    pub fn errno(self) -> Option<i32> {
        match self.0.attr(qstr!("errno")) {
            // A small int is `(i << 1) | 1` on every port with native code.
            Ok(e) if e.is_small_int() => Some((e.0 as isize >> 1) as i32),
            _ => None,
        }
    }
    /// Is this an instance of `kind` (or of a subclass)?
    pub fn is(self, kind: ExcKind) -> bool {
        let ty = builtin(kind);
        if self.0.type_ptr() == ty.0 as *const _ {
            return true;
        }
        builtin(Builtin::isinstance)
            .call(&[self.0, ty])
            .map(|r| r == Obj::bool(true))
            .unwrap_or(false)
    }

    /// Raise this exception. Call only from the outermost frame of a call from Python (the
    /// crate's dispatcher does), once every Rust value with a destructor is gone.
    ///
    /// # Safety
    /// Jumps over all Rust frames up to the runtime's nearest exception handler.
    pub unsafe fn raise(self) -> ! {
        ft().raise.unwrap_unchecked()(self.0 .0);
        // `raise` does not return.
        #[allow(clippy::empty_loop)]
        loop {}
    }
}

/// `print(fmt % args)` through the builtin `print` resolved at import (the console, or wherever
/// `sys.stdout` goes).
pub fn print(fmt: &str, args: &[Obj]) -> Result<()> {
    builtin(Builtin::print).call(&[message(fmt, args)])?;
    Ok(())
}
