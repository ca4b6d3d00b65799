//! A platform-agnostic, `no_std` driver for the ams TSL2591 ambient light
//! sensor, on the [`embedded-hal`] 1.0 traits.
//!
//! [`embedded-hal`]: https://docs.rs/embedded-hal/1.0.0
//!
//! It replaces the tutorial's MicroPython driver in the lumen-link project (a
//! MicroPython native module wraps it), so it keeps the tutorial's behaviour
//! where it was right and fixes where it was not:
//!
//! - The device ID is checked on [`Tsl2591::init`]: register **0x12** must read
//!   0x50. The tutorial's register map put the ID at 0x0A, which is the TSL2561's
//!   ID register; on the TSL2591, 0x0A is a threshold byte (NPAIHTL).
//! - A measurement waits the integration time plus 10 % (not the tutorial's
//!   `0.120 * code + 1` seconds), then checks STATUS.AVALID.
//! - Both channels come in one block read with the status byte (the tutorial
//!   read four bytes per 16-bit word).
//! - The lux formula is the tutorial's, as pure functions: [`calculate_lux`]
//!   (f32) and [`calculate_lux_f64`] (bit-exact with Python doubles).
//!
//! Bus traffic is only `I2c::write` (command byte + value) and
//! `I2c::write_read` (command byte, then N bytes), which map one-to-one onto
//! MicroPython's `writeto` and `readfrom_mem_into`.
//! No allocation, no `unsafe`, no libm.
//!
//! ## The device
//!
//! Two photodiodes (channel 0: visible + IR, channel 1: IR), 16-bit counts,
//! gains x1/x25/x428/x9876, integration 100..600 ms, I²C address 0x29.
//! Datasheet: ams TSL2591 "Light-to-Digital Converter".
//!
//! ## Usage
//!
//! ### Read lux once
//! ```no_run
//! # fn demo<I: embedded_hal::i2c::I2c, D: embedded_hal::delay::DelayNs>(i2c: I, mut delay: D)
//! # -> Result<(), tsl2591_driver::Error<I::Error>> {
//! use tsl2591_driver::{Tsl2591, DEFAULT_ADDRESS};
//! let mut sensor = Tsl2591::new(i2c, DEFAULT_ADDRESS);
//! sensor.init()?;
//! let lux = sensor.lux(&mut delay)?;
//! # let _ = lux; Ok(()) }
//! ```
//!
//! ### Change gain and integration time, read the raw channels
//! ```no_run
//! # fn demo<I: embedded_hal::i2c::I2c, D: embedded_hal::delay::DelayNs>(i2c: I, mut delay: D)
//! # -> Result<(), tsl2591_driver::Error<I::Error>> {
//! use tsl2591_driver::{calculate_lux_f64, Gain, IntegrationTime, Tsl2591, DEFAULT_ADDRESS};
//! let mut sensor = Tsl2591::new(i2c, DEFAULT_ADDRESS);
//! sensor.init()?;
//! sensor.set_gain(Gain::Medium)?;
//! sensor.set_integration(IntegrationTime::Ms300)?;
//! let (full, ir) = sensor.get_full_luminosity(&mut delay)?;
//! // Saturated: None (the tutorial reported 0 lux).
//! let lux = calculate_lux_f64(sensor.integration(), sensor.gain(), full, ir).unwrap_or(0.0);
//! # let _ = lux; Ok(()) }
//! ```
//!
//! ### Handle a missing sensor or a saturated reading
//! ```no_run
//! # fn demo<I: embedded_hal::i2c::I2c, D: embedded_hal::delay::DelayNs>(i2c: I, mut delay: D) {
//! use tsl2591_driver::{Error, Tsl2591, DEFAULT_ADDRESS};
//! let mut sensor = Tsl2591::new(i2c, DEFAULT_ADDRESS);
//! match sensor.init() {
//!     Ok(()) => {}
//!     Err(Error::IdMismatch(id)) => { /* another chip at 0x29 (id) */ }
//!     Err(_) => { /* bus error: nothing answered */ }
//! }
//! match sensor.lux(&mut delay) {
//!     Ok(lux) => { let _ = lux; }
//!     Err(Error::Saturated) => { /* too bright for this gain */ }
//!     Err(_) => {}
//! }
//! # }
//! ```
#![deny(unsafe_code, missing_docs)]
#![no_std]

mod device_impl;
mod lux;
mod types;

pub use crate::device_impl::{
    BitFlags, Register, Tsl2591, AUTO_GAIN_ATTEMPTS, AVALID_POLLS, AVALID_POLL_MS, DEFAULT_ADDRESS, DEVICE_ID,
    ENABLE_OFF, ENABLE_ON,
};
pub use crate::lux::{
    calculate_lux, calculate_lux_f64, is_saturated, lux_fraction, lux_fraction_codes, LUX_COEFB, LUX_COEFC, LUX_COEFD, LUX_DF,
    SATURATED_COUNT,
};
pub use crate::types::{Error, Gain, IntegrationTime};
