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

/// The `mp_fun_table` slots this crate (and its C glue) calls; checked non-NULL at import. The
/// first four are those refusing an import needs.
const NEEDED_SLOTS: [u8; 37] = [
    7, 27, 34, 57, 3, 4, 5, 9, 10, 13, 14, 15, 16, 18, 19, 20, 21, 24, 25, 28, 32, 33, 35, 39, 44, 52, 53, 56, 58,
    61, 63, 64, 65, 66, 68, 73, 74,
];
const RAISE_SLOTS: usize = 4;
/// Slot 49 (`setjmp`) is non-NULL on ports whose nlr is setjmp-based: not supported (the C glue's
/// nlr buffer has room for native nlr's registers, not for a jmp_buf).
const SETJMP_SLOT: usize = 49;

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
