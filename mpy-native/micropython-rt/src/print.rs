//! Printing objects with the runtime's own print machinery into a buffer of ours.
//!
//! A [`Printer`] is an `mp_print_t` (in fact an `mp_print_ext_t`, with `json.dumps`'s default
//! separators `", "` and `": "` for ports that read them) whose `print_strn` appends to a byte
//! buffer. [`Printer::print`] calls the object's type's print slot, exactly as
//! `mp_obj_print_helper` does: with [`PrintKind::Json`] that is `json.dumps(obj)` byte for byte
//! (floats, long ints, escapes, nesting and all), with nothing allocated.
use core::ffi::{c_char, c_void};

use crate::error::Result;
use crate::obj::Obj;
use crate::protect::call;
use crate::sys;

/// How to print (`mp_print_kind_t`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PrintKind {
    /// `str(x)`.
    Str = 0,
    /// `repr(x)`.
    Repr = 1,
    /// `json.dumps(x)`.
    Json = 3,
}

/// An `mp_print_ext_t` that appends to a buffer; bytes beyond its capacity are counted, not
/// written, so a caller can grow the buffer and print again.
#[repr(C)]
pub struct Printer {
    base: sys::mp_abi_print_t,
    item_separator: *const c_char,
    key_separator: *const c_char,
    buf: *mut u8,
    cap: usize,
    len: usize,
    /// A buffer object printed into from byte `at` ([`Printer::into_buffer`]), NULL for `buf`.
    obj: Obj,
    at: usize,
}

unsafe extern "C" fn append(data: *mut c_void, s: *const c_char, n: usize) {
    let p = data as *mut Printer;
    let len = (*p).len;
    if len <= (*p).cap && n <= (*p).cap - len {
        core::ptr::copy_nonoverlapping(s as *const u8, (*p).buf.add(len), n);
    }
    (*p).len = len + n;
}

/// `append` for [`Printer::into_buffer`]: the object's memory looked up at every append, as
/// Python code run by a print slot (a `__repr__`) may have resized it (moved or freed it).
unsafe extern "C" fn append_obj(data: *mut c_void, s: *const c_char, n: usize) {
    let p = data as *mut Printer;
    // Not a buffer: `info` stays empty, nothing is written.
    let mut info = sys::mp_abi_buffer_info_t::default();
    crate::ft().get_buffer.unwrap_unchecked()((*p).obj.0, &mut info, sys::MP_ABI_BUFFER_WRITE as _);
    let at = (*p).at;
    (*p).cap = info.len.saturating_sub(at);
    (*p).buf = (info.buf as *mut u8).wrapping_add(at);
    append(data, s, n)
}

impl Printer {
    /// A printer appending to `buf[..cap]`.
    ///
    /// # Safety
    /// `buf` must be valid for `cap` bytes of writes for as long as the printer is used, and
    /// not be memory Rust holds a reference to meanwhile.
    pub unsafe fn new(buf: *mut u8, cap: usize) -> Printer {
        Printer {
            base: sys::mp_abi_print_t { data: core::ptr::null_mut(), print_strn: Some(append) },
            item_separator: c", ".as_ptr(),
            key_separator: c": ".as_ptr(),
            buf,
            cap,
            len: 0,
            obj: Obj::NULL,
            at: 0,
        }
    }
    /// A printer appending to the buffer object `obj` (e.g. a `bytearray`) from byte `at`.
    /// Safe for memory Python can reach: the object's memory is looked up at every append, so
    /// Python code that a print slot runs (a `__repr__`) may resize or write the object
    /// meanwhile without Rust writing to freed memory (what it printed then may be incomplete).
    pub fn into_buffer(obj: Obj, at: usize) -> Printer {
        Printer {
            base: sys::mp_abi_print_t { data: core::ptr::null_mut(), print_strn: Some(append_obj) },
            item_separator: c", ".as_ptr(),
            key_separator: c": ".as_ptr(),
            buf: core::ptr::null_mut(),
            cap: 0,
            len: 0,
            obj,
            at,
        }
    }
    /// Bytes printed so far (may exceed the capacity: see [`fits`](Self::fits)).
    pub fn len(&self) -> usize {
        self.len
    }
    /// Nothing printed yet?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Did everything printed so far fit in the buffer?
    pub fn fits(&self) -> bool {
        self.len <= self.cap
    }
    /// The buffer's capacity (for [`into_buffer`](Self::into_buffer): the room after `at` at the
    /// last append).
    pub fn capacity(&self) -> usize {
        self.cap
    }
    /// Append bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        // SAFETY: `append` writes within the buffer the caller of `new` vouched for, and
        // `append_obj` within the object's memory as it is now.
        unsafe { self.base.print_strn.unwrap_unchecked()((self as *mut Printer).cast(), bytes.as_ptr().cast(), bytes.len()) }
    }
    /// Print `o` as its type prints it (`str`, `repr` or JSON); errors are what the type's
    /// print raised (e.g. a user `__repr__`).
    pub fn print(&mut self, o: Obj, kind: PrintKind) -> Result<()> {
        self.base.data = (self as *mut Printer).cast();
        call(sys::lumen_mp_op_print as *const () as usize, &self.base as *const _ as usize, o.0 as usize, kind as usize, 0)?;
        Ok(())
    }
}
