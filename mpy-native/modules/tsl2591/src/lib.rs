//! `tsl2591`: the TSL2591 lux sensor as a MicroPython native module, a drop-in for the
//! tutorial's Python module (and for our pure-Python fallback `mpy-scripts/fallback/tsl2591.py`,
//! whose API, bus traffic and messages it mirrors).
//!
//! ```python
//! from tsl2591 import Tsl2591
//! tsl = Tsl2591('lux-1')            # machine.I2C(scl=Pin(5), sda=Pin(4)), address 0x29
//! tsl.sample()                      # lux, float
//! ```
//!
//! The bus is any object with `machine.I2C`'s `writeto(addr, buf)` and
//! `readfrom_mem_into(addr, reg, buf)` (the board's bus or the simulator). The register map,
//! timing and lux maths are those of the `tsl2591-driver` crate (its constants and
//! `lux_fraction`); the bus protocol is written out here, so the module stays small enough for
//! the ESP8266 (issue 9) and a sample allocates nothing there: the bus's two methods are bound
//! once at construction (no method lookup per transfer), the ENABLE writes send two `bytes`
//! made then (immutable: no copy, nothing the bus can change), the 5-byte read goes into a
//! `bytearray` kept by the instance, and the address is kept as its int object. (A CONTROL
//! write, by the constructor, `set_timing` or `set_gain`, sends a new 2-byte `bytes`.)
//!
//! Lux: the formula as one fraction of two integers (`tsl2591_driver::lux_fraction_codes`), divided
//! by the runtime (`int / int`): no float code in the module, and the result is within one
//! unit in the last place of the port's float of the exact formula (half a unit on x64, where
//! doubles hold both integers exactly; on the ESP8266 the 24-bit float rounds the numerator,
//! the division rounds once more and the 30-bit object drops two bits: under one 30-bit unit).
//! The pure-Python fallback computes it step by step (`full - 1.64 * ir`, ...) and differs from
//! the exact value in the last digits, most where its two terms nearly cancel.
#![no_std]

use micropython_rt::{
    errno, import, os_err, py_err, qstr, static_qstr, Args, BinOp, Class, Error, ExcKind, Method, Module, Obj, Qstr, Result,
    StaticQstr,
};
use tsl2591_driver::{
    lux_fraction_codes, BitFlags, Register, AVALID_POLLS, AVALID_POLL_MS, DEFAULT_ADDRESS, DEVICE_ID,
    ENABLE_OFF, ENABLE_ON,
};

micropython_rt::entry!(init);

const FULLSPECTRUM: isize = 0;
const INFRARED: isize = 1;
const VISIBLE: isize = 2;

fn init(m: &Module) -> Result<()> {
    for (_i, (name, word)) in CONSTS.iter().enumerate() {
        // SAFETY: `word` is an int's or (on the ESP8266) a float's object word, made by
        // `int`/`float` below for this port.
        #[cfg(target_arch = "xtensa")]
        let value = unsafe { Obj::from_raw(*word as _) };
        // Elsewhere the floats (after the ints) are boxed here.
        #[cfg(not(target_arch = "xtensa"))]
        let value = if _i < N_INTS { unsafe { Obj::from_raw(*word as _) } } else { Obj::float(f64::from_bits(*word as u64)) };
        m.set(name.get(), value);
    }
    m.class::<Tsl2591>().methods(&METHODS).register(m);
    Ok(())
}

/// The module's constants: the ints, then the floats (see `int` and `float`).
const N_INTS: usize = 15;
static CONSTS: [(StaticQstr, usize); N_INTS + 4] = [
    (static_qstr!("INTEGRATIONTIME_100MS"), int(0)),
    (static_qstr!("INTEGRATIONTIME_200MS"), int(1)),
    (static_qstr!("INTEGRATIONTIME_300MS"), int(2)),
    (static_qstr!("INTEGRATIONTIME_400MS"), int(3)),
    (static_qstr!("INTEGRATIONTIME_500MS"), int(4)),
    (static_qstr!("INTEGRATIONTIME_600MS"), int(5)),
    (static_qstr!("GAIN_LOW"), int(0x00)),
    (static_qstr!("GAIN_MED"), int(0x10)),
    (static_qstr!("GAIN_HIGH"), int(0x20)),
    (static_qstr!("GAIN_MAX"), int(0x30)),
    (static_qstr!("FULLSPECTRUM"), int(FULLSPECTRUM)),
    (static_qstr!("INFRARED"), int(INFRARED)),
    (static_qstr!("VISIBLE"), int(VISIBLE)),
    (static_qstr!("SENSOR_ADDRESS"), int(DEFAULT_ADDRESS as isize)),
    (static_qstr!("ADDR"), int(DEFAULT_ADDRESS as isize)),
    (static_qstr!("LUX_DF"), float(tsl2591_driver::LUX_DF)),
    (static_qstr!("LUX_COEFB"), float(tsl2591_driver::LUX_COEFB)),
    (static_qstr!("LUX_COEFC"), float(tsl2591_driver::LUX_COEFC)),
    (static_qstr!("LUX_COEFD"), float(tsl2591_driver::LUX_COEFD)),
];

/// A small int: `i` must fit the port's small ints (31 bits on the ESP8266), as every value
/// this module makes this way does (register commands, the address, settings, channel counts
/// and their difference, waits in ms, pin numbers, lux's fraction: |n| < 2**30, see
/// `lux_fraction`). No runtime call. (Out of range it would wrap, never make an invalid
/// object: every word with the low bit set is a small int.)
fn small_int(i: isize) -> Obj {
    // SAFETY: `int` sets the low bit: a small int of this port.
    unsafe { Obj::from_raw(int(i) as _) }
}

/// A small int's object word, `(i << 1) | 1` on every port with native code (the table of
/// ../shared/reference/natmod-abi.md; these are far inside the ESP8266's 31 bits).
const fn int(i: isize) -> usize {
    (i << 1 | 1) as usize
}

/// On the ESP8266 (the only xtensa port: `MICROPY_OBJ_REPR_C`, single-precision floats, see
/// mpy-native/esp8266-sim/port/mpconfigport.h) a float is an immediate word: the float32
/// rounded from the double (as `obj_new_float_from_d` does), `((bits & ~3) | 2) + 0x80800000`
/// (MicroPython's `mp_obj_new_float`); no float code runs at import. Elsewhere the double's
/// bits, boxed at import by `Obj::float`.
const fn float(f: f64) -> usize {
    #[cfg(target_arch = "xtensa")]
    return ((((f as f32).to_bits() & !3) | 2).wrapping_add(0x8080_0000)) as usize;
    #[cfg(not(target_arch = "xtensa"))]
    return f.to_bits() as usize;
}

static METHODS: [Method<Tsl2591>; 8] = [
    Method {
        name: static_qstr!("sample"),
        min: 0,
        max: 0,
        f: |s, _| {
            let (full, ir) = channels(s.measure()?);
            s.lux(full, ir)
        },
    },
    Method {
        name: static_qstr!("get_full_luminosity"),
        min: 0,
        max: 0,
        f: |s, _| {
            let (full, ir) = channels(s.measure()?);
            Ok(Obj::tuple(&[small_int(full as isize), small_int(ir as isize)]))
        },
    },
    Method {
        name: static_qstr!("get_luminosity"),
        min: 1,
        max: 1,
        f: |s, a| {
            let channel = a.arg(0).to_int()?;
            let (full, ir) = channels(s.measure()?);
            let (full, ir) = (full as isize, ir as isize);
            Ok(small_int(match channel {
                FULLSPECTRUM => full,
                INFRARED => ir,
                VISIBLE => full - ir,
                _ => 0,
            }))
        },
    },
    Method { name: static_qstr!("calculate_lux"), min: 2, max: 2, f: |s, a| s.lux(setting(a.arg(0), COUNT)?, setting(a.arg(1), COUNT)?) },
    Method { name: static_qstr!("set_timing"), min: 1, max: 1, f: |s, a| s.set_control(setting(a.arg(0), INTEGRATION)?, s.gain) },
    Method { name: static_qstr!("set_gain"), min: 1, max: 1, f: |s, a| s.set_control(s.integration, setting(a.arg(0), GAIN)?) },
    Method { name: static_qstr!("enable"), min: 0, max: 0, f: |s, _| s.power(s.on, "enable") },
    Method { name: static_qstr!("disable"), min: 0, max: 0, f: |s, _| s.power(s.off, "disable") },
];

/// The constructor's parameters, in order.
static PARAMS: [StaticQstr; 6] = [
    static_qstr!("sensor_id"),
    static_qstr!("integration"),
    static_qstr!("gain"),
    static_qstr!("i2c"),
    static_qstr!("addr"),
    static_qstr!("sleep_ms"),
];

/// The data attributes, in the order of the struct's first fields (see `get_attr`).
static ATTRS: [StaticQstr; 5] = [
    static_qstr!("sensor_id"),
    static_qstr!("i2c"),
    static_qstr!("addr"),
    static_qstr!("integration_time"),
    static_qstr!("gain"),
];

/// A TSL2591 on an I2C bus; Python: `Tsl2591(sensor_id, integration=INTEGRATIONTIME_100MS,
/// gain=GAIN_LOW, i2c=None, addr=0x29, sleep_ms=None)`.
#[repr(C)]
struct Tsl2591 {
    // The attributes, in `ATTRS` order: three objects, then two ints (read by `get_attr` as
    // words 0..5 of the struct).
    sensor_id: Obj,
    bus: Obj,
    /// The 7-bit address as an int object, as every bus call and message passes it.
    addr: Obj,
    /// Integration code 0..5 and gain code 0x00/0x10/0x20/0x30.
    integration: usize,
    gain: usize,
    /// `bus.writeto` and `bus.readfrom_mem_into`, bound once: no method lookup per transfer.
    writeto: Obj,
    read_into: Obj,
    /// `sleep_ms(ms)` for the integration wait, or NULL (the simulator's `no_wait`).
    sleep: Obj,
    /// The two ENABLE writes, `bytes([COMMAND | ENABLE, ENABLE_ON])` and `.. ENABLE_OFF`:
    /// immutable, so nothing the bus does with them can change what we send.
    on: Obj,
    off: Obj,
    /// 5 bytes: STATUS and both channels.
    rbuf: Obj,
}

// `get_attr` reads the attributes as the struct's first five words, and `make_new_in` writes
// all eleven words one by one: both checked here against the layout.
const _: () = {
    let w = core::mem::size_of::<usize>();
    assert!(core::mem::size_of::<Tsl2591>() == 11 * w);
    assert!(core::mem::offset_of!(Tsl2591, addr) == 2 * w && core::mem::offset_of!(Tsl2591, gain) == 4 * w);
};

/// A failed bus call: the exception, and whether it is ours (a misbehaving bus object, whose
/// message says what happened) rather than the bus's own (described by its errno).
struct Fail(Error, bool);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail(e, false)
    }
}

/// What [`setting`] reads.
const INTEGRATION: usize = 0;
const GAIN: usize = 1;
const COUNT: usize = 2;

/// An integration code (0..5), a gain code (0x00/0x10/0x20/0x30) or a channel count (0..65535)
/// from `o` (`kind`: `INTEGRATION`, `GAIN`, `COUNT`); `ValueError` otherwise.
#[inline(never)]
fn setting(o: Obj, kind: usize) -> Result<usize> {
    const MAX: [usize; 3] = [5, 0x30, 0xFFFF];
    const FMT: [&str; 3] = [
        "integration must be INTEGRATIONTIME_100MS..600MS (0..5), got %r",
        "gain must be GAIN_LOW/MED/HIGH/MAX (0x00/0x10/0x20/0x30), got %r",
        "channel count must be 0..65535",
    ];
    let v = o.to_int()? as usize;
    if v <= MAX[kind % 3] && (kind != GAIN || v & 0x0F == 0) {
        return Ok(v);
    }
    let args: &[Obj] = if kind == COUNT { &[] } else { core::slice::from_ref(&o) };
    Err(Error::format(ExcKind::ValueError, FMT[kind % 3], args))
}

/// `machine.I2C(scl=Pin(5), sda=Pin(4))`: the bus the tutorial wires (D1/D2 on NodeMCU/Wemos).
#[inline(never)]
fn default_i2c() -> Result<Obj> {
    let machine = import(qstr!("machine"))?;
    let Ok(i2c) = machine.attr(qstr!("I2C")) else {
        return Err(os_err!(
            errno::ENODEV,
            "TSL2591: this port has no machine.I2C; pass i2c= (e.g. sim_tsl2591.SimTsl2591())"
        ));
    };
    let pin = machine.attr(qstr!("Pin"))?;
    let scl = pin.call(&[small_int(5)])?;
    let sda = pin.call(&[small_int(4)])?;
    i2c.call_kw(&[], &[(qstr!("scl"), scl), (qstr!("sda"), sda)])
}

/// Words for the errnos an I2C bus raises, as the fallback module prints them; or the text of
/// our own error.
fn detail(f: &Fail, errno: i32) -> Obj {
    if f.1 {
        return f.0.text();
    }
    Obj::str(match errno {
        errno::EIO => "bus error (EIO)",
        errno::ENODEV => "no acknowledge (ENODEV)",
        errno::ETIMEDOUT => "bus timeout (ETIMEDOUT)",
        _ => "bus error",
    })
}

/// Bytes aligned as a word.
#[repr(align(4))]
struct Word([u8; 8]);

/// `(full, ir)` from [`Tsl2591::measure`]'s word.
fn channels(v: u32) -> (usize, usize) {
    ((v & 0xFFFF) as usize, (v >> 16) as usize)
}

/// `(integration code + 1) * 100 ms`, plus 10 %.
fn wait_ms(integration: usize) -> usize {
    (integration + 1) * 110
}

impl Tsl2591 {
    /// `writeto(addr, data)`.
    fn write(&self, data: Obj) -> core::result::Result<(), Fail> {
        self.writeto.call(&[self.addr, data])?;
        Ok(())
    }

    /// `writeto(addr, bytes([COMMAND | CONTROL, integration | gain]))` (a new `bytes`: not on
    /// the sampling path).
    #[inline(never)]
    fn write_control(&self, integration: usize, gain: usize) -> core::result::Result<(), Fail> {
        self.write(Obj::bytes(&[BitFlags::COMMAND | Register::CONTROL, (integration | gain) as u8]))
    }

    /// `readfrom_mem_into(addr, COMMAND | reg, buf)`, then `buf` copied into `out`.
    fn read(&self, reg: u8, buf: Obj, out: &mut [u8]) -> core::result::Result<(), Fail> {
        self.read_into.call(&[self.addr, small_int((BitFlags::COMMAND | reg) as isize), buf])?;
        // A bus object that resized our buffer is a bus error, not a panic.
        let (p, got) = buf.buffer_raw(false)?;
        if got != out.len() {
            let e = os_err!(errno::EIO, "I2C bus object returned %d bytes, expected %d", got, out.len());
            return Err(Fail(e, true));
        }
        // SAFETY: `got` bytes at `p` (checked), no runtime call in between.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), got) };
        Ok(())
    }

    /// A Python error naming the sensor and what failed: `OSError(errno, "TSL2591 at 0x29: read
    /// failed: bus error (EIO)")`.
    #[inline(never)]
    fn fail(&self, f: Fail, what: &'static str) -> Error {
        self.bus_error(f, "TSL2591 at 0x%02x: %s failed: %s", what)
    }

    /// `OSError(errno, fmt % (addr, what, detail))` for a failed bus call (errno EIO if the
    /// exception has none).
    #[inline(never)]
    fn bus_error(&self, f: Fail, fmt: &'static str, what: &'static str) -> Error {
        let n = f.0.errno().unwrap_or(errno::EIO);
        Error::os(n, fmt, &[self.addr, Obj::str(what), detail(&f, n)])
    }

    fn sleep_ms(&self, ms: usize) -> Result<()> {
        if !self.sleep.is_null() {
            self.sleep.call(&[small_int(ms as isize)])?;
        }
        Ok(())
    }

    /// Write ENABLE (`data` is `self.on` or `self.off`).
    fn power(&self, data: Obj, what: &'static str) -> Result<Obj> {
        self.write(data).map_err(|f| self.fail(f, what))?;
        Ok(Obj::none())
    }

    /// One measurement: enable, wait the integration time (then poll STATUS.AVALID every 5 ms,
    /// 20 times at most), read STATUS and both channels in one 5-byte read, disable (also after
    /// a failed read, reporting the read's error). Returns `full | ir << 16` (one word: see
    /// [`channels`]).
    fn measure(&mut self) -> Result<u32> {
        self.power(self.on, "enable")?;
        // STATUS lands in b.0[3], the channels in the aligned word b.0[4..8] (one load).
        let mut b = Word([0u8; 8]);
        let mut r = Ok(());
        self.sleep_ms(wait_ms(self.integration))?;
        let mut polls = AVALID_POLLS;
        loop {
            if let Err(f) = self.read(Register::STATUS, self.rbuf, &mut b.0[3..]) {
                r = Err(self.fail(f, "read"));
                break;
            }
            if b.0[3] & BitFlags::AVALID != 0 {
                break;
            }
            if polls == 0 {
                let ms = wait_ms(self.integration) + AVALID_POLLS as usize * AVALID_POLL_MS as usize;
                r = Err(os_err!(errno::ETIMEDOUT, "TSL2591 at 0x%02x: no valid reading %d ms after enable", self.addr, ms));
                break;
            }
            polls -= 1;
            if let Err(e) = self.sleep_ms(AVALID_POLL_MS as usize) {
                r = Err(e);
                break;
            }
        }
        let off = self.power(self.off, "disable");
        r?;
        off?;
        Ok(u32::from_le_bytes([b.0[4], b.0[5], b.0[6], b.0[7]]))
    }

    /// Lux for the current settings, divided by the runtime (see the crate docs); a saturated
    /// channel reads as 0.0 (the tutorial returned 0).
    fn lux(&self, full: usize, ir: usize) -> Result<Obj> {
        // Saturated: 0 / 1, the float 0.0 made by the same division.
        let (n, d) = lux_fraction_codes(self.integration as u8, self.gain as u8, full as u16, ir as u16).unwrap_or((0, 1));
        small_int(n as isize).binary_op(BinOp::TrueDivide, small_int(d as isize))
    }

    /// Check the chip ID now (a missing sensor fails here, with context, not at the first
    /// sample), then write CONTROL and power down until the first measurement. `idbuf`: a
    /// 1-byte bytearray.
    #[inline(never)]
    fn init_chip(&self, idbuf: Obj) -> Result<()> {
        let mut id = [0u8; 1];
        let found = |s: &Self, id: u8| -> core::result::Result<(), Fail> {
            if id == DEVICE_ID {
                s.write_control(s.integration, s.gain)?;
                s.write(s.off)?;
            }
            Ok(())
        };
        if let Err(f) = self.read(Register::ID, idbuf, &mut id).and_then(|_| found(self, id[0])) {
            return Err(self.bus_error(f, "TSL2591 not found at 0x%02x%s: %s", ""));
        }
        if id[0] != DEVICE_ID {
            return Err(os_err!(
                errno::ENODEV,
                "TSL2591 not found at 0x%02x: device ID 0x%02x, expected 0x%02x",
                self.addr,
                id[0],
                DEVICE_ID
            ));
        }
        Ok(())
    }

    /// Write CONTROL; the settings change only if the write succeeded.
    fn set_control(&mut self, integration: usize, gain: usize) -> Result<Obj> {
        self.write_control(integration, gain).map_err(|f| self.fail(f, "CONTROL write"))?;
        self.integration = integration;
        self.gain = gain;
        Ok(Obj::none())
    }
}

impl Class for Tsl2591 {
    fn name() -> Qstr {
        qstr!("Tsl2591")
    }

    fn make_new(args: &Args<'_>) -> Result<Self> {
        let mut s = core::mem::MaybeUninit::uninit();
        Self::make_new_in(&mut s, args)?;
        // SAFETY: make_new_in returned Ok, so it wrote the value.
        Ok(unsafe { s.assume_init() })
    }

    /// Built in place (the instance's memory: each field written as soon as it is known, no
    /// copy of the whole value), then the chip checked.
    fn make_new_in(this: &mut core::mem::MaybeUninit<Self>, args: &Args<'_>) -> Result<()> {
        let p = this.as_mut_ptr();
        /// `field = value` in the value being built (plain words: nothing is read or dropped).
        macro_rules! set {
            ($field:ident, $value:expr) => {{
                let v = $value;
                // SAFETY: `p` is valid for writes (the instance's memory); the field is a word.
                unsafe { core::ptr::addr_of_mut!((*p).$field).write(v) };
                v
            }};
        }
        let mut a = [Obj::NULL; 6];
        args.parse("Tsl2591", &PARAMS, 1, &mut a)?;
        let given = |o: Obj| !o.is_null() && !o.is_none();
        set!(sensor_id, a[0]);
        set!(integration, if a[1].is_null() { 0 } else { setting(a[1], INTEGRATION)? });
        set!(gain, if a[2].is_null() { 0 } else { setting(a[2], GAIN)? });
        let bus = set!(bus, if given(a[3]) { a[3] } else { default_i2c()? });
        set!(
            addr,
            small_int(if a[4].is_null() {
                DEFAULT_ADDRESS as isize
            } else {
                match a[4].to_int()? {
                    x @ 0..=0x7F => x,
                    _ => return Err(py_err!(ValueError, "addr must be a 7-bit I2C address 0..127, got %r", a[4])),
                }
            })
        );
        // sleep_ms=None: time.sleep_ms, unless the bus says no_wait (the simulator).
        set!(
            sleep,
            if given(a[5]) {
                a[5]
            } else {
                match bus.attr(qstr!("no_wait")) {
                    Ok(v) if v.is_true()? => Obj::NULL,
                    _ => import(qstr!("time"))?.attr(qstr!("sleep_ms"))?,
                }
            }
        );
        set!(writeto, bus.attr(qstr!("writeto"))?);
        set!(read_into, bus.attr(qstr!("readfrom_mem_into"))?);
        set!(on, Obj::bytes(&[BitFlags::COMMAND | Register::ENABLE, ENABLE_ON]));
        set!(off, Obj::bytes(&[BitFlags::COMMAND | Register::ENABLE, ENABLE_OFF]));
        set!(rbuf, Obj::bytearray(5)?);
        // SAFETY: every field is written above (all eleven words: see the layout check).
        unsafe { this.assume_init_ref() }.init_chip(Obj::bytearray(1)?)
    }

    fn get_attr(&self, name: Qstr) -> Result<Option<Obj>> {
        let Some(i) = ATTRS.iter().position(|q| q.get() == name) else { return Ok(None) };
        // SAFETY: `Tsl2591` is repr(C) and starts with the five attribute words, in ATTRS
        // order: three objects, then two ints.
        let w = unsafe { (self as *const Self as *const usize).add(i).read() };
        Ok(Some(if i < 3 { unsafe { Obj::from_raw(w as _) } } else { small_int(w as isize) }))
    }

    fn set_attr(&mut self, name: Qstr, value: Obj) -> Result<bool> {
        if name == qstr!("sensor_id") {
            self.sensor_id = value;
            return Ok(true);
        }
        Ok(false)
    }
}
