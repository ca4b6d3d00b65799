//! Python-compatible text forms, so the console line and the CSV match the tutorial's
//! `server.py` byte for byte: `repr(float)`, `repr(str)` and
//! `datetime.utcfromtimestamp(ts).isoformat()` as CPython 3.11 produces them.
//!
//! Written from the documented behaviour of CPython (shortest round-trip digits, the
//! exponent switch at `decpt <= -4 or decpt > 16`, `str.isprintable`, round-half-even
//! to microseconds); the tests compare against a real `python3`.

use std::fmt::Write as _;

use unicode_general_category::{get_general_category, GeneralCategory};

/// `repr(x)` for a Python float.
pub fn float_repr(x: f64) -> String {
    let mut out = String::with_capacity(24);
    write_float_repr(&mut out, x);
    out
}

/// Appends `repr(x)` for a Python float to `out`.
pub fn write_float_repr(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, like CPython's repr
    // (dtoa mode 0); only the layout differs.
    let mut sci = String::with_capacity(32);
    let _ = write!(sci, "{x:e}");
    // When two shortest candidates are equally close (x sits exactly halfway), Rust
    // picks the upper one while CPython rounds half to even; Rust's exact formatting
    // at the same digit count rounds half to even, so redo it that way.
    let n_digits = sci
        .split('e')
        .next()
        .map_or(1, |m| m.bytes().filter(u8::is_ascii_digit).count());
    // A tie needs both neighbours within half an ulp: ~15+ significant digits, or a
    // subnormal (whose ulp is large relative to it).
    let may_tie = n_digits >= 15 || x.abs() < f64::MIN_POSITIVE;
    let mut exact = String::new();
    if may_tie {
        let _ = write!(exact, "{x:.*e}", n_digits - 1);
    }
    if may_tie && exact != sci && exact.parse::<f64>() == Ok(x) {
        sci = exact;
    }
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let mut digits = String::with_capacity(mantissa.len());
    digits.extend(mantissa.chars().filter(|c| *c != '.'));
    let digits = digits.as_str();
    // Position of the decimal point relative to the digit string: x = 0.DIGITS * 10^decpt.
    let decpt = exp + 1;
    if negative {
        out.push('-');
    }
    if decpt <= -4 || decpt > 16 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else if decpt <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
        out.push_str(digits);
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            out.push_str(digits);
            out.extend(std::iter::repeat_n('0', decpt - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..decpt]);
            out.push('.');
            out.push_str(&digits[decpt..]);
        }
    }
}

/// Code points assigned after Unicode 14.0 (in 15.0 to 16.0) that the category table
/// of `unicode-general-category` calls printable. CPython 3.11 (Unicode 14.0) sees them
/// as unassigned and escapes them in `repr`; so do we. Found by comparing the crate with
/// `str.isprintable()` of CPython 3.11 over every code point.
const NEWER_THAN_UNICODE_14: &[(u32, u32)] = &[
    (0x0897, 0x0897),
    (0x0CF3, 0x0CF3),
    (0x0ECE, 0x0ECE),
    (0x1B4E, 0x1B4F),
    (0x1B7F, 0x1B7F),
    (0x1C89, 0x1C8A),
    (0x2427, 0x2429),
    (0x2FFC, 0x2FFF),
    (0x31E4, 0x31E5),
    (0x31EF, 0x31EF),
    (0xA7CB, 0xA7CD),
    (0xA7DA, 0xA7DC),
    (0x105C0, 0x105F3),
    (0x10D40, 0x10D65),
    (0x10D69, 0x10D85),
    (0x10D8E, 0x10D8F),
    (0x10EC2, 0x10EC4),
    (0x10EFC, 0x10EFF),
    (0x1123F, 0x11241),
    (0x11380, 0x11389),
    (0x1138B, 0x1138B),
    (0x1138E, 0x1138E),
    (0x11390, 0x113B5),
    (0x113B7, 0x113C0),
    (0x113C2, 0x113C2),
    (0x113C5, 0x113C5),
    (0x113C7, 0x113CA),
    (0x113CC, 0x113D5),
    (0x113D7, 0x113D8),
    (0x113E1, 0x113E2),
    (0x116D0, 0x116E3),
    (0x11B00, 0x11B09),
    (0x11BC0, 0x11BE1),
    (0x11BF0, 0x11BF9),
    (0x11F00, 0x11F10),
    (0x11F12, 0x11F3A),
    (0x11F3E, 0x11F5A),
    (0x1342F, 0x1342F),
    (0x13440, 0x13455),
    (0x13460, 0x143FA),
    (0x16100, 0x16139),
    (0x16D40, 0x16D79),
    (0x18CFF, 0x18CFF),
    (0x1B132, 0x1B132),
    (0x1B155, 0x1B155),
    (0x1CC00, 0x1CCF9),
    (0x1CD00, 0x1CEB3),
    (0x1D2C0, 0x1D2D3),
    (0x1DF25, 0x1DF2A),
    (0x1E030, 0x1E06D),
    (0x1E08F, 0x1E08F),
    (0x1E4D0, 0x1E4F9),
    (0x1E5D0, 0x1E5FA),
    (0x1E5FF, 0x1E5FF),
    (0x1F6DC, 0x1F6DC),
    (0x1F774, 0x1F776),
    (0x1F77B, 0x1F77F),
    (0x1F7D9, 0x1F7D9),
    (0x1F8B2, 0x1F8BB),
    (0x1F8C0, 0x1F8C1),
    (0x1FA75, 0x1FA77),
    (0x1FA87, 0x1FA89),
    (0x1FA8F, 0x1FA8F),
    (0x1FAAD, 0x1FAAF),
    (0x1FABB, 0x1FABF),
    (0x1FAC6, 0x1FAC6),
    (0x1FACE, 0x1FACF),
    (0x1FADA, 0x1FADC),
    (0x1FADF, 0x1FADF),
    (0x1FAE8, 0x1FAE9),
    (0x1FAF7, 0x1FAF8),
    (0x1FBCB, 0x1FBEF),
    (0x2B739, 0x2B739),
    (0x2EBF0, 0x2EE5D),
    (0x31350, 0x323AF),
];

fn newer_than_unicode_14(c: char) -> bool {
    let cp = c as u32;
    NEWER_THAN_UNICODE_14
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `str.isprintable()` of CPython 3.11 for one non-ASCII character: everything except
/// the "Other" and "Separator" categories and what Unicode 14.0 had not assigned yet
/// (the ASCII space is handled by the caller).
fn is_printable(c: char) -> bool {
    !newer_than_unicode_14(c)
        && !matches!(
            get_general_category(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::Surrogate
                | GeneralCategory::PrivateUse
                | GeneralCategory::Unassigned
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::SpaceSeparator
        )
}

/// `repr(s)` for a Python str.
pub fn str_repr(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_str_repr(&mut out, s);
    out
}

/// Appends `repr(s)` for a Python str to `out`.
pub fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x7f => out.push(c),
            c if is_printable(c) => out.push(c),
            c if (c as u32) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// Rounds half to even, like CPython's `_PyTime_ROUND_HALF_EVEN`.
fn round_half_even(x: f64) -> f64 {
    let rounded = x.round();
    if (x - rounded).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        rounded
    }
}

/// Splits a unix timestamp into whole seconds and microseconds the way
/// `datetime.utcfromtimestamp` does (round half to even on the microseconds).
pub fn split_timestamp(ts: f64) -> (i64, u32) {
    let int_part = ts.trunc();
    let mut frac = round_half_even((ts - int_part) * 1e6);
    let mut secs = int_part;
    if frac >= 1e6 {
        frac -= 1e6;
        secs += 1.0;
    } else if frac < 0.0 {
        frac += 1e6;
        secs -= 1.0;
    }
    (secs as i64, frac as u32)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `datetime.utcfromtimestamp(ts).isoformat()`: microseconds are omitted when zero.
pub fn utc_isoformat(ts: f64) -> String {
    let mut out = String::with_capacity(26);
    write_utc_isoformat(&mut out, ts);
    out
}

/// Appends `datetime.utcfromtimestamp(ts).isoformat()` to `out`.
pub fn write_utc_isoformat(out: &mut String, ts: f64) {
    let (secs, micros) = split_timestamp(ts);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        (sod / 60) % 60,
        sod % 60
    );
    if micros != 0 {
        let _ = write!(out, ".{micros:06}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_layouts() {
        assert_eq!(float_repr(371.6063), "371.6063");
        assert_eq!(float_repr(284.0), "284.0");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1e15), "1000000000000000.0");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(-1.5e-300), "-1.5e-300");
        assert_eq!(float_repr(1484535480.613611), "1484535480.613611");
        assert_eq!(float_repr(-0.0), "-0.0");
        // Halfway between two 17-digit candidates: CPython rounds half to even.
        assert_eq!(float_repr(1e15 + 0.25), "1000000000000000.2");
    }

    #[test]
    fn str_quotes() {
        assert_eq!(str_repr("lux-1"), "'lux-1'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(str_repr("a\tb\u{7f}\u{a0}é"), "'a\\tb\\x7f\\xa0é'");
    }

    #[test]
    fn isoformat() {
        assert_eq!(
            utc_isoformat(1484535480.613611),
            "2017-01-16T02:58:00.613611"
        );
        assert_eq!(utc_isoformat(0.0), "1970-01-01T00:00:00");
        assert_eq!(utc_isoformat(951782400.5), "2000-02-29T00:00:00.500000");
    }
}
