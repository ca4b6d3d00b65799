//! What the crate resolves once, at import: the builtins it uses and the type of its function
//! objects, kept in the module's bss (the loader keeps that block alive and the GC scans it);
//! and the check that the runtime's function table has every slot the crate calls.
use crate::error::Error;
use crate::obj::{Obj, StaticQstr};
use crate::{ft, qstr, static_qstr, sys};

/// Builtins resolved at import (by `load_global` in the fresh module's globals, so from the
/// `builtins` module), used by the crate and available to modules with [`builtin`]. A user's
/// global named `print` or `ValueError` does not change what the module uses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs, non_camel_case_types)]
pub enum Builtin {
    ValueError,
    TypeError,
    OSError,
    RuntimeError,
    MemoryError,
    OverflowError,
    AttributeError,
    KeyError,
    IndexError,
    NotImplementedError,
    ImportError,
    int,
    float,
    tuple,
    bytes,
    bytearray,
    isinstance,
    print,
    str,
    repr,
    type_,
}

const N_BUILTINS: usize = Builtin::type_ as usize + 1;

/// The builtins' names, in `Builtin` order.
static NAMES: [StaticQstr; N_BUILTINS] = [
    static_qstr!("ValueError"),
    static_qstr!("TypeError"),
    static_qstr!("OSError"),
    static_qstr!("RuntimeError"),
    static_qstr!("MemoryError"),
    static_qstr!("OverflowError"),
    static_qstr!("AttributeError"),
    static_qstr!("KeyError"),
    static_qstr!("IndexError"),
    static_qstr!("NotImplementedError"),
    static_qstr!("ImportError"),
    static_qstr!("int"),
    static_qstr!("float"),
    static_qstr!("tuple"),
    static_qstr!("bytes"),
    static_qstr!("bytearray"),
    static_qstr!("isinstance"),
    static_qstr!("print"),
    static_qstr!("str"),
    static_qstr!("repr"),
    static_qstr!("type"),
];

/// The crate's state: zero until import fills it in.
#[doc(hidden)]
#[repr(C)]
pub struct State {
    builtins: [Obj; N_BUILTINS],
    /// The type of the crate's function objects (see `func.rs`).
    pub(crate) fun_type: sys::mp_abi_type_t,
}

/// In bss; exported because on x64 the linker reaches mutable statics through the GOT.
#[doc(hidden)]
#[no_mangle]
pub static mut MICROPYTHON_RT_STATE: State = State {
    builtins: [Obj::NULL; N_BUILTINS],
    // SAFETY: all-zero is a valid (empty) type object: null pointers, zero indices.
    fun_type: unsafe { core::mem::zeroed() },
};

#[inline(always)]
pub(crate) fn state() -> *mut State {
    core::ptr::addr_of_mut!(MICROPYTHON_RT_STATE)
}

/// The builtin object `b`, as resolved at import.
#[inline]
pub fn builtin(b: Builtin) -> Obj {
    // SAFETY: written once at import, before any module code runs; read-only afterwards
    // (MicroPython runs native code on one thread at a time).
    unsafe { (*state()).builtins[b as usize] }
}

/// Resolve the builtins (called at import with the module's fresh globals installed).
pub(crate) fn resolve_builtins() -> crate::Result<()> {
    for (i, name) in NAMES.iter().enumerate() {
        let o = Obj(crate::protect::call(sys::LUMEN_OP_LOAD_GLOBAL as usize, name.get().as_raw(), 0, 0, 0)? as _);
        // SAFETY: at import, before any module code runs.
        unsafe { (*state()).builtins[i] = o };
    }
    Ok(())
}

/// The slot numbers of `mp_fun_table_t` fields.
macro_rules! slots {
    ($($field:ident),* $(,)?) => {
        [$((core::mem::offset_of!(sys::mp_fun_table_t, $field) / core::mem::size_of::<usize>()) as u8),*]
    };
}

/// The `mp_fun_table` slots this crate (and its C glue) calls; checked non-NULL at import. The
/// first five are those refusing an import needs (`refuse_import`: load_global,
/// call_function_n_kw, raise, obj_new_str, native_to_obj for the slot number).
const NEEDED_SLOTS: [u8; 37] = slots![
    load_global, call_function_n_kw, raise, obj_new_str, native_to_obj, native_from_obj, swap_globals, load_attr,
    load_method, store_global, store_attr, obj_subscr, obj_is_true, binary_op, new_tuple, new_list, new_dict,
    list_append, dict_store, call_method_n_kw, nlr_push, nlr_pop, import_name, unpack_sequence, arg_check_num_sig,
    realloc_, printf_, obj_get_type, obj_new_bytes, obj_new_float_from_d, obj_get_float_to_d, load_method_maybe,
    get_buffer, get_stream_raise, arg_parse_all_kw_array, type_type, type_str,
];
const RAISE_SLOTS: usize = 5;
/// Slot 49 (`setjmp`) is non-NULL on ports whose nlr is setjmp-based: not supported (the C glue's
/// nlr buffer has room for native nlr's registers, not for a jmp_buf).
const SETJMP_SLOT: usize = slots![setjmp_][0] as usize;

/// Refuse to import (see `refuse_import`) if a slot the crate calls is missing or the port's
/// nlr is setjmp-based; `None` if all is well.
pub(crate) fn check_slots() -> Option<crate::Obj> {
    let words = ft() as *const sys::mp_fun_table_t as *const usize;
    // SAFETY: the table has MP_ABI_FUN_TABLE_SLOTS words.
    let word = |i: usize| unsafe { words.add(i).read() };
    match NEEDED_SLOTS.iter().position(|&i| word(i as usize) == 0) {
        // Without the slots to raise with, return quietly.
        Some(i) if i < RAISE_SLOTS => Some(Obj::NULL),
        Some(i) => Some(refuse_import(NEEDED_SLOTS[i] as usize)),
        None if word(SETJMP_SLOT) != 0 => Some(refuse_import(SETJMP_SLOT)),
        None => None,
    }
}

/// Raise `ImportError("... slot NN ...")` (the slots to do so are present).
fn refuse_import(slot: usize) -> crate::Obj {
    // SAFETY: the slots used here are present (checked first); raising here is the import
    // failing (if making the exception fails, that exception fails it).
    unsafe {
        let msg = "this MicroPython lacks an mp_fun_table slot this module needs (or uses setjmp nlr)";
        let text = Obj(ft().obj_new_str.unwrap_unchecked()(msg.as_ptr().cast(), msg.len()));
        let ty = ft().load_global.unwrap_unchecked()(qstr!("ImportError").as_raw());
        let args = [text, Obj::int(slot as isize)];
        let exc = ft().call_function_n_kw.unwrap_unchecked()(ty, 2, args.as_ptr().cast());
        Error::from_exception(Obj(exc)).raise()
    }
}

/// The import check against a fake function table on the host (`cargo test -p micropython-rt`):
/// every needed slot present passes, a missing one refuses the import (quietly for the slots
/// raising needs, else `ImportError(message, slot)`), and so does a setjmp-based nlr.
#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::thread;

    /// The table `ft()` reads (the loader's relocation, on a device).
    #[no_mangle]
    static mut mp_fun_table: sys::mp_fun_table_t = unsafe { core::mem::zeroed() };
    #[no_mangle]
    static MP_QSTR_ImportError: u16 = 0x1234;

    static LOADED: AtomicUsize = AtomicUsize::new(0);
    static SLOT_ARG: AtomicUsize = AtomicUsize::new(0);
    static N_ARGS: AtomicUsize = AtomicUsize::new(0);
    static RAISED: AtomicUsize = AtomicUsize::new(0);
    static HAS_RAISED: AtomicBool = AtomicBool::new(false);
    const EXC: usize = 0xE0C0;

    unsafe extern "C" fn new_str(_: *const core::ffi::c_char, _: usize) -> sys::mp_obj_t {
        0x5700 as _
    }
    unsafe extern "C" fn to_obj(v: sys::mp_uint_t, _: sys::mp_uint_t) -> sys::mp_obj_t {
        v as _
    }
    unsafe extern "C" fn load_global(q: sys::qstr) -> sys::mp_obj_t {
        LOADED.store(q as usize, SeqCst);
        0x1E00 as _
    }
    unsafe extern "C" fn call(_: sys::mp_obj_t, n: usize, args: *const sys::mp_obj_t) -> sys::mp_obj_t {
        N_ARGS.store(n, SeqCst);
        SLOT_ARG.store(*args.add(1) as usize, SeqCst);
        EXC as _
    }
    /// Records the exception and never returns (a raise does not), parking its thread.
    unsafe extern "C" fn raise(o: sys::mp_obj_t) {
        RAISED.store(o as usize, SeqCst);
        HAS_RAISED.store(true, SeqCst);
        loop {
            thread::park();
        }
    }

    fn words() -> *mut usize {
        core::ptr::addr_of_mut!(mp_fun_table) as *mut usize
    }
    /// A table with every needed slot set (to functions that record what refusing did), `off`
    /// zeroed, and `setjmp` (slot 49) as given.
    unsafe fn table(off: Option<usize>, setjmp: usize) {
        for i in 0..sys::MP_ABI_FUN_TABLE_SLOTS as usize {
            words().add(i).write(0);
        }
        for &i in NEEDED_SLOTS.iter() {
            words().add(i as usize).write(0xDEAD);
        }
        let t = &mut *core::ptr::addr_of_mut!(mp_fun_table);
        t.obj_new_str = Some(new_str);
        t.native_to_obj = Some(to_obj);
        t.load_global = Some(load_global);
        t.call_function_n_kw = Some(call);
        t.raise = Some(raise);
        if let Some(i) = off {
            words().add(i).write(0);
        }
        words().add(SETJMP_SLOT).write(setjmp);
    }
    /// `check_slots()` on a thread of its own: `Ok(result)` if it returned, `Err(slot)` with the
    /// slot number it raised `ImportError` with.
    fn run_check() -> Result<Option<usize>, usize> {
        HAS_RAISED.store(false, SeqCst);
        let t = thread::spawn(|| check_slots().map(|o| o.as_raw() as usize));
        loop {
            if HAS_RAISED.load(SeqCst) {
                assert_eq!(RAISED.load(SeqCst), EXC, "raised what the ImportError call returned");
                assert_eq!(LOADED.load(SeqCst), 0x1234, "ImportError looked up by name");
                assert_eq!(N_ARGS.load(SeqCst), 2, "ImportError(message, slot)");
                return Err(SLOT_ARG.load(SeqCst));
            }
            if t.is_finished() {
                return Ok(t.join().unwrap());
            }
            thread::yield_now();
        }
    }

    #[test]
    fn import_checks_every_needed_slot_and_refuses_setjmp_nlr() {
        // One test: the fake table is global.
        unsafe {
            table(None, 0);
            assert_eq!(run_check(), Ok(None), "complete table");
            for (k, &slot) in NEEDED_SLOTS.iter().enumerate() {
                table(Some(slot as usize), 0);
                if [7usize, 27, 34, 57, 4].contains(&(slot as usize)) {
                    // load_global, call_function_n_kw, raise, obj_new_str, native_to_obj:
                    // cannot raise
                    assert!(k < RAISE_SLOTS);
                    assert_eq!(run_check(), Ok(Some(0)), "slot {slot}: refused quietly (NULL)");
                } else {
                    assert_eq!(run_check(), Err(slot as usize), "slot {slot}: ImportError naming it");
                }
            }
            table(None, 0xBEEF);
            assert_eq!(run_check(), Err(SETJMP_SLOT), "setjmp-based nlr");
        }
    }
}
