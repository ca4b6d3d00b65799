//! `repr(float)` exactly as MicroPython prints a double (and so as its `json.dumps` writes one).
//!
//! What MicroPython does (py/formatfloat.c, `'g'` format with its "repr" precision, double
//! build with the exact format implementation, read for facts only) is not the shortest
//! round-trip string CPython prints: it rounds the scaled value to 16 significant digits and
//! reads the text back with its own parser (py/parsenum.c); only if that gives a different
//! double does it try 17, then 18, and finally 19 digits. Both the scaling and the parser
//! compute in x87 `long double`, so e.g. `76377.46` prints as `76377.46000000001`. We model
//! that arithmetic bit for bit ([`crate::ext80`]) and repeat the same steps:
//!
//! * decimal exponent `e`: an estimate from the binary exponent (`* 0.3010299956639812`,
//!   truncated), then stepped until `10^e <= x < 10^(e+1)` (powers computed in `long double`,
//!   compared as doubles);
//! * digits: `(u64)(x * 10^(n-1-e) + 0.5)` in `long double`; a carry to n+1 digits drops the
//!   last digit (integer division) and bumps `e`;
//! * layout: `d.ddd` plus `e±XX` (at least 2 exponent digits) unless `-4 <= e < 16`, where the
//!   exponent is written out as zeros (`0.000ddd`, or `ddd.ddd`); trailing zeros after a point
//!   are dropped, then a lone point; `.0` is appended when neither a point nor an exponent is
//!   left; `inf`, `nan`, `-inf`, `-0.0` as such.

use crate::ext80::Ext;

/// Longest output: sign, `0.000`, 19 digits; or sign, 19 digits, point, `e-308`.
pub const MAX_LEN: usize = 32;

const FIRST_DIGITS: u32 = 16; // digits tried first (the "safe" count for a double)
const MAX_DIGITS: u32 = 19; // the last try, taken without a check
const MAX_PLAIN_EXP: i32 = 16; // below this, a positive exponent is written as digits

/// A formatted float: the bytes and their count.
#[derive(Clone, Copy)]
pub struct Repr {
    buf: [u8; MAX_LEN],
    len: usize,
}

impl Repr {
    /// The text (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// The text as `&str`.
    pub fn as_str(&self) -> &str {
        // SAFETY: only ASCII digits, signs, '.', 'e', "inf"/"nan" are ever written.
        unsafe { core::str::from_utf8_unchecked(self.as_bytes()) }
    }
    fn push(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }
    fn push_all(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }
}

/// `repr(x)` as MicroPython's unix x64 port prints it.
pub fn repr_f64(x: f64) -> Repr {
    let mut out = Repr {
        buf: [0; MAX_LEN],
        len: 0,
    };
    if x.is_nan() {
        out.push_all(b"nan");
        return out;
    }
    if x.is_sign_negative() {
        out.push(b'-');
    }
    let f = x.abs();
    if f.is_infinite() {
        out.push_all(b"inf");
        return out;
    }
    let e = decimal_exponent(f);
    let scaled = Ext::from_f64(f);
    let mut n = FIRST_DIGITS;
    let body = loop {
        let m = if f == 0.0 {
            0
        } else {
            scaled.scale10(n as i32 - e - 1).add(Ext::HALF).to_u64()
        };
        let body = layout(m, n, e);
        if n >= MAX_DIGITS || parse(body.as_bytes()) == f {
            break body;
        }
        n += 1;
    };
    out.push_all(body.as_bytes());
    if !body.as_bytes().iter().any(|&c| c == b'.' || c == b'e') {
        out.push_all(b".0");
    }
    out
}

/// The decimal exponent search (0 for zero).
fn decimal_exponent(f: f64) -> i32 {
    if f == 0.0 {
        return 0;
    }
    let binary = ((f.to_bits() >> 52) & 0x7ff) as i32 - 1023;
    // MicroPython writes log10(2) as 0.3010299956639812: the same double as LOG10_2.
    let mut e = (binary as f64 * core::f64::consts::LOG10_2) as i32;
    let above_one = f >= 1.0;
    let step = if above_one { 1 } else { -1 };
    loop {
        let bound = Ext::ONE.scale10(e + above_one as i32).to_f64();
        if (f >= bound) != above_one {
            return e;
        }
        e += step;
    }
}

/// Lay out `m` (meant to have `n` digits) with decimal exponent `e`, unsigned, `'g'` style.
fn layout(m: u64, n: u32, e: i32) -> Repr {
    let mut out = Repr {
        buf: [0; MAX_LEN],
        len: 0,
    };
    let (mut m, mut e, mut n) = (m, e, n);
    if m != 0 && m >= 10u64.pow(n) {
        m /= 10; // rounding carried into an extra digit
        e += 1;
    }
    // Position of the point: after digit `dot_after` (0-based); None = the digits are all
    // after "0.000".
    let mut dot_after = Some(0i32);
    if (1..MAX_PLAIN_EXP).contains(&e) {
        dot_after = Some(e);
        e = 0;
    } else if (-4..0).contains(&e) {
        let zeros = -e - 1;
        while e < 0 && m % 10 == 0 {
            m /= 10;
            n -= 1;
            e += 1;
        }
        out.push_all(b"0.");
        for _ in 0..zeros {
            out.push(b'0');
        }
        dot_after = None;
        e = 0;
    }
    let mut digits = [0u8; MAX_DIGITS as usize];
    for d in digits[..n as usize].iter_mut().rev() {
        *d = b'0' + (m % 10) as u8;
        m /= 10;
    }
    let mut has_dot = dot_after.is_none();
    for (i, &d) in digits[..n as usize].iter().enumerate() {
        out.push(d);
        if dot_after == Some(i as i32) && (i as u32) + 1 < n {
            out.push(b'.');
            has_dot = true;
        }
    }
    // (MicroPython pads to 19 digits with zeros here and strips them again: no effect.)
    if has_dot {
        while out.buf[out.len - 1] == b'0' {
            out.len -= 1;
        }
        if out.buf[out.len - 1] == b'.' {
            out.len -= 1;
        }
    }
    if e != 0 {
        out.push(b'e');
        out.push(if e < 0 { b'-' } else { b'+' });
        let a = e.unsigned_abs();
        if a >= 100 {
            out.push(b'0' + (a / 100) as u8);
        }
        out.push(b'0' + (a / 10 % 10) as u8);
        out.push(b'0' + (a % 10) as u8);
    }
    out
}

/// MicroPython's own decimal parser (unsigned), which decides whether a digit count is enough:
/// up to ~19 significant digits go into a u64 (later ones only move the exponent), zeros are
/// held back until a non-zero digit follows, and the result is `mantissa * 10^exp` in
/// `long double`, then rounded to a double.
fn parse(s: &[u8]) -> f64 {
    const MANTISSA_MAX: u64 = 0x1999_9999_9999_9998;
    #[derive(PartialEq, Copy, Clone)]
    enum At {
        Int,
        Frac,
        Exp,
    }
    fn accept(m: u64, d: u64, at: At, exp_extra: &mut i32) -> u64 {
        if m < MANTISSA_MAX {
            if at == At::Frac {
                *exp_extra -= 1;
            }
            10 * m + d
        } else {
            if at == At::Int {
                *exp_extra += 1;
            }
            m
        }
    }
    let (mut m, mut exp, mut exp_extra) = (0u64, 0i32, 0i32);
    let (mut zeros_int, mut zeros_frac) = (0i32, 0i32);
    let mut exp_neg = false;
    let mut at = At::Int;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        match c {
            b'0'..=b'9' => {
                let d = (c - b'0') as u64;
                if at == At::Exp {
                    if exp < (i32::MAX / 2 - 9) / 10 {
                        exp = 10 * exp + d as i32;
                    }
                } else if d == 0 || m >= MANTISSA_MAX {
                    if at == At::Int {
                        zeros_int += 1;
                    } else {
                        zeros_frac += 1;
                    }
                } else {
                    while zeros_int > 0 {
                        m = accept(m, 0, At::Int, &mut exp_extra);
                        zeros_int -= 1;
                    }
                    while zeros_frac > 0 {
                        m = accept(m, 0, At::Frac, &mut exp_extra);
                        zeros_frac -= 1;
                    }
                    m = accept(m, d, at, &mut exp_extra);
                }
            }
            b'.' if at == At::Int => at = At::Frac,
            b'e' | b'E' if at != At::Exp => {
                at = At::Exp;
                if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
                    exp_neg = s[i] == b'-';
                    i += 1;
                }
            }
            _ => break,
        }
    }
    if exp_neg {
        exp = -exp;
    }
    Ext::from_u64(m)
        .scale10(exp + exp_extra + zeros_int)
        .to_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(x: f64, want: &str) {
        assert_eq!(
            repr_f64(x).as_str(),
            want,
            "repr of {:e} ({:#x})",
            x,
            x.to_bits()
        );
    }

    #[test]
    fn known_values() {
        check(0.0, "0.0");
        check(-0.0, "-0.0");
        check(1.0, "1.0");
        check(284.1312, "284.1312");
        check(35.90401, "35.90401");
        check(1e16, "1e+16");
        check(1e15, "1000000000000000.0");
        check(1e-5, "1e-05");
        check(0.0001, "0.0001");
        check(123456789.123, "123456789.123");
        check(0.1, "0.1");
        check(f64::NAN, "nan");
        check(f64::INFINITY, "inf");
        check(f64::NEG_INFINITY, "-inf");
        check(5e-324, "4.940656458412465e-324");
        check(2.2250738585072014e-308, "2.2250738585072014e-308");
        check(1.7976931348623157e308, "1.7976931348623157e+308");
        // Not shortest: MicroPython's long-double parser rejects the 7-digit form.
        check(f64::from_bits(0x40f2a5975c28f5c3), "76377.46000000001");
        check(f64::from_bits(0x40551e353f7ced91), "84.47199999999999");
        check(f64::from_bits(0xbdba19ebabf100b0), "-2.373895068916386e-11");
    }
}
