//! Python classes backed by a Rust struct.
use core::ffi::c_void;
use core::marker::PhantomData;

use crate::args::Args;
use crate::error::Result;
use crate::func::{dispatch, gc_alloc, new_fun, Handler, Header, Module};
use crate::obj::{Obj, Qstr};
use crate::{ft, sys};

/// A Rust type exposed to Python as a class.
///
/// Instances live on the GC heap (a header, then the `T`): the GC scans them, so `Obj` fields
/// keep their objects alive. The GC frees instances without running `Drop`, so `T` should own
/// nothing that needs dropping.
///
/// A method gets `&mut T` for the duration of the call. If it calls Python code that calls
/// back into the *same* instance (a method or attribute), that inner call raises
/// `RuntimeError` instead of getting a second `&mut T`; the flag is cleared when the method
/// returns or raises.
pub trait Class: Sized + 'static {
    /// The class name, e.g. `qstr!("Tsl2591")`.
    fn name() -> Qstr;
    /// The constructor: `ClassName(*args, **kw)`.
    fn make_new(args: &Args<'_>) -> Result<Self>;
    /// The constructor writing the value in place (the instance's memory): by default
    /// `make_new`. Overriding it saves copying a large value on small targets.
    fn make_new_in(this: &mut core::mem::MaybeUninit<Self>, args: &Args<'_>) -> Result<()> {
        this.write(Self::make_new(args)?);
        Ok(())
    }
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

/// The type object of one of our classes, with what the shared slots need after it.
#[repr(C)]
struct ClassType {
    ty: sys::mp_abi_type_t,
    make_new: Handler,
    attr: Handler,
    size: usize,
}

/// The two per-class shims (everything else is shared).
fn make_new_shim<T: Class>(this: *mut u8, args: &Args<'_>) -> Result<Obj> {
    // SAFETY: `this` is the value slot of a fresh instance sized and aligned for T.
    T::make_new_in(unsafe { &mut *this.cast::<core::mem::MaybeUninit<T>>() }, args)?;
    Ok(Obj::NULL)
}

fn attr_shim<T: Class>(this: *mut u8, args: &Args<'_>) -> Result<Obj> {
    // SAFETY: the dispatcher holds the busy flag: this is the only reference to the value.
    let t = unsafe { &mut *this.cast::<T>() };
    // attr_slot passes [qstr number, value to store or NULL].
    let &[name, value] = args.pos() else { return Ok(Obj::NULL) };
    // SAFETY: the attr slot passes the runtime's qstr number as the first word.
    let name = unsafe { Qstr::from_raw(name.0 as usize) };
    if value.is_null() {
        Ok(t.get_attr(name)?.unwrap_or(Obj::NULL))
    } else {
        Ok(if t.set_attr(name, value)? { Obj::none() } else { Obj::NULL })
    }
}

unsafe extern "C" fn make_new_slot(
    ty: *const sys::mp_abi_type_t,
    n_args: usize,
    n_kw: usize,
    args: *const sys::mp_obj_t,
) -> sys::mp_obj_t {
    // Only our types have this slot, and the runtime passes the type whose slot it is.
    let ct = &*(ty as *const ClassType);
    let inst = gc_alloc(core::mem::size_of::<Header>() + ct.size) as *mut Header;
    (*inst).base.type_ = ty;
    let args = Args::from_raw(n_args, n_kw, args.cast());
    dispatch(ct.make_new as *const (), inst, &args);
    inst.cast()
}

unsafe extern "C" fn attr_slot(self_in: sys::mp_obj_t, attr: usize, dest: *mut sys::mp_obj_t) {
    let ct = &*(Obj(self_in).type_ptr() as *const ClassType);
    let dest = core::slice::from_raw_parts_mut(dest as *mut Obj, 2);
    let inst = self_in as *mut Header;
    let name = Obj(attr as sys::mp_obj_t);
    if dest[0].is_null() {
        let v = Obj(dispatch(ct.attr as *const (), inst, &Args::positional(&[name, Obj::NULL])));
        if v.is_null() {
            dest[1] = Obj::SENTINEL; // not ours: continue with the locals dict
        } else {
            dest[0] = v;
        }
    } else if dest[0] == Obj::SENTINEL && !dest[1].is_null() {
        let v = Obj(dispatch(ct.attr as *const (), inst, &Args::positional(&[name, dest[1]])));
        if !v.is_null() {
            dest[0] = Obj::NULL; // stored
        }
    }
    // Deleting attributes is not supported (AttributeError).
}

/// A method in a static table for [`ClassBuilder::methods`]: name, `min..=max` arguments after
/// `self`, and the function.
pub struct Method<T> {
    /// The name, `static_qstr!("sample")`.
    pub name: crate::obj::StaticQstr,
    /// Fewest arguments after `self`.
    pub min: u8,
    /// Most arguments after `self`.
    pub max: u8,
    /// The method.
    pub f: fn(&mut T, &Args<'_>) -> Result<Obj>,
}

/// Builds a class: methods, class constants, then [`register`](Self::register).
///
/// Allocates at each step (raising `MemoryError` when the heap is full, which fails the import).
pub struct ClassBuilder<T> {
    ty: *mut ClassType,
    locals: Obj,
    _t: PhantomData<T>,
}

impl<T: Class> ClassBuilder<T> {
    pub(crate) fn new() -> Self {
        const { assert!(core::mem::align_of::<T>() <= core::mem::size_of::<Header>(), "over-aligned class value") };
        let ty = gc_alloc(core::mem::size_of::<ClassType>()) as *mut ClassType;
        // SAFETY: a fresh zeroed block of the right size.
        unsafe {
            (*ty).make_new = make_new_shim::<T>;
            (*ty).attr = attr_shim::<T>;
            (*ty).size = core::mem::size_of::<T>();
        }
        ClassBuilder { ty, locals: Obj::dict(), _t: PhantomData }
    }
    fn store(self, name: Qstr, value: Obj) -> Self {
        // SAFETY: at import, under its nlr_push.
        unsafe { ft().dict_store.unwrap_unchecked()(self.locals.0, Obj::qstr(name).0, value.0) };
        self
    }
    /// A method taking `min..=max` arguments after `self`:
    /// `.method(qstr!("add"), 1, 1, |c: &mut Counter, a| ...)`.
    pub fn method(self, name: Qstr, min: usize, max: usize, f: fn(&mut T, &Args<'_>) -> Result<Obj>) -> Self {
        let fun = new_fun(f as *const (), self.ty as *const _, min, max);
        self.store(name, fun)
    }
    /// The methods of a static table (a word or three of rodata per method, no code).
    pub fn methods(mut self, table: &[Method<T>]) -> Self {
        for m in table {
            self = self.method(m.name.get(), m.min as usize, m.max as usize, m.f);
        }
        self
    }
    /// A class attribute (a constant), e.g. `GAIN_LOW`.
    pub fn constant(self, name: Qstr, value: Obj) -> Self {
        self.store(name, value)
    }
    /// Finish the type object and store it in the module as `T::name()`.
    pub fn register(self, m: &Module) -> Obj {
        let ty = self.ty;
        // SAFETY: our block; slot n is stored at slots[n - 1], the index fields say which.
        unsafe {
            let t = &mut (*ty).ty;
            t.base.type_ = ft().type_type;
            t.name = T::name().as_raw() as u16;
            t.slot_index_make_new = 1;
            t.slots[0] = make_new_slot as *const c_void;
            t.slot_index_attr = 2;
            t.slots[1] = attr_slot as *const c_void;
            t.slot_index_locals_dict = 3;
            t.slots[2] = self.locals.0 as *const c_void;
        }
        let obj = Obj(ty.cast());
        m.set(T::name(), obj);
        obj
    }
}
