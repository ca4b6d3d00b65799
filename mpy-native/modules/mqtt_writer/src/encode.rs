//! An event as `json.dumps` would write it, straight into the frame buffer.
//!
//! Tuples and lists (nested up to [`MAX_DEPTH`]) of str, int, float, bool and None are written
//! natively, allocating nothing; anything else (a dict, a big int, a str subclass, ...) is
//! handed to the runtime's own `json.dumps` and its text copied in, so the output is always
//! what `json.dumps(event)` gives.
use micropython_rt::{global, import, qstr, sys, Error, Obj, Result};
use mqtt_codec::json::{Full, Writer};

/// Deeper nesting goes through `json.dumps`.
const MAX_DEPTH: usize = 4;

/// Why encoding stopped.
pub enum Stop {
    /// The buffer is too small: grow it and encode again.
    Full,
    /// A Python error (e.g. from `json.dumps` on an unserialisable object).
    Py(Error),
}

impl From<Full> for Stop {
    fn from(_: Full) -> Stop {
        Stop::Full
    }
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Py(e)
    }
}

/// Whether our float formatting matches this runtime's `repr(float)`: 0 not checked yet,
/// 1 yes, 2 no (then floats go through `json.dumps`). `mqtt_codec::repr` models the unix x64
/// port (doubles, x87 `long double` scaling); a port that formats floats differently (single
/// precision, no `long double`) still gets exactly `json.dumps` output, only slower. Exported
/// because the linker reaches mutable statics through the GOT; zero-initialised, so in bss.
#[no_mangle]
pub static mut MQTT_WRITER_FLOAT_MODEL: u8 = 0;

/// Probe values: short and long digit strings, the "not shortest" cases, both ends of the
/// range, the plain/exponent boundaries.
const PROBES: [f64; 14] = [
    0.1,
    284.1312,
    35.90401,
    76377.46,
    84.472,
    1.0 / 3.0,
    1e16,
    1e15,
    1e-5,
    1e-4,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -123456789.123,
];

fn float_model_matches() -> Result<bool> {
    // The model is of the 64-bit unix port's doubles; 32-bit ports (the ESP8266 has single
    // precision floats) go through json.dumps, and the model is compiled out there (~10 KB).
    if cfg!(target_pointer_width = "32") {
        return Ok(false);
    }
    let repr = global(qstr!("repr"))?;
    for p in PROBES {
        let obj = Obj::float(p);
        let held = obj.to_float()?; // what the port stores (it may round p)
        let theirs = repr.call(&[obj])?;
        if theirs.buffer()? != mqtt_codec::repr::repr_f64(held).as_bytes() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The runtime objects the encoder compares against and calls; looked up once.
pub struct Encoder {
    float_ty: *const sys::mp_abi_type_t,
    int_ty: *const sys::mp_abi_type_t,
    tuple_ty: *const sys::mp_abi_type_t,
    list_ty: *const sys::mp_abi_type_t,
    len: Obj,
    dumps: Obj,
    /// Format floats ourselves (see [`MQTT_WRITER_FLOAT_MODEL`]).
    own_floats: bool,
}

fn type_of(name: Obj) -> *const sys::mp_abi_type_t {
    name.as_raw() as *const sys::mp_abi_type_t
}

fn own_floats() -> Result<bool> {
    // SAFETY: MicroPython runs native code on one thread (the GIL, where threads exist).
    unsafe {
        let state = &mut *core::ptr::addr_of_mut!(MQTT_WRITER_FLOAT_MODEL);
        if *state == 0 {
            *state = if float_model_matches()? { 1 } else { 2 };
        }
        Ok(*state == 1)
    }
}

impl Encoder {
    /// Look up the builtin types, `len` and `json.dumps`.
    pub fn new() -> Result<Encoder> {
        Ok(Encoder {
            float_ty: type_of(global(qstr!("float"))?),
            int_ty: type_of(global(qstr!("int"))?),
            tuple_ty: type_of(global(qstr!("tuple"))?),
            list_ty: type_of(global(qstr!("list"))?),
            len: global(qstr!("len"))?,
            dumps: import(qstr!("json"))?.attr(qstr!("dumps"))?,
            own_floats: own_floats()?,
        })
    }

    /// Are floats formatted by our model of the runtime's `repr` (not by `json.dumps`)?
    pub fn own_floats(&self) -> bool {
        self.own_floats
    }

    /// Write `x` as JSON.
    pub fn value(&self, w: &mut Writer<'_>, x: Obj, depth: usize) -> Result<(), Stop> {
        if x.is_none() {
            return Ok(w.null()?);
        }
        if x == Obj::bool(true) || x == Obj::bool(false) {
            return Ok(w.bool(x == Obj::bool(true))?);
        }
        if x.is_str() {
            // A str's buffer is its UTF-8 text (valid by construction).
            return Ok(w.string(x.buffer()?)?);
        }
        let ty = x.type_ptr();
        #[cfg(target_pointer_width = "64")]
        if ty == self.float_ty && self.own_floats {
            return Ok(w.float(x.to_float()?)?);
        }
        if ty == self.int_ty {
            // A small int is tagged with bit 0 on every object representation; a long int is a
            // heap object, which the conversion would truncate: the runtime prints those.
            if x.as_raw() as usize & 1 == 1 {
                return Ok(w.int(x.to_int()? as i64)?);
            }
        } else if (ty == self.tuple_ty || ty == self.list_ty) && depth < MAX_DEPTH {
            return self.sequence(w, x, depth);
        }
        let text = self.dumps.call(&[x])?;
        Ok(w.raw(text.buffer()?)?)
    }

    fn sequence(&self, w: &mut Writer<'_>, x: Obj, depth: usize) -> Result<(), Stop> {
        let n = self.len.call(&[x])?.to_int()? as usize;
        w.begin_list()?;
        if n == 3 {
            // The event shape (sensor_id, ts, value): one runtime call for all three.
            for (i, item) in x.unpack::<3>()?.into_iter().enumerate() {
                w.item_sep(i)?;
                self.value(w, item, depth + 1)?;
            }
        } else {
            for i in 0..n {
                w.item_sep(i)?;
                self.value(w, x.get_item(Obj::int(i as isize))?, depth + 1)?;
            }
        }
        Ok(w.end_list()?)
    }
}
