//! Python objects as opaque words, built and read only through the runtime's table.
use core::ffi::c_void;

use crate::error::{Error, ExcKind, Result};
use crate::protect::{call, call_out};
use crate::state::{builtin, Builtin};
use crate::{ft, sys};
use sys::*;

/// A Python object (`mp_obj_t`): an opaque machine word. Copying it does not keep the object
/// alive; keep objects reachable from Python (an instance field, a global) or on the stack
/// (the GC scans the C stack) while they are used.
///
/// Only the runtime makes `Obj`s (safe code cannot forge one from an arbitrary word; see
/// [`Obj::from_raw`]).
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Obj(pub(crate) mp_obj_t);

/// A qstr number (an interned string) of the running runtime; made by [`qstr!`](crate::qstr)
/// (or, unsafely, [`Qstr::from_raw`]), so safe code cannot pass the runtime a number that is
/// not a qstr.
#[repr(transparent)]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Qstr(usize);

impl Qstr {
    /// Wrap a qstr number.
    ///
    /// # Safety
    /// `q` must be a qstr number of the running runtime (e.g. read from the module's qstr
    /// table, as [`qstr!`](crate::qstr) does, or handed over by the runtime).
    #[inline(always)]
    pub const unsafe fn from_raw(q: usize) -> Qstr {
        Qstr(q)
    }
    /// The number.
    #[inline(always)]
    pub fn as_raw(self) -> usize {
        self.0
    }
}

/// A qstr table entry of this module, as a constant ([`static_qstr!`](crate::static_qstr)).
#[repr(transparent)]
#[derive(Copy, Clone)]
pub struct StaticQstr(*const u16);

// SAFETY: a pointer to the module's qstr table, written by the loader before any code runs and
// read-only afterwards.
unsafe impl Sync for StaticQstr {}

impl StaticQstr {
    /// Wrap the address of an `MP_QSTR_<name>` symbol.
    ///
    /// # Safety
    /// `p` must be the address of one of the module's qstr table entries.
    #[doc(hidden)]
    pub const unsafe fn from_entry(p: *const u16) -> StaticQstr {
        StaticQstr(p)
    }
    /// The qstr.
    #[inline]
    pub fn get(self) -> Qstr {
        // SAFETY: a qstr table entry (see `from_entry`), filled in at load time.
        Qstr(unsafe { self.0.read() } as usize)
    }
}

/// Binary operators of [`Obj::binary_op`] (`mp_binary_op_t` numbers).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum BinOp {
    Less = 0,
    More = 1,
    Equal = 2,
    Add = 27,
    Subtract = 28,
    Multiply = 29,
    FloorDivide = 31,
    TrueDivide = 32,
    Modulo = 33,
}

const MP_PRINT_STREAM_WRITE: usize = MP_ABI_STREAM_OP_WRITE as usize;

impl Obj {
    /// Wrap a word the runtime handed over (e.g. from a raw slot call).
    ///
    /// # Safety
    /// `raw` must be a valid object of the running runtime (or `MP_OBJ_NULL`, only compared).
    pub unsafe fn from_raw(raw: mp_obj_t) -> Obj {
        Obj(raw)
    }
    /// The raw word, for slot calls and identity comparisons.
    #[inline]
    pub fn as_raw(self) -> mp_obj_t {
        self.0
    }
    /// `MP_OBJ_NULL`: "no object" (never a valid Python value).
    pub const NULL: Obj = Obj(core::ptr::null_mut());
    pub(crate) const SENTINEL: Obj = Obj(MP_ABI_OBJ_SENTINEL as usize as *mut c_void);

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
    #[inline(never)]
    pub fn int(i: isize) -> Obj {
        // SAFETY: slot checked at import; raises only MemoryError for a long int.
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(i as usize, MP_ABI_NATIVE_TYPE_INT as _) })
    }
    /// An int from an unsigned value.
    #[inline(never)]
    pub fn uint(u: usize) -> Obj {
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(u, MP_ABI_NATIVE_TYPE_UINT as _) })
    }
    /// A float, in the port's own representation (boxed double on x64, immediate on ESP8266).
    /// Passing a constant costs no float code; do arithmetic with [`binary_op`](Self::binary_op)
    /// on ports without an FPU.
    #[inline(never)]
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
    /// A new zeroed `bytearray` of `n` bytes (its memory belongs to the runtime: read and write
    /// it through [`copy_to`](Self::copy_to)/[`copy_from`](Self::copy_from) or raw pointers,
    /// never through a Rust reference held across a runtime call).
    pub fn bytearray(n: usize) -> Result<Obj> {
        builtin(Builtin::bytearray).call(&[Obj::int(n as isize)])
    }
    /// A `bytearray` viewing `len` bytes at `ptr` without copying.
    ///
    /// # Safety
    /// The memory must stay valid and not move while the bytearray is alive, and Rust must
    /// not hold a reference to it across any runtime call (Python code can write through the
    /// bytearray at any time).
    pub unsafe fn bytearray_by_ref(ptr: *mut u8, len: usize) -> Obj {
        Obj(ft().obj_new_bytearray_by_ref.unwrap_unchecked()(len, ptr.cast()))
    }
    /// The interned string `q` as a `str` object (no allocation).
    #[inline(never)]
    pub fn qstr(q: Qstr) -> Obj {
        Obj(unsafe { ft().native_to_obj.unwrap_unchecked()(q.0, MP_ABI_NATIVE_TYPE_QSTR as _) })
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
    /// Is this a small int (tag bit 0 on every representation with native code)?
    #[inline]
    pub fn is_small_int(self) -> bool {
        self.0 as usize & 1 == 1
    }

    /// The value of an int or bool; `TypeError` otherwise. A long int (beyond the port's
    /// small ints: 62 bits on x64, 30 on the ESP8266) gives `OverflowError`: the runtime's
    /// conversion would silently truncate it.
    pub fn to_int(self) -> Result<isize> {
        if !self.is_small_int() && self.type_ptr() == builtin(Builtin::int).0 as *const _ {
            return Err(Error::new(ExcKind::OverflowError, "int too large for a native integer"));
        }
        Ok(call(sys::LUMEN_OP_FROM_OBJ as usize, self.0 as usize, MP_ABI_NATIVE_TYPE_INT as usize, 0, 0)? as isize)
    }
    /// The value of an int, float (or bool) as a double; `TypeError` otherwise. (On ports
    /// without an FPU the double is only moved, not computed with.)
    pub fn to_float(self) -> Result<f64> {
        let mut out = [0usize; 2];
        call(sys::lumen_mp_op_float_to_d as *const () as usize, self.0 as usize, out.as_mut_ptr() as usize, 0, 0)?;
        // SAFETY: the glue stored a double in the first 8 bytes of `out`.
        Ok(unsafe { (out.as_ptr() as *const f64).read_unaligned() })
    }
    /// Truth value (`bool(self)`), which may call Python code.
    pub fn is_true(self) -> Result<bool> {
        Ok(call(sys::LUMEN_OP_IS_TRUE as usize, self.0 as usize, 0, 0, 0)? & 0xFF != 0)
    }
    /// The object's type (`type(self)`), for identity comparisons with known types.
    #[inline(never)]
    pub fn type_ptr(self) -> *const mp_abi_type_t {
        unsafe { ft().obj_get_type.unwrap_unchecked()(self.0) }
    }
    /// Is this exactly a `str`?
    #[inline(never)]
    pub fn is_str(self) -> bool {
        self.type_ptr() == ft().type_str
    }
    /// Is this exactly of the builtin type `t` (e.g. `Builtin::bytes`)?
    #[inline(never)]
    pub fn is_type(self, t: Builtin) -> bool {
        self.type_ptr() == builtin(t).0 as *const _
    }

    /// `self <op> other`, computed by the runtime (e.g. `Obj::int(a).binary_op(TrueDivide,
    /// Obj::int(b))` is the float `a / b`, correctly rounded where the port's float holds a
    /// and b exactly).
    pub fn binary_op(self, op: BinOp, other: Obj) -> Result<Obj> {
        Ok(Obj(call(sys::LUMEN_OP_BINARY_OP as usize, op as usize, self.0 as usize, other.0 as usize, 0)? as _))
    }

    /// The bytes of an immutable buffer object (`bytes` or `str`, exactly those types): safe,
    /// because nothing can change or free them while `self` is alive. `TypeError` otherwise.
    pub fn bytes_ref(&self) -> Result<&[u8]> {
        if !(self.is_str() || self.is_type(Builtin::bytes)) {
            return Err(Error::new(ExcKind::TypeError, "expected str or bytes"));
        }
        // SAFETY: immutable types: the data lives as long as the object.
        unsafe { self.buffer() }
    }
    /// Read access to the bytes of any buffer object (bytes, bytearray, str, memoryview, array).
    ///
    /// # Safety
    /// The slice must not be used after any runtime call that could run Python code, and never
    /// across one: Python code can resize or write a mutable buffer (a `bytearray`) at any time,
    /// which frees or changes the memory behind the slice. Use [`bytes_ref`](Self::bytes_ref)
    /// for immutable objects and [`copy_to`](Self::copy_to) for the rest.
    pub unsafe fn buffer(&self) -> Result<&[u8]> {
        let info = self.buffer_info(MP_ABI_BUFFER_READ)?;
        if info.buf.is_null() || info.len == 0 {
            return Ok(&[]);
        }
        Ok(core::slice::from_raw_parts(info.buf as *const u8, info.len))
    }
    /// Write access to a mutable buffer object (bytearray, array, memoryview).
    ///
    /// # Safety
    /// As [`buffer`](Self::buffer), and no other reference to the same memory may be used while
    /// the returned slice lives.
    pub unsafe fn buffer_mut(&self) -> Result<&mut [u8]> {
        let info = self.buffer_info(MP_ABI_BUFFER_WRITE)?;
        if info.buf.is_null() || info.len == 0 {
            return Ok(&mut []);
        }
        Ok(core::slice::from_raw_parts_mut(info.buf as *mut u8, info.len))
    }
    /// The start and length of a buffer object's memory (write access if `write`), for raw
    /// pointer use: valid until the next runtime call that can run Python code.
    pub fn buffer_raw(&self, write: bool) -> Result<(*mut u8, usize)> {
        let info = self.buffer_info(if write { MP_ABI_BUFFER_WRITE } else { MP_ABI_BUFFER_READ })?;
        Ok((info.buf as *mut u8, info.len))
    }
    /// Copy `buf[at..at + out.len()]` of a buffer object into `out`; `ValueError` if it is
    /// shorter.
    pub fn copy_to(&self, at: usize, out: &mut [u8]) -> Result<()> {
        let (p, len) = self.buffer_raw(false)?;
        if at > len || len - at < out.len() {
            return Err(Error::new(ExcKind::ValueError, "buffer too short"));
        }
        // SAFETY: in bounds (checked); no runtime call between getting and using the pointer.
        unsafe { core::ptr::copy_nonoverlapping(p.add(at), out.as_mut_ptr(), out.len()) };
        Ok(())
    }
    /// Copy `data` into a mutable buffer object at `at`; `ValueError` if it does not fit.
    pub fn copy_from(&self, at: usize, data: &[u8]) -> Result<()> {
        let (p, len) = self.buffer_raw(true)?;
        if at > len || len - at < data.len() {
            return Err(Error::new(ExcKind::ValueError, "buffer too short"));
        }
        // SAFETY: in bounds (checked); no runtime call between getting and using the pointer.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), p.add(at), data.len()) };
        Ok(())
    }
    /// Length of a buffer object.
    pub fn buffer_len(&self) -> Result<usize> {
        Ok(self.buffer_raw(false)?.1)
    }
    fn buffer_info(&self, flags: u32) -> Result<mp_abi_buffer_info_t> {
        let mut info = mp_abi_buffer_info_t::default();
        // A direct call (no nlr: this is on every hot path); the runtime's own wording.
        if unsafe { ft().get_buffer.unwrap_unchecked()(self.0, &mut info, flags as _) } {
            Ok(info)
        } else {
            Err(Error::new(ExcKind::TypeError, "object with buffer protocol required"))
        }
    }
    /// The text of a `str` object (str objects hold valid UTF-8).
    pub fn str_ref(&self) -> Result<&str> {
        if !self.is_str() {
            return Err(Error::new(ExcKind::TypeError, "expected a str"));
        }
        // SAFETY: a str is immutable and holds its UTF-8 bytes.
        core::str::from_utf8(unsafe { self.buffer()? }).map_err(|_| Error::new(ExcKind::ValueError, "invalid UTF-8 in str"))
    }

    /// `self.<attr>`.
    #[inline(never)]
    pub fn attr(self, attr: Qstr) -> Result<Obj> {
        Ok(Obj(call(sys::LUMEN_OP_LOAD_ATTR as usize, self.0 as usize, attr.0, 0, 0)? as _))
    }
    /// `self.<attr> = value`.
    pub fn set_attr(self, attr: Qstr, value: Obj) -> Result<()> {
        call(sys::LUMEN_OP_STORE_ATTR as usize, self.0 as usize, attr.0, value.0 as usize, 0).map(drop)
    }
    /// `self[index]`.
    pub fn get_item(self, index: Obj) -> Result<Obj> {
        Ok(Obj(call(sys::LUMEN_OP_SUBSCR as usize, self.0 as usize, index.0 as usize, Obj::SENTINEL.0 as usize, 0)? as _))
    }
    /// `self[index] = value`.
    pub fn set_item(self, index: Obj, value: Obj) -> Result<()> {
        call(sys::LUMEN_OP_SUBSCR as usize, self.0 as usize, index.0 as usize, value.0 as usize, 0).map(drop)
    }
    /// Unpack a sequence of exactly `N` items (`a, b, c = self`); `ValueError`/`TypeError`
    /// otherwise.
    pub fn unpack<const N: usize>(self) -> Result<[Obj; N]> {
        let mut items = [Obj::NULL; N];
        call(sys::LUMEN_OP_UNPACK as usize, self.0 as usize, N, items.as_mut_ptr() as usize, 0)?;
        // unpack_sequence stores the items in reverse order (as the VM pushes them).
        items.reverse();
        Ok(items)
    }
    /// `self.append(item)` for a list.
    pub fn list_append(self, item: Obj) -> Result<()> {
        call(sys::LUMEN_OP_LIST_APPEND as usize, self.0 as usize, item.0 as usize, 0, 0).map(drop)
    }
    /// `self[key] = value` for a dict.
    pub fn dict_store(self, key: Obj, value: Obj) -> Result<()> {
        call(sys::LUMEN_OP_DICT_STORE as usize, self.0 as usize, key.0 as usize, value.0 as usize, 0).map(drop)
    }

    /// Call `self(*args)`.
    #[inline(never)]
    pub fn call(self, args: &[Obj]) -> Result<Obj> {
        Ok(Obj(call(sys::LUMEN_OP_CALL as usize, self.0 as usize, args.len(), args.as_ptr() as usize, 0)? as _))
    }
    /// Call `self(*args, **kw)`, `kw` as (name, value) pairs (at most 12 words in all).
    pub fn call_kw(self, args: &[Obj], kw: &[(Qstr, Obj)]) -> Result<Obj> {
        const MAX: usize = 12;
        if args.len() + 2 * kw.len() > MAX {
            return Err(Error::new(ExcKind::ValueError, "too many arguments for a native call"));
        }
        let mut all = core::mem::MaybeUninit::<[Obj; MAX]>::uninit();
        let p = all.as_mut_ptr() as *mut Obj;
        // SAFETY: args.len() + 2 * kw.len() <= MAX words are written (checked above), all that
        // the call reads.
        unsafe {
            core::ptr::copy_nonoverlapping(args.as_ptr(), p, args.len());
            for (i, (k, v)) in kw.iter().enumerate() {
                p.add(args.len() + 2 * i).write(Obj::qstr(*k));
                p.add(args.len() + 2 * i + 1).write(*v);
            }
        }
        let n = args.len() | (kw.len() << 8);
        Ok(Obj(call(sys::LUMEN_OP_CALL as usize, self.0 as usize, n, p as usize, 0)? as _))
    }
    /// Call the method `self.<name>(*args)` (up to 6 arguments), without creating a bound method.
    pub fn call_method(self, name: Qstr, args: &[Obj]) -> Result<Obj> {
        const MAX: usize = 6;
        if args.len() > MAX {
            return Err(Error::new(ExcKind::ValueError, "too many arguments for a native method call"));
        }
        // frame = [method, self or NULL, args...]: load_method fills the first two (the GC scans
        // the stack conservatively, so the rest may stay uninitialised); call_method_n_kw drops
        // a NULL self.
        let mut frame = core::mem::MaybeUninit::<[Obj; MAX + 2]>::uninit();
        let p = frame.as_mut_ptr() as *mut Obj;
        // SAFETY: at most MAX arguments after the first two words (checked above).
        unsafe { core::ptr::copy_nonoverlapping(args.as_ptr(), p.add(2), args.len()) };
        Ok(Obj(call(sys::lumen_mp_op_call_method as *const () as usize, self.0 as usize, name.0, args.len(), p as usize)? as _))
    }
    /// Does `self` have the method/attribute `name`? (Never raises.)
    pub fn has_method(self, name: Qstr) -> bool {
        // load_method_maybe sets both words (NULL when there is no such attribute).
        let mut dest = core::mem::MaybeUninit::<[Obj; 2]>::uninit();
        unsafe {
            ft().load_method_maybe.unwrap_unchecked()(self.0, name.0, dest.as_mut_ptr().cast());
            !dest.assume_init()[0].is_null()
        }
    }
    /// The stream protocol of `self` if it implements it natively (a socket, a file).
    pub fn stream(self) -> Option<Stream> {
        let p = call(sys::LUMEN_OP_GET_STREAM as usize, self.0 as usize, MP_PRINT_STREAM_WRITE, 0, 0).ok()?;
        // SAFETY: the runtime returns a pointer to a static stream protocol (or raised).
        let p = unsafe { (p as *const mp_abi_stream_p_t).as_ref()? };
        Some(Stream { obj: self, p })
    }
}

/// An object's native stream protocol (`read`/`write`/`ioctl` in C, no method calls).
#[derive(Copy, Clone)]
pub struct Stream {
    obj: Obj,
    p: &'static mp_abi_stream_p_t,
}

impl Stream {
    /// Does the protocol have read, write and ioctl?
    pub fn is_full(&self) -> bool {
        self.p.read.is_some() && self.p.write.is_some() && self.p.ioctl.is_some()
    }
    /// `f(obj, c, d, &errcode)` for one of the protocol's functions (`None`: `EINVAL`).
    fn op(&self, f: Option<*const ()>, c: usize, d: usize) -> Result<core::result::Result<usize, i32>> {
        let Some(f) = f else {
            return Ok(Err(crate::errno::EINVAL));
        };
        let mut out = [0usize; 2];
        // The error code (a C int) is written into out[1], which starts at zero.
        let err = core::ptr::addr_of_mut!(out[1]) as usize;
        call_out(f as usize, self.obj.0 as usize, c, d, err, &mut out)?;
        Ok(if out[0] == usize::MAX { Err(out[1] as i32) } else { Ok(out[0]) })
    }
    /// `read` into `buf..buf+n`: `Ok(Ok(count))`, `Ok(Err(errno))`, or an exception.
    ///
    /// # Safety
    /// `buf` must be valid for `n` bytes of writes, and not be memory Rust holds a reference to.
    pub unsafe fn read(&self, buf: *mut u8, n: usize) -> Result<core::result::Result<usize, i32>> {
        self.op(self.p.read.map(|f| f as *const ()), buf as usize, n)
    }
    /// `write` from `buf..buf+n`.
    ///
    /// # Safety
    /// `buf` must be valid for `n` bytes of reads.
    pub unsafe fn write(&self, buf: *const u8, n: usize) -> Result<core::result::Result<usize, i32>> {
        self.op(self.p.write.map(|f| f as *const ()), buf as usize, n)
    }
    /// `ioctl(request, arg)`.
    pub fn ioctl(&self, request: usize, arg: usize) -> Result<core::result::Result<usize, i32>> {
        self.op(self.p.ioctl.map(|f| f as *const ()), request, arg)
    }
}

/// `import name` (absolute import), returning the module.
pub fn import(name: Qstr) -> Result<Obj> {
    Ok(Obj(call(sys::LUMEN_OP_IMPORT as usize, name.0, Obj::none().0 as usize, Obj::int(0).0 as usize, 0)? as _))
}

