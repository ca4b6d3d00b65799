//! Table test of the lux maths against the reference formula, recomputed here
//! in f64 in the reference's operation order.

use tsl2591_driver::{calculate_lux, calculate_lux_f64, is_saturated, Gain, IntegrationTime};

const ITS: [(IntegrationTime, f64); 6] = [
    (IntegrationTime::Ms100, 100.0),
    (IntegrationTime::Ms200, 200.0),
    (IntegrationTime::Ms300, 300.0),
    (IntegrationTime::Ms400, 400.0),
    (IntegrationTime::Ms500, 500.0),
    (IntegrationTime::Ms600, 600.0),
];
const GAINS: [(Gain, f64); 4] = [
    (Gain::Low, 1.0),
    (Gain::Medium, 25.0),
    (Gain::High, 428.0),
    (Gain::Max, 9876.0),
];
const COUNTS: [(u16, u16); 10] = [
    (0, 0),
    (611, 284),
    (1, 0),
    (0, 1), // more IR than full: negative, not clamped
    (100, 100),
    (37888, 1200),
    (65534, 65534),
    (65535, 10), // saturated ch0
    (10, 65535), // saturated ch1
    (65535, 65535),
];

fn reference(atime: f64, again: f64, full: u16, ir: u16) -> f64 {
    if full == 0xFFFF || ir == 0xFFFF {
        return 0.0;
    }
    let (full, ir) = (full as f64, ir as f64);
    let cpl = (atime * again) / 408.0;
    let lux1 = (full - (1.64 * ir)) / cpl;
    let lux2 = ((0.59 * full) - (0.86 * ir)) / cpl;
    if lux2 > lux1 {
        lux2
    } else {
        lux1
    }
}

#[test]
fn f64_matches_reference_bit_for_bit() {
    let mut checked = 0;
    for &(it, atime) in &ITS {
        for &(gain, again) in &GAINS {
            for &(ch0, ch1) in &COUNTS {
                let expected = reference(atime, again, ch0, ch1);
                let got = calculate_lux_f64(it, gain, ch0, ch1);
                if is_saturated(ch0, ch1) {
                    assert_eq!(got, None, "{it:?} {gain:?} {ch0} {ch1}");
                } else {
                    assert_eq!(
                        got.map(f64::to_bits),
                        Some(expected.to_bits()),
                        "{it:?} {gain:?} {ch0} {ch1}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 6 * 4 * COUNTS.len());
}

#[test]
fn f32_is_close_to_reference() {
    for &(it, atime) in &ITS {
        for &(gain, again) in &GAINS {
            for &(ch0, ch1) in &COUNTS {
                let expected = reference(atime, again, ch0, ch1);
                match calculate_lux_f32_or_none(it, gain, ch0, ch1) {
                    None => assert!(is_saturated(ch0, ch1)),
                    Some(got) => {
                        let tol = 1e-5 * expected.abs().max(1e-3);
                        assert!(
                            (got as f64 - expected).abs() <= tol,
                            "{it:?} {gain:?} {ch0} {ch1}: {got} vs {expected}"
                        );
                    }
                }
            }
        }
    }
}

fn calculate_lux_f32_or_none(it: IntegrationTime, gain: Gain, ch0: u16, ch1: u16) -> Option<f32> {
    calculate_lux(it, gain, ch0, ch1)
}

#[test]
fn known_values() {
    // 611 full, 284 IR at 100 ms / x1: cpl = 0.245098..., lux1 = 145.24 / cpl.
    let lux = calculate_lux_f64(IntegrationTime::Ms100, Gain::Low, 611, 284).unwrap();
    assert!((lux - 592.5792).abs() < 1e-3, "{lux}");
    // Zero light is zero lux.
    assert_eq!(
        calculate_lux_f64(IntegrationTime::Ms100, Gain::Low, 0, 0),
        Some(0.0)
    );
    // Pure IR gives a negative value, as in the reference (no clamping).
    assert!(calculate_lux_f64(IntegrationTime::Ms100, Gain::Low, 0, 100).unwrap() < 0.0);
}

#[test]
fn codes_round_trip() {
    for &(it, atime) in &ITS {
        assert_eq!(IntegrationTime::from_code(it.code()), Some(it));
        assert_eq!(it.as_ms() as f64, atime);
    }
    assert_eq!(IntegrationTime::from_code(6), None);
    for &(gain, again) in &GAINS {
        assert_eq!(Gain::from_code(gain.code()), Some(gain));
        assert_eq!(gain.factor() as f64, again);
    }
    assert_eq!(Gain::from_code(0x01), None);
    assert_eq!(Gain::Low.lower(), None);
    assert_eq!(Gain::Max.higher(), None);
    assert_eq!(
        Gain::Low
            .higher()
            .and_then(Gain::higher)
            .and_then(Gain::higher),
        Some(Gain::Max)
    );
}

/// `lux_fraction` is the same formula as exact integers: both parts fit the ESP8266's 31-bit
/// small ints for every setting and count, and the fraction agrees with the step-by-step f64
/// formula to within that formula's own rounding (relative to the size of its two terms).
#[test]
fn lux_fraction_is_the_formula_in_exact_integers() {
    use tsl2591_driver::lux_fraction;
    let mut counts: Vec<u16> = (0..=65535u32).step_by(257).map(|c| c as u16).collect();
    counts.extend([1, 2, 611, 284, 65533, 65534, 65535]);
    for (it, atime) in ITS {
        for (gain, again) in GAINS {
            for &full in &counts {
                for &ir in counts.iter().step_by(7) {
                    let Some((n, d)) = lux_fraction(it, gain, full, ir) else {
                        assert!(is_saturated(full, ir));
                        continue;
                    };
                    let small = -(1i64 << 30)..(1i64 << 30);
                    assert!(small.contains(&(n as i64)) && small.contains(&(d as i64)) && d > 0, "{n}/{d}");
                    let exact = n as f64 / d as f64; // both exact in f64: one rounding
                    let stepwise = reference(atime, again, full, ir);
                    let terms = (full as f64 + 1.64 * ir as f64) / (atime * again / 408.0);
                    assert!((exact - stepwise).abs() <= 1e-14 * terms.max(1e-300), "{full} {ir}: {exact} {stepwise}");
                }
            }
        }
    }
    // The extremes of the numerator and the denominator.
    assert_eq!(lux_fraction(IntegrationTime::Ms600, Gain::Max, 65534, 0), Some((668_446_800, 148_140_000)));
    assert_eq!(lux_fraction(IntegrationTime::Ms100, Gain::Low, 0, 65534).map(|f| f.0), Some(-574_864_248));
}

/// `lux_fraction_codes` (the register codes a MicroPython module stores) is `lux_fraction` of
/// the same settings, and `None` for codes out of range.
#[test]
fn lux_fraction_codes_matches_lux_fraction() {
    use tsl2591_driver::{lux_fraction, lux_fraction_codes};
    let counts = [0u16, 1, 284, 611, 36863, 65534, 65535];
    for (it, _) in ITS {
        for (gain, _) in GAINS {
            for full in counts {
                for ir in counts {
                    assert_eq!(lux_fraction_codes(it.code(), gain.code(), full, ir), lux_fraction(it, gain, full, ir));
                }
            }
        }
    }
    for (it, gain) in [(6u8, 0u8), (0, 0x08), (0, 0x40), (255, 0xF0)] {
        assert_eq!(lux_fraction_codes(it, gain, 611, 284), None);
    }
}
