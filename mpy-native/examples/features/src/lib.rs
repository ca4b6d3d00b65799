//! `features`: an example MicroPython native module in Rust, one of each thing
//! `micropython-rt` offers (the Rust counterpart of MicroPython's examples/natmod/features*).
//!
//! Build: `make` (gives `build/x64/features.mpy`); try: `import features` in `micropython`.
//! `test_features.py` next to this crate is the test the Makefile runs in the real runtime.
//!
//! Shows: functions with fixed and variable arguments; ints (small and big), floats (and float
//! maths done by the runtime: `binary_op`), bool/None, str/bytes/bytearray buffers (safe
//! immutable views, copies, an unsafe view), tuples, lists and dicts; calling functions and
//! methods of Python objects, with keywords; importing a module; builtins resolved at import;
//! raising ValueError/TypeError/OSError(errno) with messages formatted by the runtime; catching
//! an exception raised by Python code called from Rust and re-raising it with context; printing
//! objects into a buffer of ours (`str`, `repr`, JSON) and to the console; a panic becoming a
//! RuntimeError; a class with a constructor (positional and keyword args), methods, read-only
//! and writable attributes and a class constant; `protect` around a raw slot call.
#![no_std]

use micropython_rt::{
    builtin, errno, import, os_err, print, protect, py_err, qstr, static_qstr, sys, Args, BinOp, Builtin, Class,
    Error, ExcKind, Method, Module, Obj, PrintKind, Printer, Qstr, Result, StaticQstr,
};

micropython_rt::entry!(init);

fn init(m: &Module) -> Result<()> {
    m.func(qstr!("version"), 0, 0, |_| Ok(Obj::str(env!("CARGO_PKG_VERSION"))));
    m.func(qstr!("double"), 1, 1, |a| {
        // a.arg(0): no bounds check (min 1 guarantees the argument); a[0] works too
        Ok(Obj::int(a.arg(0).to_int()?.checked_mul(2).ok_or_else(|| py_err!(OverflowError, "too big"))?))
    });
    m.func(qstr!("add_floats"), 2, 2, |a| a[0].binary_op(BinOp::Add, a[1]));
    m.func(qstr!("ratio"), 2, 2, |a| {
        // Two ints divided by the runtime: a float with no float code in the module.
        Obj::int(a[0].to_int()?).binary_op(BinOp::TrueDivide, Obj::int(a[1].to_int()?))
    });
    m.func(qstr!("clamp"), 3, 3, clamp);
    m.func(qstr!("sum_all"), 0, 16, |a| {
        let mut total = 0isize;
        for x in a.iter() {
            total += x.to_int()?;
        }
        Ok(Obj::int(total))
    });
    m.func(qstr!("negate"), 1, 1, |a| Ok(Obj::bool(!a[0].is_true()?)));
    m.func(qstr!("is_none"), 1, 1, |a| Ok(Obj::bool(a[0].is_none())));
    // A safe view of an immutable buffer (bytes, str).
    m.func(qstr!("checksum"), 1, 1, |a| Ok(Obj::int(a[0].bytes_ref()?.iter().map(|b| *b as isize).sum())));
    // Any buffer (bytearray too), read through a copy.
    m.func(qstr!("first_byte"), 1, 1, |a| {
        let mut b = [0u8; 1];
        a[0].copy_to(0, &mut b)?;
        Ok(Obj::int(b[0] as isize))
    });
    m.func(qstr!("fill"), 2, 2, |a| {
        let v = u8::try_from(a[1].to_int()?).map_err(|_| py_err!(ValueError, "fill value must be 0..255"))?;
        // SAFETY: no runtime call while the slice is alive.
        unsafe { a[0].buffer_mut() }?.fill(v);
        Ok(Obj::none())
    });
    m.func(qstr!("greet"), 1, 1, |a| {
        let mut buf = [0u8; 64];
        let n = concat_into(&mut buf, &[b"hello, ", a[0].str_ref()?.as_bytes(), b"!"])?;
        // SAFETY: concatenated from UTF-8 strings.
        Ok(Obj::str(unsafe { core::str::from_utf8_unchecked(&buf[..n]) }))
    });
    m.func(qstr!("to_bytes"), 1, 1, |a| Ok(Obj::bytes(a[0].str_ref()?.as_bytes())));
    m.func(qstr!("pair"), 2, 2, |a| Ok(Obj::tuple(&[a[0], a[1]])));
    m.func(qstr!("range_list"), 1, 1, |a| {
        let n = a[0].to_int()?;
        let list = Obj::list(&[]);
        for i in 0..n {
            list.list_append(Obj::int(i))?;
        }
        Ok(list)
    });
    m.func(qstr!("mapping"), 2, 2, |a| {
        let d = Obj::dict();
        d.dict_store(a[0], a[1])?;
        Ok(d)
    });
    m.func(qstr!("unpack3"), 1, 1, |a| {
        let [x, y, z] = a[0].unpack::<3>()?;
        Ok(Obj::tuple(&[z, y, x]))
    });
    // Printing with the runtime's machinery into a buffer of ours: (str, repr, json) of x.
    m.func(qstr!("texts"), 1, 1, |a| {
        let mut out = [Obj::NULL; 3];
        for (i, kind) in [PrintKind::Str, PrintKind::Repr, PrintKind::Json].into_iter().enumerate() {
            let mut buf = [0u8; 96];
            // SAFETY: our stack buffer, not referenced while printing.
            let mut p = unsafe { Printer::new(buf.as_mut_ptr(), buf.len()) };
            p.print(a[0], kind)?;
            if !p.fits() {
                return Err(py_err!(ValueError, "text longer than %d bytes", buf.len()));
            }
            let n = p.len();
            out[i] = Obj::str(core::str::from_utf8(&buf[..n]).map_err(|_| py_err!(ValueError, "not UTF-8"))?);
        }
        Ok(Obj::tuple(&out))
    });
    // Printing into a buffer object Python can reach (a bytearray), from byte `at`: safe, its
    // memory is looked up at every append (a `__repr__` may resize it meanwhile).
    // Returns (length printed, whether it fit).
    m.func(qstr!("print_into"), 3, 3, |a| {
        let mut p = Printer::into_buffer(a[0], a[1].to_int()? as usize);
        p.print(a[2], PrintKind::Json)?;
        Ok(Obj::tuple(&[Obj::int(p.len() as isize), Obj::bool(p.fits())]))
    });
    m.func(qstr!("say"), 1, 1, |a| {
        print("features says %s", &[a[0]])?;
        Ok(Obj::none())
    });
    // Calling a method of a Python object: s.upper()
    m.func(qstr!("upper"), 1, 1, |a| a[0].call_method(qstr!("upper"), &[]));
    // Calling with keywords: f(x, key=value)
    m.func(qstr!("call_kw"), 3, 3, |a| a[0].call_kw(&[a[1]], &[(qstr!("key"), a[2])]));
    // Importing a module and using it: math.sqrt(x)
    m.func(qstr!("sqrt"), 1, 1, |a| import(qstr!("math"))?.attr(qstr!("sqrt"))?.call(&[a[0]]));
    // Builtins resolved at import: a user's global `int` cannot change this.
    m.func(qstr!("int_type"), 0, 0, |_| Ok(builtin(Builtin::int)));
    // Raising
    m.func(qstr!("raise_value_error"), 1, 1, |a| Err(py_err!(ValueError, "bad value %d", a[0].to_int()?)));
    m.func(qstr!("raise_os_error"), 1, 1, |a| Err(os_err!(a[0].to_int()? as i32, "device said no")));
    m.func(qstr!("raise_type_error"), 0, 0, |_| Err(py_err!(TypeError, "wrong type")));
    // Calling Python code that raises: catch it in Rust, then re-raise with context.
    m.func(qstr!("call_with_context"), 1, 1, |a| a[0].call(&[]).map_err(|e| e.context("while calling back", &[])));
    // ... or handle it: returns ("ok", result) or ("caught", errno-or-None)
    m.func(qstr!("call_catching"), 1, 1, |a| match a[0].call(&[]) {
        Ok(v) => Ok(Obj::tuple(&[Obj::qstr(qstr!("ok")), v])),
        Err(e) => {
            let errno = e.errno().map(|n| Obj::int(n as isize)).unwrap_or_else(Obj::none);
            Ok(Obj::tuple(&[Obj::qstr(qstr!("caught")), errno]))
        }
    });
    m.func(qstr!("is_os_error"), 1, 1, |a| Ok(Obj::bool(matches!(a[0].call(&[]), Err(e) if e.is(ExcKind::OSError)))));
    m.func(qstr!("panic"), 1, 1, |a| {
        let v = [1, 2, 3];
        let i = a[0].to_int()? as usize;
        Ok(Obj::int(v[i])) // index out of bounds panics for i >= 3
    });
    // A raw slot call under `protect`: get_stream_raise on an object that has no stream
    // protocol raises OSError, which comes back as Err.
    m.func(qstr!("has_stream"), 1, 1, |a| {
        let o = a[0].as_raw();
        // SAFETY: the closure only calls one runtime function on a copied word.
        let r = unsafe { protect(|| sys::mp_fun_table.get_stream_raise.unwrap()(o, sys::MP_ABI_STREAM_OP_WRITE as _)) };
        Ok(Obj::bool(r.is_ok()))
    });
    m.set(qstr!("ENODEV"), Obj::int(errno::ENODEV as isize));
    // Constants from a static table (a word of rodata per entry, no code per entry).
    m.consts(&CONSTS);
    m.func(qstr!("big"), 0, 0, |_| Ok(Obj::uint(usize::MAX)));
    // Items and attributes of Python objects.
    m.func(qstr!("swap_items"), 3, 3, |a| {
        let (x, y) = (a[0].get_item(a[1])?, a[0].get_item(a[2])?);
        a[0].set_item(a[1], y)?;
        a[0].set_item(a[2], x)?;
        Ok(a[0])
    });
    m.func(qstr!("set_tag"), 2, 2, |a| {
        a[0].set_attr(qstr!("tag"), a[1])?;
        Ok(Obj::bool(a[0].has_method(qstr!("tag"))))
    });
    // A native stream: write bytes to an object that has one (a file, sys.stdout).
    m.func(qstr!("stream_write"), 2, 2, |a| {
        let Some(s) = a[0].stream() else { return Err(py_err!(TypeError, "no native stream")) };
        let data = a[1].bytes_ref()?;
        // SAFETY: `data` is an immutable bytes object, alive for the call.
        match unsafe { s.write(data.as_ptr(), data.len()) }? {
            Ok(n) => Ok(Obj::int(n as isize)),
            Err(e) => Err(os_err!(e, "stream write failed")),
        }
    });
    // ... and read from it, and its ioctl (1 = flush): (bytes read, flush result)
    m.func(qstr!("stream_read"), 2, 2, |a| {
        let Some(s) = a[0].stream() else { return Err(py_err!(TypeError, "no native stream")) };
        let mut buf = [0u8; 16];
        let n = (a[1].to_int()? as usize).min(buf.len());
        // SAFETY: our stack buffer, not referenced during the call.
        let got = match unsafe { s.read(buf.as_mut_ptr(), n) }? {
            Ok(k) => k,
            Err(e) => return Err(os_err!(e, "stream read failed")),
        };
        let flushed = match s.ioctl(1, 0)? {
            Ok(r) => Obj::int(r as isize),
            Err(e) => Obj::int(-(e as isize)),
        };
        Ok(Obj::tuple(&[Obj::bytes(&buf[..got]), flushed]))
    });
    // The unsafe read view of any buffer: no runtime call while it is alive.
    m.func(qstr!("sum_buffer"), 1, 1, |a| {
        // SAFETY: no runtime call until the sum is computed.
        let total: isize = unsafe { a[0].buffer() }?.iter().map(|b| *b as isize).sum();
        Ok(Obj::int(total))
    });
    // The text of an exception (str(e)), and an error made from an exception object.
    m.func(qstr!("error_text"), 1, 1, |a| match a[0].call(&[]) {
        Ok(_) => Ok(Obj::none()),
        Err(e) => Ok(Obj::tuple(&[e.text(), Obj::bool(Error::from_exception(e.exception()) == e)])),
    });
    // A Printer fed from Rust and by the runtime: "<prefix>repr(x)".
    m.func(qstr!("labelled"), 1, 1, |a| {
        let mut buf = [0u8; 64];
        // SAFETY: our stack buffer, not referenced while printing.
        let mut p = unsafe { Printer::new(buf.as_mut_ptr(), buf.len()) };
        p.write(b"value=");
        p.print(a[0], PrintKind::Repr)?;
        let n = p.len().min(buf.len());
        Ok(Obj::str(core::str::from_utf8(&buf[..n]).unwrap_or("?")))
    });

    m.class::<Counter>()
        .methods(&COUNTER_METHODS)
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
        .register(m);
    Ok(())
}

static CONSTS: [(StaticQstr, i32); 2] = [(static_qstr!("ANSWER"), 42), (static_qstr!("MINUS_ONE"), -1)];

/// Methods from a static table: name, argument range, function.
static COUNTER_METHODS: [Method<Counter>; 2] = [
    Method {
        name: static_qstr!("incr"),
        min: 0,
        max: 0,
        f: |c, _| {
            c.value += c.step;
            Ok(Obj::int(c.value))
        },
    },
    Method { name: static_qstr!("get"), min: 0, max: 0, f: |c, _| Ok(Obj::int(c.value)) },
];

fn clamp(a: &Args<'_>) -> Result<Obj> {
    let (x, lo, hi) = (a[0].to_float()?, a[1].to_float()?, a[2].to_float()?);
    if lo > hi {
        return Err(py_err!(ValueError, "clamp: lo (%r) > hi (%r)", a[1], a[2]));
    }
    Ok(Obj::float(x.max(lo).min(hi)))
}

fn concat_into(buf: &mut [u8], parts: &[&[u8]]) -> Result<usize> {
    let mut n = 0;
    for p in parts {
        let end = n + p.len();
        if end > buf.len() {
            return Err(Error::new(ExcKind::ValueError, "name too long"));
        }
        buf[n..end].copy_from_slice(p);
        n = end;
    }
    Ok(n)
}

/// `Counter(start=0, step=1, label=None)`: a counter with a writable `value`, a read-only
/// `step` and an arbitrary Python object `label` kept alive by the instance.
struct Counter {
    value: isize,
    step: isize,
    label: Obj,
}

/// `Counter(start=0, step=1, label=None)`: the parameter names as a static table.
static COUNTER_PARAMS: [StaticQstr; 3] = [static_qstr!("start"), static_qstr!("step"), static_qstr!("label")];

impl Counter {
    const MAX_STEP: isize = 1000;
}

impl Class for Counter {
    fn name() -> Qstr {
        qstr!("Counter")
    }
    fn make_new(args: &Args<'_>) -> Result<Self> {
        let mut c = core::mem::MaybeUninit::uninit();
        Self::make_new_in(&mut c, args)?;
        // SAFETY: make_new_in returned Ok, so it wrote the value.
        Ok(unsafe { c.assume_init() })
    }
    /// The constructor the runtime calls: the value written straight into the instance's
    /// memory (no copy of a large value on small targets).
    fn make_new_in(this: &mut core::mem::MaybeUninit<Self>, args: &Args<'_>) -> Result<()> {
        // check + get, as in the tutorial's signature
        args.check("Counter", &COUNTER_PARAMS, 0)?;
        let value = args.get(0, COUNTER_PARAMS[0].get()).map(|o| o.to_int()).transpose()?.unwrap_or(0);
        // or all at once: NULL where not given
        let mut p = [Obj::NULL; 3];
        args.parse("Counter", &COUNTER_PARAMS, 0, &mut p)?;
        let step = if p[1].is_null() { 1 } else { p[1].to_int()? };
        if step.abs() > Counter::MAX_STEP {
            return Err(py_err!(ValueError, "step %d out of range (max %d)", step, Counter::MAX_STEP));
        }
        this.write(Counter { value, step, label: args.get(2, COUNTER_PARAMS[2].get()).unwrap_or_else(Obj::none) });
        Ok(())
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
