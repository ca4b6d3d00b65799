//! Lux maths as pure functions, testable without a bus.
//!
//! The formula is the one of the tutorial's driver (and of the widely used
//! Adafruit library it derives from):
//!
//! ```text
//! cpl  = atime_ms * again / 408.0
//! lux1 = (full - 1.64 * ir) / cpl
//! lux2 = (0.59 * full - 0.86 * ir) / cpl
//! lux  = max(lux1, lux2)
//! ```
//!
//! Like the reference, negative results (more IR than the full channel allows,
//! which only happens with implausible counts) are *not* clamped, and a channel
//! reading 0xFFFF counts as saturated.
//!
//! Two widths are offered because the result must match the MicroPython port's
//! own float: [`calculate_lux_f64`] gives bit-for-bit the value the pure-Python
//! driver computes on ports whose float is a double (unix/x64), [`calculate_lux`]
//! suits ports with single-precision floats (the ESP8266's 30-bit floats).
//! The operations are done in the reference's order so the f64 result is exact.

use crate::types::{Gain, IntegrationTime};

/// Counts-per-lux denominator of the formula ("LUX_DF").
pub const LUX_DF: f64 = 408.0;
/// Coefficient of IR in the first estimate ("LUX_COEFB").
pub const LUX_COEFB: f64 = 1.64;
/// Coefficient of full in the second estimate ("LUX_COEFC").
pub const LUX_COEFC: f64 = 0.59;
/// Coefficient of IR in the second estimate ("LUX_COEFD").
pub const LUX_COEFD: f64 = 0.86;

/// The raw value a saturated channel reads.
pub const SATURATED_COUNT: u16 = 0xFFFF;

/// True when either channel is saturated (reads 0xFFFF).
pub const fn is_saturated(ch0: u16, ch1: u16) -> bool {
    ch0 == SATURATED_COUNT || ch1 == SATURATED_COUNT
}

macro_rules! lux_fn {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $name(integration: IntegrationTime, gain: Gain, ch0: u16, ch1: u16) -> Option<$t> {
            if is_saturated(ch0, ch1) {
                return None;
            }
            let full = ch0 as $t;
            let ir = ch1 as $t;
            let cpl = (integration.as_ms() as $t * gain.factor() as $t) / LUX_DF as $t;
            let lux1 = (full - LUX_COEFB as $t * ir) / cpl;
            let lux2 = (LUX_COEFC as $t * full - LUX_COEFD as $t * ir) / cpl;
            // A comparison rather than `max`: `max` may lower to an `fmax` libm call,
            // which a MicroPython native module cannot link. Ties keep lux1, as
            // Python's max() does.
            Some(if lux2 > lux1 { lux2 } else { lux1 })
        }
    };
}

lux_fn!(
    /// Lux from channel 0 (full spectrum) and channel 1 (infrared) counts, in
    /// single precision; `None` if a channel is saturated.
    ///
    /// ```
    /// use tsl2591_driver::{calculate_lux, Gain, IntegrationTime};
    /// let lux = calculate_lux(IntegrationTime::Ms100, Gain::Medium, 611, 284).unwrap();
    /// assert!((lux - 23.70317).abs() < 1e-3);
    /// assert_eq!(calculate_lux(IntegrationTime::Ms100, Gain::Low, 0xFFFF, 3), None);
    /// ```
    calculate_lux,
    f32
);

lux_fn!(
    /// Lux like [`calculate_lux`] but in double precision, matching bit for bit
    /// the reference Python formula evaluated with 64-bit floats.
    calculate_lux_f64,
    f64
);

/// The formula as one exact fraction of integers, `Some((numerator, denominator))`; `None` if
/// a channel is saturated.
///
/// With 1.64 = 164/100, 0.59 = 59/100, 0.86 = 86/100 and 408/100 = 102/25:
///
/// ```text
/// lux = max(100 full - 164 ir, 59 full - 86 ir) * 102 / (25 * atime_ms * again)
/// ```
///
/// Both fit in 30 bits for every setting and count (|numerator| <= 668,446,800, denominator
/// <= 148,140,000), so they are small ints even on the ESP8266, and one correctly rounded
/// division gives the lux within half a unit in the last place of the port's float (where the
/// float holds both exactly, as a double does; a 24-bit float first rounds the numerator). A
/// MicroPython module divides them with the runtime (`int / int`) and needs no float code of its
/// own. The step-by-step float formula ([`calculate_lux_f64`], the tutorial's) rounds five
/// times and can be off by much more where its two terms nearly cancel.
///
/// ```
/// use tsl2591_driver::{lux_fraction, Gain, IntegrationTime};
/// let (n, d) = lux_fraction(IntegrationTime::Ms100, Gain::Low, 611, 284).unwrap();
/// assert!((n as f64 / d as f64 - 592.5792).abs() < 1e-3);
/// ```
pub const fn lux_fraction(integration: IntegrationTime, gain: Gain, ch0: u16, ch1: u16) -> Option<(i32, i32)> {
    if is_saturated(ch0, ch1) {
        return None;
    }
    let (full, ir) = (ch0 as i32, ch1 as i32);
    let a = 100 * full - 164 * ir;
    let b = 59 * full - 86 * ir;
    let n = if b > a { b } else { a };
    Some((n * 102, 25 * integration.as_ms() as i32 * gain.factor() as i32))
}

/// [`lux_fraction`] from the register codes as a module stores them (integration 0..=5, gain
/// 0x00/0x10/0x20/0x30), without converting them to the enums first (a table lookup each);
/// `None` also for a code out of range.
pub const fn lux_fraction_codes(integration: u8, gain: u8, ch0: u16, ch1: u16) -> Option<(i32, i32)> {
    const FACTOR: [u16; 4] = [Gain::Low.factor(), Gain::Medium.factor(), Gain::High.factor(), Gain::Max.factor()];
    // Integration code c is (c + 1) * 100 ms (IntegrationTime::as_ms); a gain code has only
    // bits 4 and 5.
    if integration > 5 || gain & !0x30 != 0 || is_saturated(ch0, ch1) {
        return None;
    }
    let (full, ir) = (ch0 as i32, ch1 as i32);
    let a = 100 * full - 164 * ir;
    let b = 59 * full - 86 * ir;
    let n = if b > a { b } else { a };
    Some((n * 102, 2500 * (integration as i32 + 1) * FACTOR[(gain >> 4) as usize & 3] as i32))
}
