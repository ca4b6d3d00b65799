//! A safe API for writing MicroPython native modules in Rust, small enough for the ESP8266.
//!
//! `no_std`, no allocator: Python objects live on MicroPython's GC heap and are reached only
//! through the runtime's function table (`mp_fun_table`), so the same code runs on ports with
//! different object representations (x64 unix: boxed floats, 63-bit small ints; ESP8266:
//! immediate 30-bit floats, 31-bit small ints).
//!
//! The design lets the runtime do what it already does, so a module carries little code of its
//! own:
//! * [`Obj`]: a Python object; every runtime call that may raise goes through one C function
//!   (`lumen_mp_call`, under `nlr_push`), so a Python exception becomes `Err(Error)`.
//! * [`Error`]: one word, the exception object itself. Messages are formatted by the runtime
//!   (`"fmt %d" % args`, [`py_err!`]); no `core::fmt` is needed in a module.
//! * Floats and text: arithmetic with [`Obj::binary_op`] (`TRUE_DIVIDE` of two ints gives a
//!   float without soft-float code in the module), printing with [`Printer`] (an `mp_print_t`
//!   of ours that appends to a buffer, fed by the types' own print slots: `json.dumps` output
//!   without allocating).
//! * One non-generic dispatcher ([`Module::func`], [`ClassBuilder::method`], attributes and
//!   constructors): a plain `fn` pointer and an [`Args`] slice, run under one `nlr_push`, so an
//!   exception raised anywhere inside clears the instance's busy flag and propagates.
//! * Builtins (exception types, `print`, `isinstance`, ...) are resolved once at import
//!   ([`builtin`]): a user's global named `print` does not change the module.
//! * At import the function-table slots the crate uses are checked (a missing one, or a port
//!   whose nlr is setjmp-based, raises `ImportError`).
//! * A panic raises `RuntimeError`: with its message on 64-bit ports, with the fixed text
//!   `"Rust panic"` on the ESP8266 (built with `panic=immediate-abort`, no message machinery).
//!
//! # Rules the linker enforces (see mpy-ld)
//! * No mutable `static` with a non-zero initialiser (`.data` cannot be loaded).
//! * On x64 a mutable static must be exported (`#[no_mangle] pub static mut`) so code reaches it
//!   through the GOT. This crate has one, zero-initialised: its state in the module's bss
//!   (which the loader keeps alive and the GC scans).
//!
//! Allocation raises: constructors that allocate (`Obj::str`, `tuple`, `float` on x64, making an
//! [`Error`]) raise `MemoryError` directly when the heap is exhausted, like every MicroPython C
//! function. The dispatcher catches that (and anything else raised) with its `nlr_push`, so no
//! Rust frame with a destructor may live inside a module function (the crate has none).
#![no_std]
#![deny(missing_docs)]

#[cfg(all(target_arch = "xtensa", target_os = "none"))]
mod abort;
mod args;
mod class;
mod error;
mod func;
mod obj;
#[cfg(all(feature = "panic-handler", target_os = "none"))]
mod panic;
mod print;
mod protect;
mod state;
#[cfg(all(target_arch = "xtensa", target_os = "none"))]
mod xtensa_i128;

pub use args::Args;
pub use class::{Class, ClassBuilder, Method};
pub use error::{errno, print, Error, ExcKind, IntoObj, Result};
pub use func::Module;
pub use obj::{import, BinOp, Obj, Qstr, StaticQstr, Stream};
pub use print::{PrintKind, Printer};
pub use protect::protect;
pub use state::{builtin, Builtin};

/// Raw ABI, for what the safe API does not cover.
pub use micropython_sys as sys;

#[doc(hidden)]
pub use core as __core;

/// The function table. Resolved at load time (relocation op 8).
#[inline(always)]
pub(crate) fn ft() -> &'static sys::mp_fun_table_t {
    // SAFETY: `mp_fun_table` is the runtime's table, valid for the life of the module.
    unsafe { &*core::ptr::addr_of!(sys::mp_fun_table) }
}

/// An interned string (qstr) of this module, e.g. `qstr!("sample")`.
///
/// Each distinct name becomes an undefined symbol `MP_QSTR_<name>`; `mpy-ld` adds the name to
/// the `.mpy` qstr list and resolves the symbol to its entry in the runtime's qstr table, which
/// holds the runtime's 16-bit qstr number once the module is loaded.
#[macro_export]
macro_rules! qstr {
    ($name:literal) => {{
        extern "C" {
            #[link_name = concat!("MP_QSTR_", $name)]
            static Q: u16;
        }
        // SAFETY: the loader fills the qstr table before any code of the module runs, so the
        // entry is a qstr number of the running runtime.
        #[allow(unused_unsafe)]
        let q = unsafe { $crate::Qstr::from_raw($crate::__core::ptr::read(&raw const Q) as usize) };
        q
    }};
}

/// A qstr of this module usable in a `static` table (e.g. [`Module::consts`],
/// [`ClassBuilder::methods`]): `static_qstr!("GAIN_LOW")`. A table costs a word of rodata per
/// entry instead of code per registration.
#[macro_export]
macro_rules! static_qstr {
    ($name:literal) => {{
        extern "C" {
            #[link_name = concat!("MP_QSTR_", $name)]
            static Q: u16;
        }
        // SAFETY: only the address is taken; `StaticQstr::get` reads it once the loader has
        // filled the qstr table.
        unsafe { $crate::StaticQstr::from_entry(&raw const Q) }
    }};
}

/// An [`Error`] of the given kind, its message formatted by the runtime (Python's `%`):
/// `py_err!(ValueError, "gain %d out of range", g)`, `py_err!(TypeError, "wrong type")`.
/// Arguments are anything [`IntoObj`] (ints, `&'static str`, [`Obj`]).
#[macro_export]
macro_rules! py_err {
    ($kind:ident, $fmt:literal) => {
        $crate::Error::new($crate::ExcKind::$kind, $fmt)
    };
    ($kind:ident, $fmt:literal, $($arg:expr),+ $(,)?) => {
        $crate::Error::format($crate::ExcKind::$kind, $fmt, &[$($crate::IntoObj::into_obj($arg)),+])
    };
}

/// An `OSError(errno, message)`: `os_err!(errno::EIO, "bus error at 0x%02x", addr)`.
#[macro_export]
macro_rules! os_err {
    ($errno:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::Error::os($errno, $fmt, &[$($crate::IntoObj::into_obj($arg)),*])
    };
}

/// Declare the module entry point: `micropython_rt::entry!(init);` with
/// `fn init(m: &Module) -> Result<()>`. Generates the `mpy_init` symbol the loader calls.
#[macro_export]
macro_rules! entry {
    ($init:path) => {
        /// Entry point called by the MicroPython loader (`mpy_init`).
        #[no_mangle]
        pub unsafe extern "C" fn mpy_init(
            self_in: *mut $crate::sys::mp_abi_fun_bc_prefix_t,
            _n_args: usize,
            _n_kw: usize,
            _args: *const $crate::Obj,
        ) -> $crate::Obj {
            $crate::Module::run(self_in, $init)
        }
    };
}
