//! Python objects as opaque words, built and read only through the runtime's table.
use core::ffi::c_void;

use crate::error::{Error, ExcKind, Result};
use crate::protect::call as protect;
use crate::{ft, qstr, sys};

/// A Python object (`mp_obj_t`): an opaque machine word. Copying it does not keep the object
/// alive; keep objects reachable from Python (an instance field, a global) or on the stack
/// (the GC scans the C stack) while they are used.
///
/// Only the runtime makes `Obj`s (safe code cannot forge one from an arbitrary word; see
/// [`Obj::from_raw`]).
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Obj(pub(crate) sys::mp_obj_t);

/// A qstr number (an interned string) as the runtime knows it; see [`qstr!`](crate::qstr).
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Qstr(pub usize);

impl Obj {
    /// Wrap a word the runtime handed over (e.g. from a raw slot call).
    ///
    /// # Safety
    /// `raw` must be a valid object of the running runtime (or `MP_OBJ_NULL`, only compared).
    pub unsafe fn from_raw(raw: sys::mp_obj_t) -> Obj {
        Obj(raw)
    }
    /// The raw word, for slot calls and identity comparisons.
    #[inline]
    pub fn as_raw(self) -> sys::mp_obj_t {
        self.0
    }
    /// `MP_OBJ_NULL`: "no object" (never a valid Python value).
    pub const NULL: Obj = Obj(core::ptr::null_mut());
    pub(crate) const SENTINEL: Obj = Obj(sys::MP_ABI_OBJ_SENTINEL as usize as *mut c_void);

    /// `None`.
    #[inline]
    pub fn none() -> Obj {
        Obj(ft().const_none)
    }
    /// `True` or `False`.
    #[inline]
    pub fn bool(b: bool) -> Obj {
        Obj(if b { ft().const_true } else { ft().const_false })
    }
    /// An int (a small int, or a long int where it does not fit).
    #[inline]
    pub fn int(i: isize) -> Obj {
        // SAFETY: native_to_obj with type INT cannot raise except MemoryError for a long int.
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(i as usize, sys::MP_ABI_NATIVE_TYPE_INT as _) })
    }
    /// An int from an unsigned value.
    #[inline]
    pub fn uint(u: usize) -> Obj {
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(u, sys::MP_ABI_NATIVE_TYPE_UINT as _) })
    }
    /// A float, in the port's own representation (boxed double on x64, immediate on ESP8266).
    #[inline]
    pub fn float(f: f64) -> Obj {
        Obj(unsafe { ft().obj_new_float_from_d.unwrap_unchecked()(f) })
    }
    /// A new `str` (copied). `s` is valid UTF-8 by construction.
    pub fn str(s: &str) -> Obj {
        Obj(unsafe { ft().obj_new_str.unwrap_unchecked()(s.as_ptr().cast(), s.len()) })
    }
    /// A new `bytes` (copied).
    pub fn bytes(b: &[u8]) -> Obj {
        Obj(unsafe { ft().obj_new_bytes.unwrap_unchecked()(b.as_ptr(), b.len()) })
    }
    /// A `bytearray` viewing `len` bytes at `ptr` without copying.
    ///
    /// # Safety
    /// The memory must stay valid and not move while the bytearray is alive (e.g. a buffer
    /// inside the instance that also holds the bytearray).
    pub unsafe fn bytearray_by_ref(ptr: *mut u8, len: usize) -> Obj {
        Obj(ft().obj_new_bytearray_by_ref.unwrap_unchecked()(len, ptr.cast()))
    }
    /// The interned string `q` as a `str` object (no allocation).
    #[inline]
    pub fn qstr(q: Qstr) -> Obj {
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(q.0, sys::MP_ABI_NATIVE_TYPE_QSTR as _) })
    }
    /// A new tuple holding `items`.
    pub fn tuple(items: &[Obj]) -> Obj {
        Obj(unsafe { ft().new_tuple.unwrap_unchecked()(items.len(), items.as_ptr().cast()) })
    }
    /// A new list holding `items`.
    pub fn list(items: &[Obj]) -> Obj {
        // new_list copies from a mutable pointer but does not write through it.
        Obj(unsafe { ft().new_list.unwrap_unchecked()(items.len(), items.as_ptr() as *mut _) })
    }
    /// A new empty dict.
    pub fn dict() -> Obj {
        Obj(unsafe { ft().new_dict.unwrap_unchecked()(0) })
    }

    /// Is this `None`?
    #[inline]
    pub fn is_none(self) -> bool {
        self.0 == ft().const_none
    }
    /// Is this `MP_OBJ_NULL`?
    #[inline]
    pub fn is_null(self) -> bool {
        self.0.is_null()
    }

    /// The value of an int or bool; `TypeError` otherwise. A long int (beyond the port's
    /// small ints: 62 bits on x64, 30 on the ESP8266) gives `OverflowError`: the runtime's
    /// conversion would silently truncate it.
    pub fn to_int(self) -> Result<isize> {
        // Small ints carry tag bit 0 on every representation with native code (A and C); the
        // runtime converts them exactly. Anything else that is an int is a long int.
        if self.0 as usize & 1 == 0 && self.type_ptr() == int_type()? {
            return Err(Error::new(ExcKind::OverflowError, format_args!("int too large for a native integer")));
        }
        protect(|| unsafe { ft().native_from_obj.unwrap_unchecked()(self.0, sys::MP_ABI_NATIVE_TYPE_INT as _) as isize })
    }
    /// The value of an int, float (or bool) as a double; `TypeError` otherwise.
    pub fn to_float(self) -> Result<f64> {
        protect(|| unsafe { ft().obj_get_float_to_d.unwrap_unchecked()(self.0) })
    }
    /// Truth value (`bool(self)`), which may call Python code.
    pub fn is_true(self) -> Result<bool> {
        protect(|| unsafe { ft().obj_is_true.unwrap_unchecked()(self.0) })
    }
    /// The object's type (`type(self)`), for identity comparisons with known types.
    pub fn type_ptr(self) -> *const sys::mp_abi_type_t {
        unsafe { ft().obj_get_type.unwrap_unchecked()(self.0) }
    }
    /// Is this exactly a `str`?
    pub fn is_str(self) -> bool {
        self.type_ptr() == ft().type_str
    }

    /// Read access to the bytes of a buffer object (bytes, bytearray, str, memoryview, array).
    pub fn buffer(&self) -> Result<&[u8]> {
        let info = self.buffer_info(sys::MP_ABI_BUFFER_READ)?;
        // SAFETY: the runtime describes `len` readable bytes at `buf`, alive while `self` is.
        Ok(unsafe { slice_or_empty(info.buf as *const u8, info.len) })
    }
    /// Write access to a mutable buffer object (bytearray, array, memoryview).
    ///
    /// # Safety
    /// No other reference to the same memory (from another `buffer`/`buffer_mut` of this or
    /// another object viewing it) may be used while the returned slice lives, and Python code
    /// must not resize the object meanwhile: the runtime cannot track Rust borrows.
    pub unsafe fn buffer_mut(&self) -> Result<&mut [u8]> {
        let info = self.buffer_info(sys::MP_ABI_BUFFER_WRITE)?;
        if info.buf.is_null() {
            return Ok(&mut []);
        }
        Ok(unsafe { core::slice::from_raw_parts_mut(info.buf as *mut u8, info.len) })
    }
    fn buffer_info(&self, flags: u32) -> Result<sys::mp_abi_buffer_info_t> {
        let mut info = sys::mp_abi_buffer_info_t::default();
        let ok = unsafe { ft().get_buffer.unwrap_unchecked()(self.0, &mut info, flags as _) };
        if ok {
            Ok(info)
        } else if flags & sys::MP_ABI_BUFFER_WRITE != 0 {
            Err(Error::new(ExcKind::TypeError, format_args!("object with a writable buffer required")))
        } else {
            Err(Error::new(ExcKind::TypeError, format_args!("object with buffer protocol required")))
        }
    }
    /// The text of a `str` object.
    pub fn str_ref(&self) -> Result<&str> {
        if !self.is_str() {
            return Err(Error::new(ExcKind::TypeError, format_args!("expected a str")));
        }
        // A str's buffer is its UTF-8 bytes.
        core::str::from_utf8(self.buffer()?).map_err(|_| Error::new(ExcKind::ValueError, format_args!("invalid UTF-8 in str")))
    }

    /// `self.<attr>`.
    pub fn attr(self, attr: Qstr) -> Result<Obj> {
        protect(|| Obj(unsafe { ft().load_attr.unwrap_unchecked()(self.0, attr.0) }))
    }
    /// `self.<attr> = value`.
    pub fn set_attr(self, attr: Qstr, value: Obj) -> Result<()> {
        protect(|| unsafe { ft().store_attr.unwrap_unchecked()(self.0, attr.0, value.0) })
    }
    /// `self[index]`.
    pub fn get_item(self, index: Obj) -> Result<Obj> {
        protect(|| Obj(unsafe { ft().obj_subscr.unwrap_unchecked()(self.0, index.0, Obj::SENTINEL.0) }))
    }
    /// `self[index] = value`.
    pub fn set_item(self, index: Obj, value: Obj) -> Result<()> {
        protect(|| unsafe {
            ft().obj_subscr.unwrap_unchecked()(self.0, index.0, value.0);
        })
    }
    /// Unpack a sequence of exactly `N` items (`a, b, c = self`); `ValueError`/`TypeError`
    /// otherwise.
    pub fn unpack<const N: usize>(self) -> Result<[Obj; N]> {
        let mut items = [Obj::NULL; N];
        protect(|| unsafe { ft().unpack_sequence.unwrap_unchecked()(self.0, N, items.as_mut_ptr().cast()) })?;
        // unpack_sequence stores the items in reverse order (as the VM pushes them).
        items.reverse();
        Ok(items)
    }
    /// `self.append(item)` for a list.
    pub fn list_append(self, item: Obj) -> Result<()> {
        protect(|| unsafe {
            ft().list_append.unwrap_unchecked()(self.0, item.0);
        })
    }
    /// `self[key] = value` for a dict.
    pub fn dict_store(self, key: Obj, value: Obj) -> Result<()> {
        protect(|| unsafe {
            ft().dict_store.unwrap_unchecked()(self.0, key.0, value.0);
        })
    }

    /// Call `self(*args)`.
    pub fn call(self, args: &[Obj]) -> Result<Obj> {
        protect(|| Obj(unsafe { ft().call_function_n_kw.unwrap_unchecked()(self.0, args.len(), args.as_ptr().cast()) }))
    }
    /// Call `self(*args, **kw)`, `kw` as (name, value) pairs.
    pub fn call_kw(self, args: &[Obj], kw: &[(Qstr, Obj)]) -> Result<Obj> {
        const MAX: usize = 12;
        if args.len() + 2 * kw.len() > MAX {
            return Err(Error::new(ExcKind::ValueError, format_args!("too many arguments for a native call")));
        }
        let mut all = [Obj::NULL; MAX];
        all[..args.len()].copy_from_slice(args);
        for (i, (k, v)) in kw.iter().enumerate() {
            all[args.len() + 2 * i] = Obj::qstr(*k);
            all[args.len() + 2 * i + 1] = *v;
        }
        let n = args.len() | (kw.len() << 8);
        protect(|| Obj(unsafe { ft().call_function_n_kw.unwrap_unchecked()(self.0, n, all.as_ptr().cast()) }))
    }
    /// Call the method `self.<name>(*args)` (up to 6 arguments), without creating a bound method.
    pub fn call_method(self, name: Qstr, args: &[Obj]) -> Result<Obj> {
        const MAX: usize = 6;
        if args.len() > MAX {
            return Err(Error::new(ExcKind::ValueError, format_args!("too many arguments for a native method call")));
        }
        let mut frame = [Obj::NULL; MAX + 2];
        frame[2..2 + args.len()].copy_from_slice(args);
        protect(|| unsafe {
            // frame = [method, self or NULL, args...]: call_method_n_kw drops the NULL self.
            ft().load_method.unwrap_unchecked()(self.0, name.0, frame.as_mut_ptr().cast());
            Obj(ft().call_method_n_kw.unwrap_unchecked()(args.len(), 0, frame.as_ptr().cast()))
        })
    }
    /// Does `self` have the method/attribute `name`? (Never raises.)
    pub fn has_method(self, name: Qstr) -> bool {
        let mut dest = [Obj::NULL; 2];
        unsafe { ft().load_method_maybe.unwrap_unchecked()(self.0, name.0, dest.as_mut_ptr().cast()) };
        !dest[0].is_null()
    }
    /// The stream protocol of `self` if it implements it natively (a socket, a file), for
    /// writing without a method call.
    pub fn stream(self) -> Option<&'static sys::mp_abi_stream_p_t> {
        protect(|| unsafe { ft().get_stream_raise.unwrap_unchecked()(self.0, sys::MP_ABI_STREAM_OP_WRITE as _) })
            .ok()
            .and_then(|p| unsafe { p.as_ref() })
    }
}

#[inline]
unsafe fn slice_or_empty<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        core::slice::from_raw_parts(p, len)
    }
}

fn int_type() -> Result<*const sys::mp_abi_type_t> {
    Ok(global(qstr!("int"))?.0 as *const sys::mp_abi_type_t)
}

/// Look up a builtin or global by name (`load_global`), e.g. `global(qstr!("OSError"))`.
pub fn global(name: Qstr) -> Result<Obj> {
    protect(|| Obj(unsafe { ft().load_global.unwrap_unchecked()(name.0) }))
}

/// `import name` (absolute import), returning the module.
pub fn import(name: Qstr) -> Result<Obj> {
    protect(|| unsafe {
        Obj(ft().import_name.unwrap_unchecked()(name.0, ft().const_none, Obj::int(0).0))
    })
}
