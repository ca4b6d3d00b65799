//! Turning Python exceptions raised inside runtime calls into `Result`s.
//!
//! One C function in micropython-sys's glue does the `nlr_push` (which returns twice, like
//! setjmp, and which Rust cannot express): `lumen_mp_call` makes one runtime call, a
//! function-table slot or a function address with four word arguments (every runtime call of
//! this crate goes through it, one function for all). A whole callback runs under it the same
//! way, its address as the function ([`run_protected`]: the dispatcher, the import, and
//! [`protect`] through one shared `dyn FnMut` trampoline: no trampoline per closure).
use core::ffi::c_void;

use crate::error::{Error, Result};
use crate::obj::Obj;
use crate::sys;

/// `lumen_mp_call(op, a, b, c, d)`: the result word, or the exception it raised. `op` is a
/// `LUMEN_OP_*` (a function-table slot or a composite op) or a function address.
#[inline(never)]
pub(crate) fn call(op: usize, a: usize, b: usize, c: usize, d: usize) -> Result<usize> {
    let mut out = 0usize;
    // SAFETY: as in `call_out` (the glue writes one word of `out`).
    let raised = unsafe { sys::lumen_mp_call(op, a, b, c, d, &mut out) };
    if raised == 0 {
        Ok(out)
    } else {
        Err(Error::from_exception(Obj(out as sys::mp_obj_t)))
    }
}

/// As [`call`], with the whole output block (stream calls put the errno in `out[1]`).
#[inline(never)]
pub(crate) fn call_out(op: usize, a: usize, b: usize, c: usize, d: usize, out: &mut [usize; 2]) -> Result<()> {
    // SAFETY: each op calls its slot with the slot's own signature (see the header); the
    // pointers passed in a..d come from this crate and are valid for the call.
    let raised = unsafe { sys::lumen_mp_call(op, a, b, c, d, out.as_mut_ptr()) };
    if raised == 0 {
        Ok(())
    } else {
        Err(Error::from_exception(Obj(out[0] as sys::mp_obj_t)))
    }
}

extern "C" fn dyn_trampoline(ctx: *mut c_void) -> sys::mp_obj_t {
    // SAFETY: `ctx` is the `&mut dyn FnMut()` that `protect_dyn` passed in.
    let f = unsafe { &mut *(ctx as *mut &mut dyn FnMut()) };
    f();
    core::ptr::null_mut()
}

/// Run `f(ctx)` as a whole under the glue's `nlr_push` (`lumen_mp_call` with the callback's
/// address as the op and `ctx` as its first word; no second piece of C for this): `Ok` with
/// its result, or `Err` with the exception raised inside.
pub(crate) fn run_protected(f: extern "C" fn(*mut c_void) -> sys::mp_obj_t, ctx: *mut c_void) -> Result<Obj> {
    Ok(Obj(call(f as usize, ctx as usize, 0, 0, 0)? as sys::mp_obj_t))
}

/// Run `f` under `nlr_push`; `Err` with the exception if it raised.
pub(crate) fn protect_dyn(mut f: &mut dyn FnMut()) -> Result<()> {
    run_protected(dyn_trampoline, (&mut f as *mut &mut dyn FnMut()).cast()).map(drop)
}

/// Run `f` (which calls into the runtime, e.g. a raw slot of [`sys`](crate::sys)) and catch a
/// Python exception it raises.
///
/// # Safety
/// If `f` raises, the non-local jump skips `f`'s frames without running destructors: `f` must
/// not own or create values whose destructors matter.
pub unsafe fn protect<R, F: FnOnce() -> R>(f: F) -> Result<R> {
    let mut f = Some(f);
    let mut out = None;
    protect_dyn(&mut || out = f.take().map(|f| f()))?;
    // SAFETY: protect_dyn returned Ok, so the closure ran to completion and stored `out`.
    Ok(unsafe { out.unwrap_unchecked() })
}
