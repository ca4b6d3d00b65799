//! Turning Python exceptions raised inside runtime calls into `Result`s.
use core::ffi::c_void;
use core::mem::MaybeUninit;

use crate::error::{Error, Result};
use crate::obj::Obj;
use crate::sys;

struct Ctx<F, R> {
    f: Option<F>,
    out: MaybeUninit<R>,
}

extern "C" fn trampoline<F: FnOnce() -> R, R>(ctx: *mut c_void) -> sys::mp_obj_t {
    // SAFETY: `ctx` is the `Ctx` that `protect` passed in, used once.
    let ctx = unsafe { &mut *(ctx as *mut Ctx<F, R>) };
    // Take the closure first: if it raises, nothing of it is left to drop in this frame.
    let f = unsafe { ctx.f.take().unwrap_unchecked() };
    ctx.out.write(f());
    core::ptr::null_mut()
}

/// Run `f` (which calls into the runtime) and catch a Python exception it raises.
///
/// The catch is `lumen_mp_protect` in C (`nlr_push` returns twice, which Rust cannot express).
///
/// # Safety
/// If `f` raises, the non-local jump skips `f`'s frames without running destructors: `f` must
/// not own or create values whose destructors matter (the closure is taken out of its slot
/// before it runs, so what it captured by value is already moved into those frames). Every
/// safe method of [`Obj`] uses this with closures that only call the runtime.
#[inline]
pub unsafe fn protect<R, F: FnOnce() -> R>(f: F) -> Result<R> {
    call(f)
}

/// The crate's own uses: each closure only calls one runtime function on copied words.
#[inline]
pub(crate) fn call<R, F: FnOnce() -> R>(f: F) -> Result<R> {
    let mut ctx = Ctx { f: Some(f), out: MaybeUninit::<R>::uninit() };
    let mut exc: sys::mp_obj_t = core::ptr::null_mut();
    // SAFETY: the trampoline matches `mp_abi_protected_fn` and `ctx` outlives the call.
    let raised = unsafe {
        sys::lumen_mp_protect(Some(trampoline::<F, R>), (&mut ctx as *mut Ctx<F, R>).cast(), &mut exc)
    };
    if raised == 0 {
        // SAFETY: the trampoline ran to completion and wrote `out`.
        Ok(unsafe { ctx.out.assume_init() })
    } else {
        Err(Error::Py(Obj(exc)))
    }
}
