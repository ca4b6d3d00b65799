//! 128-bit division helpers for the ESP8266 (Xtensa lx106) with the calling convention that
//! LLVM's calls to them actually use.
//!
//! rustc 1.95's LLVM passes the second `i128` of a libcall split: its low two words in a6/a7,
//! its high two on the stack. `compiler_builtins`' `__udivti3` & co. (built by the same LLVM
//! from Rust) expect that argument wholly on the stack, so every `u128 / u128` and `% `
//! (e.g. in mqtt-codec's software `long double`) computes garbage on this target
//! (found by mpy-native/xtensa-check, which runs them under QEMU against the host).
//! These strong definitions take the eight argument words as scalars, which both sides place
//! identically (a2..a7, then the stack), and win over `compiler_builtins`' weak ones at
//! link time. The `u128` result comes back in a2..a5 on both sides already.
//!
//! Only shifts, compares, subtraction and 64-bit division are used here: none of them calls a
//! helper with a split argument (checked by the same QEMU test).

#[inline(always)]
fn join(w0: u32, w1: u32, w2: u32, w3: u32) -> u128 {
    u128::from(w0) | u128::from(w1) << 32 | u128::from(w2) << 64 | u128::from(w3) << 96
}

/// `(n / d, n % d)` for `d != 0` (the `/` and `%` operators check for zero before calling).
fn udivmod(n: u128, d: u128) -> (u128, u128) {
    if n < d {
        return (0, n);
    }
    if n >> 64 == 0 {
        // Both fit in 64 bits: __udivdi3/__umoddi3 take their two u64s in a2..a5.
        let (n, d) = (n as u64, d as u64);
        return (u128::from(n / d), u128::from(n % d));
    }
    // Shift-and-subtract, one quotient bit per step, from the highest possible one.
    let shift = d.leading_zeros() - n.leading_zeros();
    let mut d = d << shift;
    let (mut q, mut r) = (0u128, n);
    for _ in 0..=shift {
        q <<= 1;
        if r >= d {
            r -= d;
            q |= 1;
        }
        d >>= 1;
    }
    (q, r)
}

fn idivmod(n: i128, d: i128) -> (i128, i128) {
    let (q, r) = udivmod(n.unsigned_abs(), d.unsigned_abs());
    // Truncating division: the quotient is negative when the signs differ, the remainder
    // takes the dividend's sign. Wrapping covers i128::MIN / -1 (the operator traps first).
    let q = if (n < 0) != (d < 0) {
        (q as i128).wrapping_neg()
    } else {
        q as i128
    };
    let r = if n < 0 {
        (r as i128).wrapping_neg()
    } else {
        r as i128
    };
    (q, r)
}

macro_rules! helper {
    ($name:ident, $f:ident, $t:ty, $pick:tt) => {
        #[doc = concat!("`", stringify!($name), "` with the argument layout LLVM's calls use.")]
        #[no_mangle]
        #[allow(clippy::too_many_arguments)]
        pub extern "C" fn $name(
            a0: u32,
            a1: u32,
            a2: u32,
            a3: u32,
            b0: u32,
            b1: u32,
            b2: u32,
            b3: u32,
        ) -> $t {
            $f(join(a0, a1, a2, a3) as $t, join(b0, b1, b2, b3) as $t).$pick
        }
    };
}

helper!(__udivti3, udivmod, u128, 0);
helper!(__umodti3, udivmod, u128, 1);
helper!(__divti3, idivmod, i128, 0);
helper!(__modti3, idivmod, i128, 1);
