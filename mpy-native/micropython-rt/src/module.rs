//! The module entry point and module-level functions.
use core::ffi::c_void;

use crate::class::{Class, ClassBuilder};
use crate::error::{Error, ExcKind, Result};
use crate::obj::{Obj, Qstr};
use crate::{ft, sys, zst_fn};

/// The module being initialised: register functions, classes and constants here.
pub struct Module {
    _private: (),
}

/// Support for [`entry!`](crate::entry).
pub struct Entry;

impl Entry {
    /// Run the module's `init` with its globals installed; raise its error if any.
    ///
    /// # Safety
    /// Called only by the generated `mpy_init`, with the loader's arguments.
    pub unsafe fn run(
        self_in: *mut sys::mp_abi_fun_bc_prefix_t,
        _n_args: usize,
        _n_kw: usize,
        _args: *const Obj,
        init: fn(&Module) -> Result<()>,
    ) -> Obj {
        // Install this module's globals so store_global/load_global act on it (and restore the
        // caller's afterwards, also on error).
        let globals = (*(*self_in).context).globals;
        let old = ft().swap_globals.unwrap_unchecked()(globals);
        let r = init(&Module { _private: () });
        ft().swap_globals.unwrap_unchecked()(old);
        match r {
            Ok(()) => Obj::none(),
            Err(e) => e.raise(),
        }
    }
}

/// Allocate `size` zeroed bytes on the GC heap (an object reachable only through what points
/// to it).
pub(crate) fn gc_alloc(size: usize) -> Result<*mut u8> {
    let p = unsafe { ft().realloc_.unwrap_unchecked()(core::ptr::null_mut(), size, false) } as *mut u8;
    if p.is_null() {
        return Err(Error::new(ExcKind::MemoryError, format_args!("memory allocation failed, allocating {} bytes", size)));
    }
    unsafe { core::ptr::write_bytes(p, 0, size) };
    Ok(p)
}

fn fixed_fun(ty: *const sys::mp_abi_type_t, f: *const c_void) -> Result<Obj> {
    let p = gc_alloc(core::mem::size_of::<sys::mp_abi_fun_builtin_fixed_t>())? as *mut sys::mp_abi_fun_builtin_fixed_t;
    unsafe {
        (*p).base.type_ = ty;
        (*p).fun = f as *mut c_void;
    }
    Ok(Obj(p.cast()))
}

/// A builtin function object taking `min..=max` arguments (`takes_self` adds one for methods).
pub(crate) fn var_fun(min: usize, max: usize, f: unsafe extern "C" fn(usize, *const sys::mp_obj_t) -> sys::mp_obj_t) -> Result<Obj> {
    let p = gc_alloc(core::mem::size_of::<sys::mp_abi_fun_builtin_var_t>())? as *mut sys::mp_abi_fun_builtin_var_t;
    unsafe {
        (*p).base.type_ = ft().type_fun_builtin_var;
        (*p).sig = ((min as u32) << 17) | ((max.min(0xFFFF) as u32) << 1);
        (*p).fun = Some(f);
    }
    Ok(Obj(p.cast()))
}

#[inline(always)]
pub(crate) fn finish(r: Result<Obj>) -> sys::mp_obj_t {
    match r {
        Ok(o) => o.0,
        // SAFETY: outermost Rust frame of a call from Python; `r` holds nothing to drop.
        Err(e) => unsafe { e.raise() },
    }
}

unsafe extern "C" fn wrap0<F: Fn() -> Result<Obj> + Copy>() -> sys::mp_obj_t {
    finish(zst_fn::<F>()())
}
unsafe extern "C" fn wrap1<F: Fn(Obj) -> Result<Obj> + Copy>(a: sys::mp_obj_t) -> sys::mp_obj_t {
    finish(zst_fn::<F>()(Obj(a)))
}
unsafe extern "C" fn wrap2<F: Fn(Obj, Obj) -> Result<Obj> + Copy>(a: sys::mp_obj_t, b: sys::mp_obj_t) -> sys::mp_obj_t {
    finish(zst_fn::<F>()(Obj(a), Obj(b)))
}
unsafe extern "C" fn wrap3<F: Fn(Obj, Obj, Obj) -> Result<Obj> + Copy>(
    a: sys::mp_obj_t,
    b: sys::mp_obj_t,
    c: sys::mp_obj_t,
) -> sys::mp_obj_t {
    finish(zst_fn::<F>()(Obj(a), Obj(b), Obj(c)))
}
unsafe extern "C" fn wrap_var<F: Fn(&[Obj]) -> Result<Obj> + Copy>(n: usize, args: *const sys::mp_obj_t) -> sys::mp_obj_t {
    let args: &[Obj] = if n == 0 { &[] } else { core::slice::from_raw_parts(args.cast(), n) };
    finish(zst_fn::<F>()(args))
}

impl Module {
    /// `name = value` in the module.
    pub fn set(&self, name: Qstr, value: Obj) {
        unsafe { ft().store_global.unwrap_unchecked()(name.0, value.0) };
    }
    /// A function of no arguments.
    pub fn fn0<F: Fn() -> Result<Obj> + Copy>(&self, name: Qstr, _f: F) -> Result<()> {
        self.set(name, fixed_fun(ft().type_fun_builtin_0, wrap0::<F> as *const c_void)?);
        Ok(())
    }
    /// A function of one argument.
    pub fn fn1<F: Fn(Obj) -> Result<Obj> + Copy>(&self, name: Qstr, _f: F) -> Result<()> {
        self.set(name, fixed_fun(ft().type_fun_builtin_1, wrap1::<F> as *const c_void)?);
        Ok(())
    }
    /// A function of two arguments.
    pub fn fn2<F: Fn(Obj, Obj) -> Result<Obj> + Copy>(&self, name: Qstr, _f: F) -> Result<()> {
        self.set(name, fixed_fun(ft().type_fun_builtin_2, wrap2::<F> as *const c_void)?);
        Ok(())
    }
    /// A function of three arguments.
    pub fn fn3<F: Fn(Obj, Obj, Obj) -> Result<Obj> + Copy>(&self, name: Qstr, _f: F) -> Result<()> {
        self.set(name, fixed_fun(ft().type_fun_builtin_3, wrap3::<F> as *const c_void)?);
        Ok(())
    }
    /// A function taking `min..=max` positional arguments.
    pub fn fn_var<F: Fn(&[Obj]) -> Result<Obj> + Copy>(&self, name: Qstr, min: usize, max: usize, _f: F) -> Result<()> {
        self.set(name, var_fun(min, max, wrap_var::<F>)?);
        Ok(())
    }
    /// Start a class `T`; finish it with [`ClassBuilder::register`].
    pub fn class<T: Class>(&self) -> ClassBuilder<T> {
        ClassBuilder::new()
    }
}
