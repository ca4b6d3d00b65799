//! Positional and keyword arguments as the runtime passes them.
use crate::error::{Error, ExcKind, Result};
use crate::obj::{Obj, Qstr};

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
    /// Number of keyword arguments.
    pub fn n_kw(&self) -> usize {
        self.kw.len() / 2
    }

    /// Check the call against a signature: `names[i]` is parameter i (positional or keyword),
    /// the first `required` must be given. Errors read like CPython's.
    #[inline(never)]
    pub fn check(&self, func: &'static str, names: &[Qstr], required: usize) -> Result<()> {
        let fail = |fmt: &'static str, a: Obj, b: Obj| {
            let args = [Obj::str(func), a, b];
            Err(Error::format(ExcKind::TypeError, fmt, if b.is_null() { &args[..2] } else { &args }))
        };
        if self.pos.len() > names.len() {
            let (max, given) = (Obj::int(names.len() as isize), Obj::int(self.pos.len() as isize));
            return fail("%s() takes at most %d positional arguments (%d given)", max, given);
        }
        for pair in self.kw.chunks_exact(2) {
            match names.iter().position(|n| Obj::qstr(*n) == pair[0]) {
                None => return fail("%s() got an unexpected keyword argument '%s'", pair[0], Obj::NULL),
                Some(idx) if idx < self.pos.len() => {
                    return fail("%s() got multiple values for argument '%s'", pair[0], Obj::NULL)
                }
                Some(_) => {}
            }
        }
        for (i, n) in names.iter().enumerate().take(required) {
            if self.get(i, *n).is_none() {
                return fail("%s() missing required argument '%s'", Obj::qstr(*n), Obj::NULL);
            }
        }
        Ok(())
    }

    /// [`check`](Self::check) the call, then every parameter in `out` (NULL where not given):
    /// one call instead of a `get` per parameter.
    pub fn parse(&self, func: &'static str, names: &[Qstr], required: usize, out: &mut [Obj]) -> Result<()> {
        self.check(func, names, required)?;
        for (i, (n, o)) in names.iter().zip(out.iter_mut()).enumerate() {
            *o = self.get(i, *n).unwrap_or(Obj::NULL);
        }
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
