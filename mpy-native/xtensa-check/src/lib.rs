//! Checks that run the same on the host and on the ESP8266's Xtensa lx106.
//!
//! [`run`] evaluates the device code's arithmetic over fixed and pseudo-random inputs and
//! writes one text line per result to a sink. `tests/qemu.rs` calls it natively and runs the
//! `guest` crate (which calls it on lx106, under QEMU, through the ESP8266 build path:
//! `rustc --emit=asm`, GNU as, `mpy-ld`, the `.mpy` relocated as MicroPython's loader does)
//! and requires the two outputs to be identical. So every line is exact: floats as their bit
//! patterns (plus `{:?}`, which exercises `core::fmt`'s float code), bytes in hex.
//!
//! What a mismatch would reveal: a wrong call0 argument/return convention, a soft-float
//! helper (`__addsf3`, `__divdf3`, `__fixunsdfdi`, ...) that rounds differently from the
//! host's IEEE hardware, a 64-bit division helper bug, or a bad relocation in mpy-ld's
//! Xtensa path (a wrong literal, a mis-encoded `call0`/`l32r`/branch).
#![no_std]
#![deny(missing_docs)]

use core::fmt::{self, Write};

use mqtt_codec::{json, mqtt, repr};
use tsl2591_driver::{calculate_lux, calculate_lux_f64, Gain, IntegrationTime};

/// Written last; its absence means the run stopped early.
pub const END_LINE: &str = "END";

/// A 32-bit linear congruential generator (Numerical Recipes constants): the same numbers
/// on every target.
#[derive(Debug)]
pub struct Lcg(u32);

impl Lcg {
    /// A generator from a seed.
    pub const fn new(seed: u32) -> Lcg {
        Lcg(seed)
    }
    /// The next 32 bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self.0.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        self.0
    }
    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        (u64::from(self.next_u32()) << 32) | u64::from(self.next_u32())
    }
}

/// Forwards `core::fmt` output to the sink, one call per piece.
struct Out<'a>(&'a mut dyn FnMut(&[u8]));

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        (self.0)(s.as_bytes());
        Ok(())
    }
}

struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

const INTEGRATIONS: [IntegrationTime; 6] = [
    IntegrationTime::Ms100,
    IntegrationTime::Ms200,
    IntegrationTime::Ms300,
    IntegrationTime::Ms400,
    IntegrationTime::Ms500,
    IntegrationTime::Ms600,
];
const GAINS: [Gain; 4] = [Gain::Low, Gain::Medium, Gain::High, Gain::Max];

/// Channel pairs worth checking on their own: the tutorial's reading, zeros, saturation,
/// more IR than full (negative lux), the largest unsaturated counts.
const LUX_PAIRS: [(u16, u16); 9] = [
    (611, 284),
    (624, 284),
    (0, 0),
    (1, 0),
    (0, 1),
    (100, 300),
    (0xFFFE, 0xFFFE),
    (0xFFFF, 3),
    (36863, 12000),
];

/// Floats for `repr(float)` / JSON: values from the tutorial's output, signed zeros,
/// powers of ten around the switch to exponent form, extremes, non-finite values.
const FLOATS: [f64; 22] = [
    284.1312,
    371.6063,
    1484535480.613611,
    0.0,
    -0.0,
    1.0,
    0.1,
    -2.5,
    1e-7,
    1e16,
    1e17,
    123456789.0,
    1.7976931348623157e308,
    5e-324,
    2.2250738585072014e-308,
    0.30000000000000004,
    23.703170776367188,
    -1234.5678,
    100.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

/// Runs every check, writing `name args = result` lines and finally [`END_LINE`].
pub fn run(sink: &mut dyn FnMut(&[u8])) {
    let mut out = Out(sink);
    // Writing to `Out` cannot fail.
    let _ = run_into(&mut out);
}

fn run_into(o: &mut Out<'_>) -> fmt::Result {
    lux(o)?;
    floats(o)?;
    mqtt_framing(o)?;
    integers(o)?;
    wide_integers(o)?;
    writeln!(o, "{END_LINE}")
}

fn lux_line(o: &mut Out<'_>, it: IntegrationTime, g: Gain, ch0: u16, ch1: u16) -> fmt::Result {
    let single = calculate_lux(it, g, ch0, ch1);
    let double = calculate_lux_f64(it, g, ch0, ch1);
    write!(o, "lux {} {} {ch0} {ch1} =", it.as_ms(), g.factor())?;
    match (single, double) {
        (Some(s), Some(d)) => {
            writeln!(o, " {:08x} {:016x} {s:?} {d:?}", s.to_bits(), d.to_bits())
        }
        (s, d) => writeln!(o, " {s:?} {d:?}"),
    }
}

fn lux(o: &mut Out<'_>) -> fmt::Result {
    for it in INTEGRATIONS {
        for g in GAINS {
            for (ch0, ch1) in LUX_PAIRS {
                lux_line(o, it, g, ch0, ch1)?;
            }
        }
    }
    let mut rng = Lcg::new(2591);
    for _ in 0..300 {
        let r = rng.next_u32();
        let it = INTEGRATIONS[(r % 6) as usize];
        let g = GAINS[((r >> 3) % 4) as usize];
        let ch0 = (rng.next_u32() >> 16) as u16;
        // IR is usually below full; sometimes any value.
        let ch1 = if r & 0x100 == 0 {
            (u32::from(ch0) * (rng.next_u32() % 1000) / 1000) as u16
        } else {
            (rng.next_u32() >> 16) as u16
        };
        lux_line(o, it, g, ch0, ch1)?;
    }
    Ok(())
}

fn float_line(o: &mut Out<'_>, f: f64) -> fmt::Result {
    // The mqtt_writer payload: ["lux-1", <ts>, <value>].
    let mut buf = [0u8; 96];
    let mut w = json::Writer::new(&mut buf);
    let json = (|| {
        w.begin_list()?;
        w.string(b"lux-1")?;
        w.item_sep(1)?;
        w.int(1_484_535_480)?;
        w.item_sep(2)?;
        w.float(f)?;
        w.end_list()
    })();
    write!(
        o,
        "float {:016x} = {} ",
        f.to_bits(),
        repr::repr_f64(f).as_str()
    )?;
    match json {
        Ok(()) => writeln!(
            o,
            "{}",
            core::str::from_utf8(w.as_bytes()).unwrap_or("<utf8?>")
        ),
        Err(_) => writeln!(o, "<full>"),
    }
}

const SCALES: [f64; 9] = [0.01, 0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6];

fn floats(o: &mut Out<'_>) -> fmt::Result {
    for f in FLOATS {
        float_line(o, f)?;
    }
    let mut rng = Lcg::new(1484535480);
    for i in 0..300 {
        let bits = rng.next_u64();
        // Half arbitrary bit patterns (every exponent), half plausible sensor values.
        let f = if i % 2 == 0 {
            f64::from_bits(bits)
        } else {
            (bits >> 11) as f64 / (1u64 << 53) as f64 * SCALES[i % SCALES.len()]
        };
        float_line(o, f)?;
    }
    Ok(())
}

fn mqtt_framing(o: &mut Out<'_>) -> fmt::Result {
    let connects = [
        mqtt::Connect {
            client_id: b"esp8266-lux",
            keepalive: 60,
            user: None,
            password: None,
        },
        mqtt::Connect {
            client_id: b"c",
            keepalive: 0xFFFF,
            user: Some(b"user"),
            password: Some(b"pa:ss"),
        },
        mqtt::Connect {
            client_id: b"",
            keepalive: 0,
            user: Some(b"u"),
            password: None,
        },
    ];
    let mut buf = [0u8; 64];
    for c in connects {
        let n = c.write(&mut buf);
        writeln!(o, "connect {} {n} = {}", c.packet_len(), Hex(&buf[..n]))?;
    }
    let lens = [
        0usize,
        1,
        127,
        128,
        300,
        16383,
        16384,
        2_097_151,
        2_097_152,
        mqtt::MAX_REMAINING,
    ];
    for (i, &n) in lens.iter().enumerate() {
        let mut hdr = [0u8; mqtt::MAX_HEADER];
        let start = mqtt::publish_header(&mut hdr, (i % 2) as u8, n);
        let mut dec = mqtt::LenDecoder::default();
        let mut decoded = None;
        for &b in &hdr[start + 1..] {
            decoded = dec.push(b).ok().flatten();
        }
        writeln!(
            o,
            "publish {n} = {start} {} {decoded:?} {}",
            Hex(&hdr[start..]),
            mqtt::len_size(n)
        )?;
    }
    for code in 0..7 {
        writeln!(o, "connack {code} = {}", mqtt::connack_reason(code))?;
    }
    Ok(())
}

fn integers(o: &mut Out<'_>) -> fmt::Result {
    let mut rng = Lcg::new(0xE5_8266);
    for i in 0..200u32 {
        let a = rng.next_u64();
        // Divisors of every width, never zero.
        let b = match i % 4 {
            0 => u64::from(rng.next_u32() | 1),
            1 => (rng.next_u64() >> (i % 60)) | 1,
            2 => u64::from(rng.next_u32() >> (i % 31)) | 1,
            _ => rng.next_u64() | 1,
        };
        let (x, y) = (a as u32, (b as u32) | 1);
        let s = a as i64;
        let t = (b as i64) | 1;
        writeln!(
            o,
            "int {a:x} {b:x} = {:x} {:x} {:x} {:x} {:x} {} {} {} {}",
            a / b,
            a % b,
            a.wrapping_mul(b),
            x / y,
            x % y,
            s / t,
            s % t,
            (a as f64) as u64,
            (s as f32) as i64,
        )?;
    }
    Ok(())
}

/// u128 arithmetic (64x64->128 products, 128-bit division and shifts): what mqtt-codec's
/// software x87 `long double` is built on. On a 32-bit target these are multi-word helper
/// calls (`__multi3`, `__udivti3`, `__umodti3`, `__ashlti3`, `__lshrti3`).
fn wide_integers(o: &mut Out<'_>) -> fmt::Result {
    let mut rng = Lcg::new(0x80_u32 << 8 | 87);
    for i in 0..200u32 {
        let a = rng.next_u64();
        let b = rng.next_u64() | 1 << 63;
        let p = u128::from(a) * u128::from(b);
        let num = u128::from(a) << 64 | u128::from(rng.next_u64());
        let d = match i % 3 {
            0 => u128::from(b),
            1 => u128::from(rng.next_u32() | 1),
            _ => u128::from(rng.next_u64()) << (i % 60) | 1,
        };
        let sh = i % 128;
        writeln!(
            o,
            "u128 {a:x} {b:x} {num:x} {d:x} = {p:x} {:x} {:x} {:x} {:x} {:x} {:x} {:x}",
            num / d,
            num % d,
            p >> sh,
            num << sh,
            num.wrapping_mul(d),
            (num as i128) / (d as i128 | 1),
            (num as i128) % -(d as i128 | 1),
        )?;
    }
    Ok(())
}
