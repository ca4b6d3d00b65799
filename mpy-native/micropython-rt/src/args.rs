//! Positional and keyword arguments as the runtime passes them.
use crate::error::Result;
use crate::protect::call;
use crate::sys;
use crate::obj::{Obj, Qstr, StaticQstr};

/// The most parameters [`Args::check`] and [`Args::parse`] handle.
pub const MAX_PARAMS: usize = 16;
/// `mp_arg_t`: a parameter for the runtime's argument parser; the default NULL means "not
/// given".
#[repr(C)]
#[derive(Copy, Clone)]
struct ArgSpec {
    qst: u16,
    flags: u16,
    defval: usize,
}
/// `mp_arg_t` flags: an object argument, required.
const MP_ARG_OBJ: u16 = 0x003;
const MP_ARG_REQUIRED: u16 = 0x100;

/// Arguments of a call: positional objects (also reachable through `Deref`, so `args[0]`)
/// and keyword (name, value) pairs (constructors only).
#[derive(Copy, Clone)]
pub struct Args<'a> {
    pos: &'a [Obj],
    kw: &'a [Obj],
}

impl core::ops::Deref for Args<'_> {
    type Target = [Obj];
    #[inline]
    fn deref(&self) -> &[Obj] {
        self.pos
    }
}

impl<'a> Args<'a> {
    /// Wrap the runtime's argument array.
    ///
    /// # Safety
    /// `args` must point to `n_args + 2 * n_kw` objects (or be NULL with both counts 0).
    pub unsafe fn from_raw(n_args: usize, n_kw: usize, args: *const Obj) -> Args<'a> {
        if args.is_null() || n_args + n_kw == 0 {
            return Args { pos: &[], kw: &[] };
        }
        Args { pos: core::slice::from_raw_parts(args, n_args), kw: core::slice::from_raw_parts(args.add(n_args), 2 * n_kw) }
    }
    /// From positional arguments only.
    pub fn positional(pos: &'a [Obj]) -> Args<'a> {
        Args { pos, kw: &[] }
    }
    /// Positional arguments.
    pub fn pos(&self) -> &'a [Obj] {
        self.pos
    }
    /// Positional argument `i`, or `None` (the Python value) if there are fewer: no bounds-check
    /// panic for an argument the function's `min` guarantees.
    #[inline]
    pub fn arg(&self, i: usize) -> Obj {
        match self.pos.get(i) {
            Some(o) => *o,
            None => Obj::none(),
        }
    }
    /// Number of keyword arguments.
    pub fn n_kw(&self) -> usize {
        self.kw.len() / 2
    }

    /// Check the call against a signature: `names[i]` is parameter i (positional or keyword),
    /// the first `required` must be given. The runtime's own argument parser checks it, with its
    /// own `TypeError`s (e.g. "'x' argument required", "extra keyword arguments given"; with
    /// detailed error reporting "unexpected keyword argument 'x'"). The names are a static
    /// table (`static NAMES: [StaticQstr; N] = [static_qstr!("x"), ...]`): rodata, not code.
    /// `func` names the function (for the record: the runtime's messages do not name it).
    pub fn check(&self, func: &'static str, names: &[StaticQstr], required: usize) -> Result<()> {
        let mut out = [Obj::NULL; MAX_PARAMS];
        self.parse(func, names, required, &mut out)
    }

    /// [`check`](Self::check) the call and fill `out[i]` with parameter i (NULL where not
    /// given) in one pass; `out` must have room for every name. At most 16 parameters.
    #[inline(never)]
    pub fn parse(&self, _func: &'static str, names: &[StaticQstr], required: usize, out: &mut [Obj]) -> Result<()> {
        let n = names.len().min(MAX_PARAMS).min(out.len());
        // Only the first n entries are written, and the runtime reads only those.
        let mut spec = core::mem::MaybeUninit::<[ArgSpec; MAX_PARAMS]>::uninit();
        let sp = spec.as_mut_ptr() as *mut ArgSpec;
        for (i, q) in names[..n].iter().enumerate() {
            let flags = MP_ARG_OBJ | if i < required { MP_ARG_REQUIRED } else { 0 };
            // SAFETY: i < n <= MAX_PARAMS.
            unsafe { sp.add(i).write(ArgSpec { qst: q.get().as_raw() as u16, flags, defval: 0 }) };
        }
        // Positional and keyword arguments are one array (see `from_raw`).
        let ptrs = [sp as usize, out.as_mut_ptr() as usize];
        let counts = self.pos.len() | self.n_kw() << 16;
        call(sys::lumen_mp_op_arg_parse as *const () as usize, counts, self.pos.as_ptr() as usize, n, ptrs.as_ptr() as usize)?;
        Ok(())
    }

    /// Parameter `index`/`name`: the positional argument at `index`, else the keyword `name`.
    pub fn get(&self, index: usize, name: Qstr) -> Option<Obj> {
        if let Some(o) = self.pos.get(index) {
            return Some(*o);
        }
        let key = Obj::qstr(name);
        self.kw.chunks_exact(2).find(|p| p[0] == key).map(|p| p[1])
    }
    /// Like [`get`](Self::get), with `None` (the Python value) treated as absent.
    pub fn get_opt(&self, index: usize, name: Qstr) -> Option<Obj> {
        self.get(index, name).filter(|o| !o.is_none())
    }
}
