//! Python classes backed by a Rust struct.
use core::ffi::c_void;
use core::marker::PhantomData;

use crate::args::Args;
use crate::error::{Error, ExcKind, Result};
use crate::module::{finish, gc_alloc, var_fun, Module};
use crate::obj::{Obj, Qstr};
use crate::{ft, sys, zst_fn};

/// A Rust type exposed to Python as a class.
///
/// Instances live on the GC heap as [`Instance<T>`]: the GC scans them, so `Obj` fields keep
/// their objects alive. The GC frees instances without running `Drop`, so `T` should own
/// nothing that needs dropping.
///
/// A method gets `&mut T` for the duration of the call. If it calls Python code that calls
/// back into the *same* instance (a method or attribute), that inner call raises
/// `RuntimeError` instead of getting a second `&mut T`.
pub trait Class: Sized + 'static {
    /// The class name, e.g. `qstr!("Tsl2591")`.
    fn name() -> Qstr;
    /// The constructor: `ClassName(*args, **kw)`.
    fn make_new(args: &Args<'_>) -> Result<Self>;
    /// Read attribute `name`; `Ok(None)` if it is not a data attribute (methods and class
    /// constants are looked up next).
    fn get_attr(&self, _name: Qstr) -> Result<Option<Obj>> {
        Ok(None)
    }
    /// Write attribute `name`; `Ok(false)` if there is no such writable attribute
    /// (`AttributeError`).
    fn set_attr(&mut self, _name: Qstr, _value: Obj) -> Result<bool> {
        Ok(false)
    }
}

/// The heap layout of an instance: the object header, a busy flag, then the Rust value.
#[repr(C)]
pub struct Instance<T> {
    base: sys::mp_abi_obj_base_t,
    /// Set while a method or attribute access runs, so a re-entrant call (Python code called
    /// by the method calling back into the same object) is refused instead of creating a
    /// second `&mut T`.
    busy: bool,
    value: T,
}

impl<T: Class> Instance<T> {
    /// The instance behind `obj`, if `obj` is an instance of `T`'s class (`TypeError`
    /// otherwise, e.g. `Tsl2591.sample(42)`).
    fn from_obj(obj: Obj) -> Result<*mut Instance<T>> {
        let ty = obj.type_ptr();
        // Our types are recognised by their constructor slot, unique to T.
        let ours = unsafe {
            let idx = (*ty).slot_index_make_new as usize;
            idx != 0 && (*ty).slots[idx - 1] == make_new_tramp::<T> as *const c_void
        };
        if !ours {
            return Err(Error::new(ExcKind::TypeError, format_args!("expected a native class instance")));
        }
        Ok(obj.0 as *mut Instance<T>)
    }

    /// Run `f` on the Rust value behind `obj` with exclusive access: a call into the same
    /// object while `f` runs (through Python code `f` calls) is a `RuntimeError`.
    pub fn with<R>(obj: Obj, f: impl FnOnce(&mut T) -> Result<R>) -> Result<R> {
        let p = Self::from_obj(obj)?;
        // SAFETY: p is a live Instance<T> (checked above), kept alive by the caller's `obj`; the
        // busy flag guarantees this is the only `&mut` to its value.
        unsafe {
            if (*p).busy {
                return Err(Error::new(
                    ExcKind::RuntimeError,
                    format_args!(
                        "re-entrant call into a native object that is already running a method \
                         (or whose earlier call panicked)"
                    ),
                ));
            }
            (*p).busy = true;
            let r = f(&mut (*p).value);
            (*p).busy = false;
            r
        }
    }
}

unsafe extern "C" fn make_new_tramp<T: Class>(
    ty: *const sys::mp_abi_type_t,
    n_args: usize,
    n_kw: usize,
    args: *const sys::mp_obj_t,
) -> sys::mp_obj_t {
    let args = Args::from_raw(n_args, n_kw, args.cast());
    let r = T::make_new(&args).and_then(|value| {
        let p = gc_alloc(core::mem::size_of::<Instance<T>>())? as *mut Instance<T>;
        p.write(Instance { base: sys::mp_abi_obj_base_t { type_: ty }, busy: false, value });
        Ok(Obj(p.cast()))
    });
    finish(r)
}

unsafe extern "C" fn attr_tramp<T: Class>(self_in: sys::mp_obj_t, attr: usize, dest: *mut sys::mp_obj_t) {
    let dest = core::slice::from_raw_parts_mut(dest as *mut Obj, 2);
    let obj = Obj(self_in);
    if dest[0].is_null() {
        match Instance::<T>::with(obj, |this| this.get_attr(Qstr(attr))) {
            Ok(Some(v)) => dest[0] = v,
            // Not ours: let the runtime continue with the locals dict (methods, constants).
            Ok(None) => dest[1] = Obj::SENTINEL,
            Err(e) => e.raise(),
        }
    } else if dest[0] == Obj::SENTINEL && !dest[1].is_null() {
        let value = dest[1];
        match Instance::<T>::with(obj, |this| this.set_attr(Qstr(attr), value)) {
            Ok(true) => dest[0] = Obj::NULL, // stored
            Ok(false) => {}                  // AttributeError
            Err(e) => e.raise(),
        }
    }
    // Deleting attributes is not supported (AttributeError).
}

unsafe extern "C" fn method_tramp<T: Class, F: Fn(&mut T, &[Obj]) -> Result<Obj> + Copy>(
    n: usize,
    args: *const sys::mp_obj_t,
) -> sys::mp_obj_t {
    let args: &[Obj] = core::slice::from_raw_parts(args.cast(), n);
    let r = Instance::<T>::with(args[0], |this| zst_fn::<F>()(this, &args[1..]));
    finish(r)
}

/// Builds a class: methods, class constants, then [`register`](Self::register).
pub struct ClassBuilder<T> {
    locals: Obj,
    error: Option<Error>,
    _t: PhantomData<T>,
}

impl<T: Class> ClassBuilder<T> {
    pub(crate) fn new() -> Self {
        ClassBuilder { locals: Obj::dict(), error: None, _t: PhantomData }
    }
    fn store(mut self, name: Qstr, value: Result<Obj>) -> Self {
        match value {
            Ok(v) => {
                if let Err(e) = self.locals.dict_store(Obj::qstr(name), v) {
                    self.error.get_or_insert(e);
                }
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }
    /// A method taking `min..=max` arguments after `self`.
    pub fn method<F: Fn(&mut T, &[Obj]) -> Result<Obj> + Copy>(self, name: Qstr, min: usize, max: usize, _f: F) -> Self {
        self.store(name, var_fun(min + 1, max + 1, method_tramp::<T, F>))
    }
    /// A class attribute (a constant), e.g. `GAIN_LOW`.
    pub fn constant(self, name: Qstr, value: Obj) -> Self {
        self.store(name, Ok(value))
    }
    /// Create the type object and store it in the module as `T::name()`.
    pub fn register(self, m: &Module) -> Result<Obj> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let ty = gc_alloc(core::mem::size_of::<sys::mp_abi_type_t>())? as *mut sys::mp_abi_type_t;
        unsafe {
            (*ty).base.type_ = ft().type_type;
            (*ty).flags = 0;
            (*ty).name = T::name().0 as u16;
            // Slot n is stored at slots[n - 1]; the index fields say which slot is which.
            (*ty).slot_index_make_new = 1;
            (*ty).slots[0] = make_new_tramp::<T> as *const c_void;
            (*ty).slot_index_attr = 2;
            (*ty).slots[1] = attr_tramp::<T> as *const c_void;
            (*ty).slot_index_locals_dict = 3;
            (*ty).slots[2] = self.locals.0 as *const c_void;
        }
        let obj = Obj(ty.cast());
        m.set(T::name(), obj);
        Ok(obj)
    }
}
