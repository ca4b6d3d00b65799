//! MicroPython's millisecond ticks arithmetic (`time.ticks_diff`), so a module can compare
//! `time.ticks_ms()` values without calling back into the runtime.

/// The ticks period of a port whose words have `word_bits` bits: `MICROPY_PY_TIME_TICKS_PERIOD`,
/// by default the small-int range, `MP_SMALL_INT_POSITIVE_MASK + 1` = 2^(word_bits - 2) (2^30 on
/// the ESP8266, 2^62 on x64).
pub const fn period(word_bits: u32) -> usize {
    1 << (word_bits - 2)
}

/// `time.ticks_diff(end, start)` for ticks that wrap at `period` (a power of two): the signed
/// difference in `-period/2 .. period/2`, as MicroPython computes it.
pub fn ticks_diff(end: isize, start: isize, period: usize) -> isize {
    let half = period / 2;
    ((end.wrapping_sub(start) as usize).wrapping_add(half) & (period - 1)) as isize - half as isize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_wraps_like_micropython() {
        for bits in [32u32, 64] {
            let p = period(bits);
            let max = (p - 1) as isize; // the largest ticks value
            let half = (p / 2) as isize;
            assert_eq!(ticks_diff(1500, 500, p), 1000);
            assert_eq!(ticks_diff(500, 1500, p), -1000);
            assert_eq!(ticks_diff(0, max, p), 1, "wrapped once");
            assert_eq!(ticks_diff(9, max - 10, p), 20);
            assert_eq!(ticks_diff(max - 10, 9, p), -20);
            assert_eq!(ticks_diff(half - 1, 0, p), half - 1);
            assert_eq!(ticks_diff(half, 0, p), -half, "half a period reads as negative");
        }
        assert_eq!(period(32), 1 << 30);
    }
}
