//! Positional and keyword arguments as the runtime passes them.
use crate::error::{Error, ExcKind, Result};
use crate::obj::{Obj, Qstr, StaticQstr};

/// The most parameters [`Args::check`] and [`Args::parse`] handle.
pub const MAX_PARAMS: usize = 16;

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
        let all = core::slice::from_raw_parts(args, n_args + 2 * n_kw);
        Args { pos: &all[..n_args], kw: &all[n_args..] }
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
    /// the first `required` must be given. Errors read like CPython's. The names are a static
    /// table (`static NAMES: [StaticQstr; N] = [static_qstr!("x"), ...]`): rodata, not code.
    pub fn check(&self, func: &'static str, names: &[StaticQstr], required: usize) -> Result<()> {
        let mut out = [Obj::NULL; MAX_PARAMS];
        self.parse(func, names, required, &mut out)
    }

    /// [`check`](Self::check) the call and fill `out[i]` with parameter i (NULL where not
    /// given) in one pass; `out` must have room for every name. At most 16 parameters.
    #[inline(never)]
    pub fn parse(&self, func: &'static str, names: &[StaticQstr], required: usize, out: &mut [Obj]) -> Result<()> {
        let n = names.len().min(MAX_PARAMS).min(out.len());
        let npos = self.pos.len();
        // The error, if any: its format and one or two arguments after the function name.
        let (fmt, a, b): (&'static str, Obj, Obj) = 'check: {
            if npos > n {
                let (max, given) = (Obj::int(n as isize), Obj::int(npos as isize));
                break 'check ("%s() takes at most %d positional arguments (%d given)", max, given);
            }
            for (i, o) in out[..n].iter_mut().enumerate() {
                *o = if i < npos { self.pos[i] } else { Obj::NULL };
            }
            for pair in self.kw.chunks_exact(2) {
                match names[..n].iter().position(|q| Obj::qstr(q.get()) == pair[0]) {
                    None => break 'check ("%s() got an unexpected keyword argument '%s'", pair[0], Obj::NULL),
                    Some(i) if !out[i].is_null() => {
                        break 'check ("%s() got multiple values for argument '%s'", pair[0], Obj::NULL)
                    }
                    Some(i) => out[i] = pair[1],
                }
            }
            match out[..required.min(n)].iter().position(|o| o.is_null()) {
                Some(i) => break 'check ("%s() missing required argument '%s'", Obj::qstr(names[i].get()), Obj::NULL),
                None => return Ok(()),
            }
        };
        let args = [Obj::str(func), a, b];
        Err(Error::format(ExcKind::TypeError, fmt, if b.is_null() { &args[..2] } else { &args }))
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
