//! `tsl2591`: the TSL2591 lux sensor as a MicroPython native module, a drop-in for the
//! tutorial's Python module (and for our pure-Python fallback `mpy-scripts/fallback/tsl2591.py`,
//! whose API and messages it mirrors).
//!
//! ```python
//! from tsl2591 import Tsl2591
//! tsl = Tsl2591('lux-1')            # machine.I2C(scl=Pin(5), sda=Pin(4)), address 0x29
//! tsl.sample()                      # lux, float
//! ```
//!
//! The sensor logic is the `tsl2591-driver` crate (embedded-hal 1.0); [`bus::PyI2c`] implements
//! `embedded_hal::i2c::I2c` over any object with `machine.I2C`'s `writeto` and
//! `readfrom_mem_into`, so the same driver runs on the board's bus and on the simulator.
//!
//! Lux: the formula as one fraction of two integers (`tsl2591_driver::lux_fraction`), divided
//! by the runtime (`int / int`): no float code in the module, and the result is within one
//! unit in the last place of the port's float of the exact formula (half a unit on x64, where
//! doubles hold both integers exactly; on the ESP8266 the 24-bit float rounds the numerator,
//! the division rounds once more and the 30-bit object drops two bits: under one 30-bit unit).
//! The pure-Python fallback computes it step by step (`full - 1.64 * ir`, ...) and differs from
//! the exact value in the last digits, most where its two terms nearly cancel.
#![no_std]

mod bus;

use bus::{detail, BusError, PyDelay, PyI2c};
use micropython_rt::{errno, import, os_err, py_err, qstr, Args, BinOp, Class, Error, Module, Obj, Qstr, Result};
use tsl2591_driver::{lux_fraction, Error as DrvError, Gain, IntegrationTime, Tsl2591 as Driver, DEFAULT_ADDRESS};

micropython_rt::entry!(init);

const FULLSPECTRUM: isize = 0;
const INFRARED: isize = 1;
const VISIBLE: isize = 2;

fn init(m: &Module) -> Result<()> {
    for (name, code) in [
        (qstr!("INTEGRATIONTIME_100MS"), 0),
        (qstr!("INTEGRATIONTIME_200MS"), 1),
        (qstr!("INTEGRATIONTIME_300MS"), 2),
        (qstr!("INTEGRATIONTIME_400MS"), 3),
        (qstr!("INTEGRATIONTIME_500MS"), 4),
        (qstr!("INTEGRATIONTIME_600MS"), 5),
        (qstr!("GAIN_LOW"), 0x00),
        (qstr!("GAIN_MED"), 0x10),
        (qstr!("GAIN_HIGH"), 0x20),
        (qstr!("GAIN_MAX"), 0x30),
        (qstr!("FULLSPECTRUM"), FULLSPECTRUM),
        (qstr!("INFRARED"), INFRARED),
        (qstr!("VISIBLE"), VISIBLE),
        (qstr!("SENSOR_ADDRESS"), DEFAULT_ADDRESS as isize),
        (qstr!("ADDR"), DEFAULT_ADDRESS as isize),
    ] {
        m.set(name, Obj::int(code));
    }
    m.set(qstr!("LUX_DF"), Obj::float(tsl2591_driver::LUX_DF));
    m.set(qstr!("LUX_COEFB"), Obj::float(tsl2591_driver::LUX_COEFB));
    m.set(qstr!("LUX_COEFC"), Obj::float(tsl2591_driver::LUX_COEFC));
    m.set(qstr!("LUX_COEFD"), Obj::float(tsl2591_driver::LUX_COEFD));

    m.class::<Tsl2591>()
        .method(qstr!("sample"), 0, 0, |s: &mut Tsl2591, _| {
            let (full, ir) = s.measure()?;
            s.lux(full, ir)
        })
        .method(qstr!("get_full_luminosity"), 0, 0, |s: &mut Tsl2591, _| {
            let (full, ir) = s.measure()?;
            Ok(Obj::tuple(&[Obj::int(full as isize), Obj::int(ir as isize)]))
        })
        .method(qstr!("get_luminosity"), 1, 1, |s: &mut Tsl2591, a| {
            let channel = a[0].to_int()?;
            let (full, ir) = s.measure()?;
            Ok(Obj::int(match channel {
                FULLSPECTRUM => full as isize,
                INFRARED => ir as isize,
                VISIBLE => full as isize - ir as isize,
                _ => 0,
            }))
        })
        .method(qstr!("calculate_lux"), 2, 2, |s: &mut Tsl2591, a| s.lux(count(a[0])?, count(a[1])?))
        .method(qstr!("set_timing"), 1, 1, |s: &mut Tsl2591, a| {
            let integration = integration_from(a[0])?;
            let gain = s.drv.gain();
            s.set_control(integration, gain)
        })
        .method(qstr!("set_gain"), 1, 1, |s: &mut Tsl2591, a| {
            let gain = gain_from(a[0])?;
            let integration = s.drv.integration();
            s.set_control(integration, gain)
        })
        .method(qstr!("enable"), 0, 0, |s: &mut Tsl2591, _| {
            let r = s.drv.enable();
            s.check(r, "enable").map(|_| Obj::none())
        })
        .method(qstr!("disable"), 0, 0, |s: &mut Tsl2591, _| {
            let r = s.drv.disable();
            s.check(r, "disable").map(|_| Obj::none())
        })
        .register(m);
    Ok(())
}

/// A TSL2591 on an I2C bus; Python: `Tsl2591(sensor_id, integration=INTEGRATIONTIME_100MS,
/// gain=GAIN_LOW, i2c=None, addr=0x29, sleep_ms=None)`.
struct Tsl2591 {
    sensor_id: Obj,
    drv: Driver<PyI2c>,
    delay: PyDelay,
}

fn count(o: Obj) -> Result<u16> {
    u16::try_from(o.to_int()?).map_err(|_| py_err!(ValueError, "channel count must be 0..65535"))
}

fn integration_from(o: Obj) -> Result<IntegrationTime> {
    let code = o.to_int()?;
    u8::try_from(code)
        .ok()
        .and_then(IntegrationTime::from_code)
        .ok_or_else(|| py_err!(ValueError, "integration must be INTEGRATIONTIME_100MS..600MS (0..5), got %r", o))
}

fn gain_from(o: Obj) -> Result<Gain> {
    let code = o.to_int()?;
    u8::try_from(code)
        .ok()
        .and_then(Gain::from_code)
        .ok_or_else(|| py_err!(ValueError, "gain must be GAIN_LOW/MED/HIGH/MAX (0x00/0x10/0x20/0x30), got %r", o))
}

/// `machine.I2C(scl=Pin(5), sda=Pin(4))`: the bus the tutorial wires (D1/D2 on NodeMCU/Wemos).
fn default_i2c() -> Result<Obj> {
    let machine = import(qstr!("machine"))?;
    if !machine.has_method(qstr!("I2C")) {
        return Err(os_err!(
            errno::ENODEV,
            "TSL2591: this port has no machine.I2C; pass i2c= (e.g. sim_tsl2591.SimTsl2591())"
        ));
    }
    let pin = machine.attr(qstr!("Pin"))?;
    let scl = pin.call(&[Obj::int(5)])?;
    let sda = pin.call(&[Obj::int(4)])?;
    machine.attr(qstr!("I2C"))?.call_kw(&[], &[(qstr!("scl"), scl), (qstr!("sda"), sda)])
}

/// The errno of a bus error (EIO if it has none).
fn bus_errno(e: &BusError) -> i32 {
    e.err.errno().unwrap_or(errno::EIO)
}

impl Tsl2591 {
    fn addr(&self) -> u8 {
        self.drv.address()
    }

    /// Lux for the current settings, divided by the runtime (see the crate docs); a saturated
    /// channel reads as 0.0 (the tutorial returned 0).
    fn lux(&self, full: u16, ir: u16) -> Result<Obj> {
        match lux_fraction(self.drv.integration(), self.drv.gain(), full, ir) {
            Some((n, d)) => Obj::int(n as isize).binary_op(BinOp::TrueDivide, Obj::int(d as isize)),
            None => Ok(Obj::float(0.0)),
        }
    }

    /// Map a driver result to a Python error naming the sensor and what failed.
    #[inline(never)]
    fn check<T>(&mut self, r: core::result::Result<T, DrvError<BusError>>, what: &'static str) -> Result<T> {
        if let Some(e) = self.delay.take_error() {
            return Err(e); // e.g. KeyboardInterrupt during the wait
        }
        let addr = self.addr();
        r.map_err(|e| match e {
            DrvError::I2c(b) => {
                let n = bus_errno(&b);
                os_err!(n, "TSL2591 at 0x%02x: %s failed: %s", addr, what, detail(&b, n))
            }
            DrvError::NotReady => os_err!(
                errno::ETIMEDOUT,
                "TSL2591 at 0x%02x: no valid reading %d ms after enable",
                addr,
                self.drv.integration().wait_ms() + tsl2591_driver::AVALID_POLLS as u32 * tsl2591_driver::AVALID_POLL_MS
            ),
            DrvError::IdMismatch(id) => not_found_id(addr, id),
            DrvError::Saturated => py_err!(ValueError, "saturated"),
        })
    }

    fn measure(&mut self) -> Result<(u16, u16)> {
        let r = self.drv.get_full_luminosity(&mut self.delay);
        self.check(r, "read")
    }

    fn set_control(&mut self, integration: IntegrationTime, gain: Gain) -> Result<Obj> {
        let r = self.drv.set_config(integration, gain);
        self.check(r, "CONTROL write")?;
        Ok(Obj::none())
    }
}

fn not_found_id(addr: u8, id: u8) -> Error {
    os_err!(errno::ENODEV, "TSL2591 not found at 0x%02x: device ID 0x%02x, expected 0x50", addr, id)
}

impl Class for Tsl2591 {
    fn name() -> Qstr {
        qstr!("Tsl2591")
    }

    fn make_new(args: &Args<'_>) -> Result<Self> {
        let names =
            [qstr!("sensor_id"), qstr!("integration"), qstr!("gain"), qstr!("i2c"), qstr!("addr"), qstr!("sleep_ms")];
        args.check("Tsl2591", &names, 1)?;
        let sensor_id = args.get(0, names[0]).unwrap_or_else(Obj::none);
        let integration = match args.get(1, names[1]) {
            Some(o) => integration_from(o)?,
            None => IntegrationTime::Ms100,
        };
        let gain = match args.get(2, names[2]) {
            Some(o) => gain_from(o)?,
            None => Gain::Low,
        };
        let bus = match args.get_opt(3, names[3]) {
            Some(o) => o,
            None => default_i2c()?,
        };
        let addr = match args.get(4, names[4]) {
            Some(o) => match o.to_int()? {
                a @ 0..=0x7F => a as u8,
                _ => return Err(py_err!(ValueError, "addr must be a 7-bit I2C address 0..127, got %r", o)),
            },
            None => DEFAULT_ADDRESS,
        };
        let delay = PyDelay::new(args.get_opt(5, names[5]), bus)?;
        let mut drv = Driver::new_with_config(PyI2c::new(bus), addr, integration, gain);
        // Check the chip ID now: a missing sensor fails here, with context, not at the first sample.
        if let Err(e) = drv.init() {
            return Err(match e {
                DrvError::I2c(b) => {
                    let n = bus_errno(&b);
                    os_err!(n, "TSL2591 not found at 0x%02x: %s", addr, detail(&b, n))
                }
                DrvError::IdMismatch(id) => not_found_id(addr, id),
                _ => os_err!(errno::EIO, "TSL2591 at 0x%02x: init failed", addr),
            });
        }
        Ok(Tsl2591 { sensor_id, drv, delay })
    }

    fn get_attr(&self, name: Qstr) -> Result<Option<Obj>> {
        Ok(if name == qstr!("sensor_id") {
            Some(self.sensor_id)
        } else if name == qstr!("i2c") {
            Some(self.drv_bus())
        } else if name == qstr!("addr") {
            Some(Obj::int(self.addr() as isize))
        } else if name == qstr!("integration_time") {
            Some(Obj::int(self.drv.integration().code() as isize))
        } else if name == qstr!("gain") {
            Some(Obj::int(self.drv.gain().code() as isize))
        } else {
            None
        })
    }

    fn set_attr(&mut self, name: Qstr, value: Obj) -> Result<bool> {
        if name == qstr!("sensor_id") {
            self.sensor_id = value;
            return Ok(true);
        }
        Ok(false)
    }
}

impl Tsl2591 {
    fn drv_bus(&self) -> Obj {
        self.drv.i2c().bus()
    }
}
