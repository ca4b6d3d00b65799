//! `features`: an example MicroPython native module in Rust, one of each thing
//! `micropython-rt` offers (the Rust counterpart of MicroPython's examples/natmod/features*).
//!
//! Build: `make` (gives `build/x64/features.mpy`); try: `import features` in `micropython`.
//! `test_features.py` next to this crate is the test the Makefile runs in the real runtime.
//!
//! Shows: functions of 0-3 and variable arguments; ints (small and big), floats, bool/None,
//! str/bytes/bytearray buffers, tuples and lists; calling methods of Python objects; importing
//! a module; raising ValueError/TypeError/OSError(errno); catching an exception raised by
//! Python code called from Rust and re-raising it with context; a panic becoming a
//! RuntimeError; a class with a constructor (positional and keyword args), methods, read-only
//! and writable attributes and a class constant.
#![no_std]

use micropython_rt::{
    errno, import, os_err, py_err, qstr, Args, Class, Error, ExcKind, Module, Obj, Qstr, Result,
};

micropython_rt::entry!(init);

fn init(m: &Module) -> Result<()> {
    m.fn0(qstr!("version"), || Ok(Obj::str(env!("CARGO_PKG_VERSION"))))?;
    m.fn1(qstr!("double"), |x| Ok(Obj::int(x.to_int()?.checked_mul(2).ok_or_else(|| py_err!(OverflowError, "too big"))?)))?;
    m.fn2(qstr!("add_floats"), |a, b| Ok(Obj::float(a.to_float()? + b.to_float()?)))?;
    m.fn3(qstr!("clamp"), clamp)?;
    m.fn_var(qstr!("sum_all"), 0, 16, |args| {
        let mut total = 0isize;
        for a in args {
            total += a.to_int()?;
        }
        Ok(Obj::int(total))
    })?;
    m.fn1(qstr!("negate"), |b| Ok(Obj::bool(!b.is_true()?)))?;
    m.fn1(qstr!("is_none"), |x| Ok(Obj::bool(x.is_none())))?;
    m.fn1(qstr!("checksum"), |buf| Ok(Obj::int(buf.buffer()?.iter().map(|b| *b as isize).sum())))?;
    m.fn2(qstr!("fill"), |buf, v| {
        let v = u8::try_from(v.to_int()?).map_err(|_| py_err!(ValueError, "fill value must be 0..255"))?;
        // SAFETY: the caller's buffer; no other Rust view of it is alive while we fill it.
        unsafe { buf.buffer_mut() }?.fill(v);
        Ok(Obj::none())
    })?;
    m.fn1(qstr!("greet"), |name| {
        let mut buf = [0u8; 64];
        let text = concat_into(&mut buf, &["hello, ", name.str_ref()?, "!"])?;
        Ok(Obj::str(text))
    })?;
    m.fn1(qstr!("to_bytes"), |s| Ok(Obj::bytes(s.str_ref()?.as_bytes())))?;
    m.fn2(qstr!("pair"), |a, b| Ok(Obj::tuple(&[a, b])))?;
    m.fn1(qstr!("range_list"), |n| {
        let n = n.to_int()?;
        let list = Obj::list(&[]);
        for i in 0..n {
            list.list_append(Obj::int(i))?;
        }
        Ok(list)
    })?;
    m.fn1(qstr!("unpack3"), |t| {
        let [a, b, c] = t.unpack::<3>()?;
        Ok(Obj::tuple(&[c, b, a]))
    })?;
    // Calling a method of a Python object: s.upper()
    m.fn1(qstr!("upper"), |s| s.call_method(qstr!("upper"), &[]))?;
    // Importing a module and using it: math.sqrt(x)
    m.fn1(qstr!("sqrt"), |x| import(qstr!("math"))?.attr(qstr!("sqrt"))?.call(&[x]))?;
    // Raising
    m.fn1(qstr!("raise_value_error"), |x| Err(py_err!(ValueError, "bad value {}", x.to_int()?)))?;
    m.fn1(qstr!("raise_os_error"), |e| Err(os_err!(e.to_int()? as i32, "device said no")))?;
    m.fn0(qstr!("raise_type_error"), || Err(py_err!(TypeError, "wrong type")))?;
    // Calling Python code that raises: catch it in Rust, then re-raise with context.
    m.fn1(qstr!("call_with_context"), |f| f.call(&[]).map_err(|e| e.context(format_args!("while calling back"))))?;
    // ... or handle it: returns ("ok", result) or ("caught", errno-or-None)
    m.fn1(qstr!("call_catching"), |f| match f.call(&[]) {
        Ok(v) => Ok(Obj::tuple(&[Obj::qstr(qstr!("ok")), v])),
        Err(e) => {
            let errno = e.errno().map(|n| Obj::int(n as isize)).unwrap_or_else(Obj::none);
            Ok(Obj::tuple(&[Obj::qstr(qstr!("caught")), errno]))
        }
    })?;
    m.fn1(qstr!("is_os_error"), |f| Ok(Obj::bool(matches!(f.call(&[]), Err(e) if e.is(ExcKind::OSError)))))?;
    m.fn1(qstr!("panic"), |x| {
        let v = [1, 2, 3];
        let i = x.to_int()? as usize;
        Ok(Obj::int(v[i])) // index out of bounds panics for i >= 3
    })?;
    m.set(qstr!("ENODEV"), Obj::int(errno::ENODEV as isize));

    m.class::<Counter>()
        .method(qstr!("incr"), 0, 0, |c: &mut Counter, _| {
            c.value += c.step;
            Ok(Obj::int(c.value))
        })
        .method(qstr!("add"), 1, 1, |c: &mut Counter, a| {
            c.value += a[0].to_int()?;
            Ok(Obj::int(c.value))
        })
        .method(qstr!("reset"), 0, 1, |c: &mut Counter, a| {
            c.value = match a.first() {
                Some(v) => v.to_int()?,
                None => 0,
            };
            Ok(Obj::none())
        })
        // Calls back into Python while the method runs: a callback that touches the same
        // counter gets RuntimeError (no second &mut Counter), other objects are fine.
        .method(qstr!("visit"), 1, 1, |c: &mut Counter, a| {
            c.value += 1;
            a[0].call(&[])
        })
        .constant(qstr!("MAX_STEP"), Obj::int(Counter::MAX_STEP))
        .register(m)?;
    Ok(())
}

fn clamp(x: Obj, lo: Obj, hi: Obj) -> Result<Obj> {
    let (x, lo, hi) = (x.to_float()?, lo.to_float()?, hi.to_float()?);
    if lo > hi {
        return Err(py_err!(ValueError, "clamp: lo ({}) > hi ({})", lo, hi));
    }
    Ok(Obj::float(x.max(lo).min(hi)))
}

fn concat_into<'a>(buf: &'a mut [u8], parts: &[&str]) -> Result<&'a str> {
    let mut n = 0;
    for p in parts {
        let end = n + p.len();
        if end > buf.len() {
            return Err(py_err!(ValueError, "name too long"));
        }
        buf[n..end].copy_from_slice(p.as_bytes());
        n = end;
    }
    core::str::from_utf8(&buf[..n]).map_err(|_| Error::new(ExcKind::ValueError, format_args!("utf-8")))
}

/// `Counter(start=0, step=1, label=None)`: a counter with a writable `value`, a read-only
/// `step` and an arbitrary Python object `label` kept alive by the instance.
struct Counter {
    value: isize,
    step: isize,
    label: Obj,
}

impl Counter {
    const MAX_STEP: isize = 1000;
}

impl Class for Counter {
    fn name() -> Qstr {
        qstr!("Counter")
    }
    fn make_new(args: &Args<'_>) -> Result<Self> {
        let names = [qstr!("start"), qstr!("step"), qstr!("label")];
        args.check("Counter", &names, 0)?;
        let value = args.get(0, names[0]).map(|o| o.to_int()).transpose()?.unwrap_or(0);
        let step = args.get(1, names[1]).map(|o| o.to_int()).transpose()?.unwrap_or(1);
        if step.abs() > Counter::MAX_STEP {
            return Err(py_err!(ValueError, "step {} out of range (max {})", step, Counter::MAX_STEP));
        }
        Ok(Counter { value, step, label: args.get(2, names[2]).unwrap_or_else(Obj::none) })
    }
    fn get_attr(&self, name: Qstr) -> Result<Option<Obj>> {
        Ok(if name == qstr!("value") {
            Some(Obj::int(self.value))
        } else if name == qstr!("step") {
            Some(Obj::int(self.step))
        } else if name == qstr!("label") {
            Some(self.label)
        } else {
            None
        })
    }
    fn set_attr(&mut self, name: Qstr, value: Obj) -> Result<bool> {
        if name == qstr!("value") {
            self.value = value.to_int()?;
            Ok(true)
        } else if name == qstr!("label") {
            self.label = value;
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
