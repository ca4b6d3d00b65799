//! An event as `json.dumps` would write it.
//!
//! Every port: `encode_into` (lib.rs) prints with the runtime's own machinery
//! (`micropython_rt::Printer::into_buffer` with `PrintKind::Json`, the path `json.dumps` itself
//! takes) into the frame `bytearray`: the same bytes as `json.dumps(event)` for any object, by
//! construction, and nothing allocated.
//!
//! 64-bit ports add a fast path for the event shape `(str, int, float)`: written natively, the
//! float by `mqtt_codec::repr`, a model of the unix x64 port's `repr(float)` that is checked
//! against the runtime at first use (any difference: the runtime prints floats, as on every
//! other port). It is compiled out on 32-bit ports (the ESP8266), where code space matters more.
#[cfg(target_pointer_width = "64")]
pub use fast::{own_floats, write_event};

#[cfg(target_pointer_width = "64")]
mod fast {
    use micropython_rt::{Builtin, Obj, PrintKind, Printer, Result};
    use mqtt_codec::json::Writer;

    /// Whether our float formatting matches this runtime's `repr(float)`: 0 not checked yet,
    /// 1 yes, 2 no. Exported because the linker reaches mutable statics through the GOT;
    /// zero-initialised, so in bss.
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

    fn model_matches() -> Result<bool> {
        for p in PROBES {
            let obj = Obj::float(p);
            let held = obj.to_float()?; // what the port stores (it may round p)
            let mut buf = [0u8; 40];
            // SAFETY: our stack buffer, not referenced while printing.
            let mut pr = unsafe { Printer::new(buf.as_mut_ptr(), buf.len()) };
            pr.print(obj, PrintKind::Repr)?;
            if !pr.fits() || buf[..pr.len()] != *mqtt_codec::repr::repr_f64(held).as_bytes() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Are floats formatted by our model of the runtime's `repr` (checked once)?
    pub fn own_floats() -> Result<bool> {
        // SAFETY: MicroPython runs native code on one thread (the GIL, where threads exist).
        unsafe {
            let state = &mut *core::ptr::addr_of_mut!(MQTT_WRITER_FLOAT_MODEL);
            if *state == 0 {
                *state = if model_matches()? { 1 } else { 2 };
            }
            Ok(*state == 1)
        }
    }

    /// The event `(sensor_id, ts, value)` (a 3-tuple of str, small int, float) as JSON into
    /// `out`; `Ok(None)` for any other shape or if it does not fit (the runtime prints it).
    pub fn write_event(x: Obj, out: &mut [u8]) -> Result<Option<usize>> {
        if !x.is_type(Builtin::tuple) || !own_floats()? {
            return Ok(None);
        }
        let [id, ts, v] = match x.unpack::<3>() {
            Ok(items) => items,
            Err(_) => return Ok(None),
        };
        if !id.is_str() || !ts.is_small_int() || !v.is_type(Builtin::float) {
            return Ok(None);
        }
        let (ts, v) = (ts.to_int()?, v.to_float()?);
        let id = id.bytes_ref()?;
        let mut w = Writer::new(out);
        let mut write = || -> core::result::Result<usize, mqtt_codec::json::Full> {
            w.begin_list()?;
            w.string(id)?;
            w.item_sep(1)?;
            w.int(ts as i64)?;
            w.item_sep(2)?;
            w.float(v)?;
            w.end_list()?;
            Ok(w.len())
        };
        Ok(write().ok())
    }
}
