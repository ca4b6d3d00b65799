//! Software x87 extended precision (`long double` on x86-64 Linux): a 64-bit significand with
//! an explicit leading bit, every operation rounded to nearest, ties to even.
//!
//! MicroPython's float formatting on the unix x64 port scales doubles by powers of ten in
//! `long double`; to print exactly the digits it prints, we must round exactly where it
//! rounds. Only what that needs is here: positive finite values, `*`, `/`, `+`, and the
//! conversions from `u64`/`f64` and to `u64`/`f64`. Rust has no `f80`, so this is integer
//! arithmetic on `u128`.

/// A non-negative extended-precision value `m * 2^(e - 63)`: `m` has its top bit set, or is 0
/// for zero (then `e` is ignored).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ext {
    m: u64,
    e: i32,
}

const TOP: u64 = 1 << 63;

// Named methods rather than operator traits: `mul` must be a `const fn` (the table of powers
// of ten is built at compile time).
#[allow(clippy::should_implement_trait)]
impl Ext {
    /// Zero.
    pub const ZERO: Ext = Ext { m: 0, e: 0 };
    /// One.
    pub const ONE: Ext = Ext { m: TOP, e: 0 };
    /// One half.
    pub const HALF: Ext = Ext { m: TOP, e: -1 };
    /// Ten.
    pub const TEN: Ext = Ext::from_u64(10);

    /// The exact value of `x`.
    pub const fn from_u64(x: u64) -> Ext {
        if x == 0 {
            return Ext::ZERO;
        }
        let lz = x.leading_zeros();
        Ext {
            m: x << lz,
            e: 63 - lz as i32,
        }
    }

    /// The exact value of `|x|` for a finite `x`.
    pub fn from_f64(x: f64) -> Ext {
        let bits = x.to_bits() & !(1 << 63);
        let exp = (bits >> 52) as i32;
        let frac = bits & ((1 << 52) - 1);
        if exp == 0 {
            // Subnormal (or zero): frac * 2^-1074.
            let mut r = Ext::from_u64(frac);
            r.e -= 1074;
            r
        } else {
            Ext {
                m: (frac | 1 << 52) << 11,
                e: exp - 1023,
            }
        }
    }

    /// Is this zero?
    pub const fn is_zero(self) -> bool {
        self.m == 0
    }

    /// `self * rhs`, rounded.
    pub const fn mul(self, rhs: Ext) -> Ext {
        if self.m == 0 || rhs.m == 0 {
            return Ext::ZERO;
        }
        let p = self.m as u128 * rhs.m as u128; // in [2^126, 2^128)
        let e = self.e + rhs.e;
        if p >> 127 != 0 {
            round_shift(p, 64, e + 1)
        } else {
            round_shift(p, 63, e)
        }
    }

    /// `self / rhs` (`rhs` non-zero), rounded.
    pub fn div(self, rhs: Ext) -> Ext {
        if self.m == 0 {
            return Ext::ZERO;
        }
        let num = (self.m as u128) << 64;
        let d = rhs.m as u128;
        let (q, r) = (num / d, num % d);
        let e = self.e - rhs.e;
        if q >> 64 != 0 {
            // q in [2^64, 2^65): one bit below the significand, the remainder is sticky.
            let m = (q >> 1) as u64;
            let up = q & 1 == 1 && (r != 0 || m & 1 == 1);
            bump(m, e, up)
        } else {
            // q in [2^63, 2^64): the remainder alone decides the rounding.
            let m = q as u64;
            let twice = r << 1;
            let up = twice > d || (twice == d && m & 1 == 1);
            bump(m, e - 1, up)
        }
    }

    /// `self + rhs`, rounded.
    pub const fn add(self, rhs: Ext) -> Ext {
        if self.m == 0 {
            return rhs;
        }
        if rhs.m == 0 {
            return self;
        }
        let (a, b) = if self.e > rhs.e || (self.e == rhs.e && self.m >= rhs.m) {
            (self, rhs)
        } else {
            (rhs, self)
        };
        let d = (a.e - b.e) as u32;
        // Leading bit of `a` at bit 125: room for the carry, 62 bits below for rounding.
        let big = (a.m as u128) << 62;
        let small = if d >= 126 {
            1 // only a sticky bit remains
        } else {
            let s = (b.m as u128) << 62;
            let lost = s & ((1u128 << d) - 1) != 0;
            (s >> d) | lost as u128
        };
        let sum = big + small;
        if sum >> 126 != 0 {
            round_shift(sum, 63, a.e + 1)
        } else {
            round_shift(sum, 62, a.e)
        }
    }

    /// `(uint64_t)self`: truncation toward zero (the value must be below 2^64).
    pub const fn to_u64(self) -> u64 {
        if self.m == 0 || self.e < 0 {
            0
        } else if self.e >= 64 {
            u64::MAX
        } else {
            self.m >> (63 - self.e)
        }
    }

    /// `(double)self`, rounded to nearest even, with gradual underflow and overflow to infinity.
    pub fn to_f64(self) -> f64 {
        if self.m == 0 {
            return 0.0;
        }
        if self.e > 1023 {
            return f64::INFINITY;
        }
        if self.e >= -1022 {
            // Keep 53 significant bits.
            let (mut m53, rem) = (self.m >> 11, self.m & 0x7FF);
            let mut e = self.e;
            if rem > 0x400 || (rem == 0x400 && m53 & 1 == 1) {
                m53 += 1;
                if m53 == 1 << 53 {
                    m53 >>= 1;
                    e += 1;
                }
            }
            if e > 1023 {
                return f64::INFINITY;
            }
            return f64::from_bits(((e + 1023) as u64) << 52 | (m53 & ((1 << 52) - 1)));
        }
        // Subnormal: count units of 2^-1074. value = m * 2^(e - 63) = m >> (-e - 1011) units.
        let shift = (-self.e - 1011) as u32; // >= 12
        if shift >= 66 {
            return 0.0; // below a quarter unit
        }
        let wide = (self.m as u128) << 2; // two spare bits so shift - 2 >= 10 stays in range
        let s = shift + 2;
        let units = (wide >> s) as u64;
        let rem = wide & ((1u128 << s) - 1);
        let half = 1u128 << (s - 1);
        let units = if rem > half || (rem == half && units & 1 == 1) {
            units + 1
        } else {
            units
        };
        // units == 2^52 is the smallest normal, which the same bit pattern encodes.
        f64::from_bits(units)
    }

    /// `self * 10^k` computed as MicroPython's `mp_decimal_exp` does in `long double`:
    /// multiply (or divide, for k < 0) by 10^(2^i) for each set bit i of |k|, lowest first,
    /// where 10^(2^i) is obtained by repeated squaring in `long double`.
    pub fn scale10(self, k: i32) -> Ext {
        if k == 0 || self.m == 0 {
            return self;
        }
        let mut n = k.unsigned_abs();
        let mut res = self;
        let mut i = 0;
        while n != 0 {
            if n & 1 == 1 {
                let p = pow10_pow2(i);
                res = if k < 0 { res.div(p) } else { res.mul(p) };
            }
            n >>= 1;
            i += 1;
        }
        res
    }
}

/// Round `v >> shift` to nearest even; `e` is the exponent of the leading bit of the result.
const fn round_shift(v: u128, shift: u32, e: i32) -> Ext {
    let m = (v >> shift) as u64;
    let rem = v & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    bump(m, e, rem > half || (rem == half && m & 1 == 1))
}

const fn bump(m: u64, e: i32, up: bool) -> Ext {
    if !up {
        return Ext { m, e };
    }
    match m.checked_add(1) {
        Some(m) => Ext { m, e },
        None => Ext { m: TOP, e: e + 1 },
    }
}

/// 10^(2^i) by repeated squaring, as `mp_decimal_exp` computes it (i < 12 covers every exponent
/// a double needs; larger i keeps squaring into the huge `long double` range).
fn pow10_pow2(i: u32) -> Ext {
    const fn table() -> [Ext; 12] {
        let mut t = [Ext::TEN; 12];
        let mut i = 1;
        while i < 12 {
            t[i] = t[i - 1].mul(t[i - 1]);
            i += 1;
        }
        t
    }
    const T: [Ext; 12] = table();
    if (i as usize) < T.len() {
        T[i as usize]
    } else {
        let mut p = T[T.len() - 1];
        for _ in T.len() as u32..=i {
            p = p.mul(p);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_small_values() {
        assert_eq!(Ext::from_u64(10).mul(Ext::from_u64(10)).to_u64(), 100);
        assert_eq!(Ext::from_u64(7).div(Ext::from_u64(2)).to_f64(), 3.5);
        assert_eq!(Ext::from_f64(0.5).add(Ext::from_u64(2)).to_f64(), 2.5);
        assert_eq!(
            Ext::from_f64(1.0).scale10(19).to_u64(),
            10_000_000_000_000_000_000
        );
        assert_eq!(Ext::from_f64(123.0).scale10(-1).to_f64(), 12.3);
        assert_eq!(Ext::from_f64(5e-324).to_f64(), 5e-324);
        assert_eq!(Ext::from_f64(f64::MAX).to_f64(), f64::MAX);
        assert_eq!(
            Ext::from_f64(f64::MAX).mul(Ext::TEN).to_f64(),
            f64::INFINITY
        );
        assert_eq!(
            Ext::from_f64(2.2250738585072014e-308).to_f64(),
            2.2250738585072014e-308
        );
    }

    #[test]
    fn ties_round_to_even() {
        // 2^64 - 1 needs 64 bits: exact. Adding 0.5 to an odd integer >= 2^63 ties up to even.
        let odd = Ext::from_u64((1 << 63) + 1);
        assert_eq!(odd.add(Ext::from_f64(0.5)).to_u64(), (1 << 63) + 2);
        let even = Ext::from_u64(1 << 63);
        assert_eq!(even.add(Ext::from_f64(0.5)).to_u64(), 1 << 63);
    }

    /// The real x87 unit, to check the model against (the host is x86-64).
    #[cfg(target_arch = "x86_64")]
    mod x87 {
        use core::arch::asm;

        #[repr(C, align(16))]
        #[derive(Copy, Clone, Default)]
        pub struct F80 {
            pub m: u64,
            pub se: u16,
            pad: [u16; 3],
        }

        pub fn from(e: super::Ext) -> F80 {
            if e.m == 0 {
                return F80::default();
            }
            F80 {
                m: e.m,
                se: (e.e + 16383) as u16,
                pad: [0; 3],
            }
        }
        pub fn to(x: F80) -> super::Ext {
            if x.m == 0 {
                return super::Ext::ZERO;
            }
            super::Ext {
                m: x.m,
                e: (x.se & 0x7fff) as i32 - 16383,
            }
        }

        macro_rules! op {
            ($name:ident, $insn:literal) => {
                pub fn $name(a: F80, b: F80) -> F80 {
                    let mut out = F80::default();
                    unsafe {
                        asm!(
                            "fld tbyte ptr [{a}]",
                            "fld tbyte ptr [{b}]",
                            $insn,
                            "fstp tbyte ptr [{o}]",
                            a = in(reg) &a, b = in(reg) &b, o = in(reg) &mut out,
                            out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                            out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                        );
                    }
                    out
                }
            };
        }
        op!(mul, "fmulp st(1), st");
        op!(div, "fdivp st(1), st"); // st(1) = st(1) / st(0) = a / b
        op!(add, "faddp st(1), st");

        pub fn to_f64(a: F80) -> f64 {
            let mut out = 0f64;
            unsafe {
                asm!(
                    "fld tbyte ptr [{a}]",
                    "fstp qword ptr [{o}]",
                    a = in(reg) &a, o = in(reg) &mut out,
                    out("st(0)") _, out("st(1)") _, out("st(2)") _, out("st(3)") _,
                    out("st(4)") _, out("st(5)") _, out("st(6)") _, out("st(7)") _,
                );
            }
            out
        }
    }

    /// A small xorshift generator: deterministic, no dependencies.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn ext(&mut self, span: i32) -> Ext {
            let m = self.next() | TOP;
            // Mostly low bits random; sometimes exactly representable values to hit ties.
            let m = if self.next().is_multiple_of(4) {
                m & !((1 << (self.next() % 60)) - 1) | TOP
            } else {
                m
            };
            Ext {
                m,
                e: (self.next() % (2 * span as u64 + 1)) as i32 - span,
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn matches_x87_unit() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200_000 {
            let (a, b) = (rng.ext(1100), rng.ext(1100));
            assert_eq!(
                a.mul(b),
                x87::to(x87::mul(x87::from(a), x87::from(b))),
                "{a:?} * {b:?}"
            );
            assert_eq!(
                a.div(b),
                x87::to(x87::div(x87::from(a), x87::from(b))),
                "{a:?} / {b:?}"
            );
            let c = rng.ext(70);
            let d = Ext {
                m: c.m,
                e: c.e - (rng.next() % 140) as i32,
            };
            assert_eq!(
                c.add(d),
                x87::to(x87::add(x87::from(c), x87::from(d))),
                "{c:?} + {d:?}"
            );
            let f = Ext {
                m: a.m,
                e: (rng.next() % 2200) as i32 - 1150,
            };
            let want = x87::to_f64(x87::from(f));
            assert_eq!(f.to_f64().to_bits(), want.to_bits(), "(double){f:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn powers_of_ten_match_x87_squaring() {
        let mut p = x87::from(Ext::TEN);
        for i in 0..12 {
            assert_eq!(pow10_pow2(i), x87::to(p), "10^(2^{i})");
            p = x87::mul(p, p);
        }
    }
}
