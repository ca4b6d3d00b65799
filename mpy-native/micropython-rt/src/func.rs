//! The module entry point, function objects and the one dispatcher.
//!
//! Every call from Python into Rust (module functions, methods, attribute access, constructors)
//! goes through [`dispatch`]: a plain `fn` pointer, the instance (if any) and an [`Args`] slice,
//! run under one `nlr_push`. Function objects are of one type of ours (a `call` slot, binding
//! `self` like a method), so no code is generated per function: a closure passed as a `fn`
//! pointer is the whole cost.
use core::ffi::c_void;

use crate::args::Args;
use crate::class::{Class, ClassBuilder};
use crate::error::{Error, ExcKind, Result};
use crate::obj::{Obj, Qstr};
use crate::protect::run_protected;
use crate::state::{check_slots, resolve_builtins, state};
use crate::{ft, qstr, sys};

/// A module function: `fn(&Args) -> Result<Obj>`.
pub type Func = fn(&Args<'_>) -> Result<Obj>;
/// What the dispatcher calls for an instance: the value behind the instance header, and the
/// arguments. Methods `fn(&mut T, &Args) -> Result<Obj>` have this ABI (a `&mut T` and a
/// `*mut u8` pass the same way), so they are stored as-is.
pub(crate) type Handler = fn(*mut u8, &Args<'_>) -> Result<Obj>;

/// The heap header of an instance of a class of ours; the Rust value follows it.
#[repr(C)]
pub(crate) struct Header {
    pub base: sys::mp_abi_obj_base_t,
    /// Non-zero while a method or attribute access of this instance runs: a re-entrant call
    /// (Python code the method calls, calling back into the same object) is refused instead of
    /// creating a second `&mut T`. Cleared when the call ends, also when it raises.
    pub busy: usize,
}

/// The value behind an instance header.
#[inline(always)]
pub(crate) fn value_of(h: *mut Header) -> *mut u8 {
    // SAFETY: the value is allocated right after the header (see class.rs).
    unsafe { (h as *mut u8).add(core::mem::size_of::<Header>()) }
}

/// A function object of ours.
#[repr(C)]
struct FunObj {
    base: sys::mp_abi_obj_base_t,
    /// A [`Func`] (module function, `class` NULL) or a [`Handler`] (method).
    handler: *const (),
    /// For a method: the class whose instance `self` must be.
    class: *const sys::mp_abi_type_t,
    min: u16,
    max: u16,
}

/// Allocate `size` zeroed bytes on the GC heap; raises `MemoryError` when the heap is full.
pub(crate) fn gc_alloc(size: usize) -> *mut u8 {
    // SAFETY: realloc(NULL, n, false) is gc_alloc: a new block or NULL.
    let p = unsafe { ft().realloc_.unwrap_unchecked()(core::ptr::null_mut(), size, false) } as *mut u8;
    if p.is_null() {
        // SAFETY: called only under the dispatcher's or the import's nlr_push.
        unsafe { Error::format(ExcKind::MemoryError, "memory allocation failed, allocating %d bytes", &[Obj::int(size as isize)]).raise() }
    }
    unsafe { core::ptr::write_bytes(p, 0, size) };
    p
}

/// A new function object calling `handler` (a [`Func`], or a [`Handler`] with `class` set).
pub(crate) fn new_fun(handler: *const (), class: *const sys::mp_abi_type_t, min: usize, max: usize) -> Obj {
    let p = gc_alloc(core::mem::size_of::<FunObj>()) as *mut FunObj;
    // SAFETY: a fresh block of the right size.
    unsafe {
        (*p).base.type_ = core::ptr::addr_of!((*state()).fun_type);
        (*p).handler = handler;
        (*p).class = class;
        (*p).min = min.min(0xFFFF) as u16;
        (*p).max = max.min(0xFFFF) as u16;
    }
    Obj(p.cast())
}

#[repr(C)]
struct Frame<'a> {
    handler: *const (),
    inst: *mut Header,
    args: &'a Args<'a>,
}

/// Runs under `dispatch`'s `nlr_push`: an `Err` is raised here, so the dispatcher sees every
/// exception the same way.
extern "C" fn run_frame(ctx: *mut c_void) -> sys::mp_obj_t {
    // SAFETY: `ctx` is the Frame that `dispatch` passed in.
    let fr = unsafe { &*(ctx as *const Frame<'_>) };
    let out = if fr.inst.is_null() {
        // SAFETY: stored from a `Func` (class NULL).
        let f: Func = unsafe { core::mem::transmute(fr.handler) };
        f(fr.args)
    } else {
        // SAFETY: stored from a `Handler` (or a method fn with its ABI) for this instance's class.
        let f: Handler = unsafe { core::mem::transmute(fr.handler) };
        f(value_of(fr.inst), fr.args)
    };
    match out {
        Ok(o) => o.0,
        // SAFETY: inside run_protected's nlr_push, which catches it; no Rust value with a destructor
        // lives in these frames.
        Err(e) => unsafe { e.raise() },
    }
}

/// Run `handler` for `inst` (NULL for a module function) under `nlr_push`, with the busy flag
/// held; return its object or raise its error (or whatever was raised inside).
///
/// # Safety
/// `inst` is NULL or a live instance of the class `handler` belongs to.
pub(crate) unsafe fn dispatch(handler: *const (), inst: *mut Header, args: &Args<'_>) -> sys::mp_obj_t {
    if !inst.is_null() {
        if (*inst).busy != 0 {
            Error::new(
                ExcKind::RuntimeError,
                "re-entrant call into a native object that is already running a method",
            )
            .raise()
        }
        (*inst).busy = 1;
    }
    let mut fr = Frame { handler, inst, args };
    let r = run_protected(run_frame, (&mut fr as *mut Frame<'_>).cast());
    if !inst.is_null() {
        (*inst).busy = 0;
    }
    match r {
        Ok(out) => out.0,
        Err(e) => e.raise(),
    }
}

/// The `call` slot of our function type.
unsafe extern "C" fn fun_call(self_in: sys::mp_obj_t, n_args: usize, n_kw: usize, args: *const sys::mp_obj_t) -> sys::mp_obj_t {
    let f = &*(self_in as *const FunObj);
    let all: &[Obj] = if n_args == 0 { &[] } else { core::slice::from_raw_parts(args.cast(), n_args) };
    let mut inst = core::ptr::null_mut();
    let mut pos = all;
    if !f.class.is_null() {
        match all.split_first() {
            Some((this, rest)) if this.type_ptr() == f.class => {
                inst = this.0 as *mut Header;
                pos = rest;
            }
            _ => Error::new(ExcKind::TypeError, "expected a native class instance as self").raise(),
        }
    }
    // The runtime's own check and TypeError messages ("function takes 1 positional arguments but
    // 2 were given", "function doesn't take keyword arguments", ...), as for its functions.
    ft().arg_check_num_sig.unwrap_unchecked()(pos.len(), n_kw, (f.min as u32) << 17 | (f.max as u32) << 1);
    dispatch(f.handler, inst, &Args::positional(pos))
}

/// `MP_TYPE_FLAG_BINDS_SELF`: as a class attribute, a function of this type binds `self`.
const FLAG_BINDS_SELF: u16 = 0x0020;

fn init_fun_type() {
    // SAFETY: at import, before any function object exists.
    unsafe {
        let t = core::ptr::addr_of_mut!((*state()).fun_type);
        (*t).base.type_ = ft().type_type;
        (*t).flags = FLAG_BINDS_SELF;
        (*t).name = qstr!("function").as_raw() as u16;
        (*t).slot_index_call = 1;
        (*t).slots[0] = fun_call as *const c_void;
    }
}

/// The module being initialised: register functions, classes and constants here.
///
/// Registration allocates; like every allocating runtime function it raises `MemoryError`
/// when the heap is full (the import then fails with it).
pub struct Module {
    _private: (),
}

struct Init<'a> {
    init: fn(&Module) -> Result<()>,
    _m: core::marker::PhantomData<&'a ()>,
}

extern "C" fn run_init(ctx: *mut c_void) -> sys::mp_obj_t {
    // SAFETY: `ctx` is the Init that `Module::run` passed in.
    let i = unsafe { &*(ctx as *const Init<'_>) };
    let r = resolve_builtins().and_then(|_| {
        init_fun_type();
        (i.init)(&Module { _private: () })
    });
    match r {
        Ok(()) => core::ptr::null_mut(),
        Err(e) => e.exception().0,
    }
}

impl Module {
    /// Run the module's `init` with its globals installed; raise its error if any.
    ///
    /// # Safety
    /// Called only by the generated `mpy_init`, with the loader's arguments.
    #[doc(hidden)]
    pub unsafe fn run(self_in: *mut sys::mp_abi_fun_bc_prefix_t, init: fn(&Module) -> Result<()>) -> Obj {
        if let Some(refused) = check_slots() {
            return refused;
        }
        // Install this module's globals so store_global/load_global act on it (and restore the
        // caller's afterwards, also on error).
        let globals = (*(*self_in).context).globals;
        let old = ft().swap_globals.unwrap_unchecked()(globals);
        let ctx = Init { init, _m: core::marker::PhantomData };
        let r = run_protected(run_init, &ctx as *const Init<'_> as *mut c_void);
        ft().swap_globals.unwrap_unchecked()(old);
        match r {
            Ok(exc) if exc.is_null() => Obj::none(),
            Ok(exc) => Error::from_exception(exc).raise(),
            Err(e) => e.raise(),
        }
    }
    /// `name = value` in the module.
    pub fn set(&self, name: Qstr, value: Obj) {
        // SAFETY: at import, under the import's nlr_push (MemoryError propagates from there).
        unsafe { ft().store_global.unwrap_unchecked()(name.as_raw(), value.0) };
    }
    /// Integer constants from a static table: `m.consts(&[(static_qstr!("GAIN_LOW"), 0), ...])`.
    pub fn consts(&self, table: &[(crate::obj::StaticQstr, i32)]) {
        for (name, value) in table {
            self.set(name.get(), Obj::int(*value as isize));
        }
    }
    /// A function taking `min..=max` positional arguments: `m.func(qstr!("double"), 1, 1,
    /// |a| ...)`.
    pub fn func(&self, name: Qstr, min: usize, max: usize, f: Func) {
        self.set(name, new_fun(f as *const (), core::ptr::null(), min, max));
    }
    /// Start a class `T`; finish it with [`ClassBuilder::register`].
    pub fn class<T: Class>(&self) -> ClassBuilder<T> {
        ClassBuilder::new()
    }
}
