//! A safe API for writing MicroPython native modules in Rust.
//!
//! `no_std`, no allocator: Python objects live on MicroPython's GC heap and are reached only
//! through the runtime's function table (`mp_fun_table`), so the same code runs on ports with
//! different object representations (x64 unix: boxed floats, 63-bit small ints; ESP8266:
//! immediate 30-bit floats, 31-bit small ints).
//!
//! * [`Obj`]: a Python object, with constructors for None/bool/int/float/str/bytes/tuple/list
//!   and fallible accessors (every runtime call that may raise goes through [`protect`], so a
//!   Python exception becomes `Err(Error::Py(..))` that Rust can inspect, add context to, or
//!   re-raise).
//! * [`Error`]: `ValueError`/`TypeError`/`OSError(errno)`/... with a formatted message, raised
//!   when it reaches the Python boundary.
//! * [`Module`]: module functions with 0-3 or a variable number of arguments, globals, and
//!   classes ([`Class`]) with a constructor, methods and attributes.
//! * [`qstr!`]: interned strings, resolved by `mpy-ld` through the module's qstr table.
//! * A panic never crashes the interpreter: it raises `RuntimeError(<panic message>)`. On the
//!   ESP8266 the crate also defines `abort` (LLVM's Xtensa trap calls it), raising
//!   `RuntimeError("Rust abort")`, and replaces the 128-bit division helpers, whose
//!   `compiler_builtins` versions disagree with LLVM's calls about where the divisor is
//!   (see `xtensa_i128.rs`).
//!
//! # Rules the linker enforces (see mpy-ld)
//! * No mutable `static` with a non-zero initialiser (`.data` cannot be loaded).
//! * On x64 a mutable static must be exported (`#[no_mangle] pub static mut`) so code reaches it
//!   through the GOT. This crate needs none: type and function objects live on the GC heap,
//!   reachable from the module's globals.
//!
//! Allocation: constructors that allocate (`Obj::str`, `tuple`, `float` on x64, ...) raise
//! `MemoryError` directly when the heap is exhausted, like every MicroPython C function; that
//! is one more reason no Rust value with a destructor should live across runtime calls.
//!
//! Frames skipped by a raise: Python raises with a non-local jump (like `longjmp`). This crate
//! only raises from the outermost wrapper of a call from Python, after every Rust value is
//! dropped, and catches jumps out of runtime calls with a small C shim; so no Rust frame with a
//! destructor is ever jumped over (the panic handler is the exception: a panic abandons its
//! frames, which in a no-alloc crate hold nothing to free).
#![no_std]
#![deny(missing_docs)]

#[cfg(all(target_arch = "xtensa", target_os = "none"))]
mod abort;
mod args;
mod class;
mod error;
mod module;
mod obj;
#[cfg(all(feature = "panic-handler", target_os = "none"))]
mod panic;
mod protect;
#[cfg(all(target_arch = "xtensa", target_os = "none"))]
mod xtensa_i128;

pub use args::Args;
pub use class::{Class, ClassBuilder, Instance};
pub use error::{errno, print, Error, ExcKind, Msg, Result};
pub use module::{Entry, Module};
pub use obj::{global, import, Obj, Qstr};
pub use protect::protect;

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
        // SAFETY: the loader fills the qstr table before any code of the module runs.
        $crate::Qstr(unsafe { $crate::__core::ptr::read(&raw const Q) } as usize)
    }};
}

/// Build an [`Error`] of the given kind with a formatted message:
/// `py_err!(ValueError, "gain {} out of range", g)`.
#[macro_export]
macro_rules! py_err {
    ($kind:ident, $($fmt:tt)*) => {
        $crate::Error::new($crate::ExcKind::$kind, format_args!($($fmt)*))
    };
}

/// Build an `OSError(errno, message)`: `os_err!(errno::EIO, "bus error at {:#x}", addr)`.
#[macro_export]
macro_rules! os_err {
    ($errno:expr, $($fmt:tt)*) => {
        $crate::Error::os($errno, format_args!($($fmt)*))
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
            n_args: usize,
            n_kw: usize,
            args: *const $crate::Obj,
        ) -> $crate::Obj {
            $crate::Entry::run(self_in, n_args, n_kw, args, $init)
        }
    };
}

/// Conjure a value of a zero-sized `Fn` type (a fn item or a closure capturing nothing).
///
/// Lets a generic `extern "C"` wrapper call the Rust function it was instantiated for without
/// any storage: the function is in the type.
#[inline(always)]
pub(crate) fn zst_fn<F: Copy>() -> F {
    const { assert!(core::mem::size_of::<F>() == 0, "pass a fn item or a non-capturing closure") };
    // SAFETY: F is zero-sized (checked at compile time) and Copy, so it has no invariants.
    unsafe { core::mem::zeroed() }
}
