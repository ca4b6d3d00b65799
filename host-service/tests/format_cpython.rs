//! The Python-compatible formatting checked against a real CPython over many values:
//! `repr(float)`, `repr(str)`, `datetime.utcfromtimestamp(ts).isoformat()`, and the
//! `csv` module's quoting of a whole row.

mod common;

use host_service::event::{parse_event, Row};
use host_service::pyrepr::{float_repr, str_repr, utc_isoformat};

/// xorshift64*: deterministic values without a rand dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn floats() -> Vec<f64> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v = vec![
        0.0,
        -0.0,
        1.0,
        284.0,
        371.6063,
        284.1312,
        0.1,
        0.3,
        1e16,
        1e15,
        9999999999999998.0,
        1e17,
        1e-4,
        1e-5,
        0.00012345,
        1.5e-5,
        5e-324,
        f64::MIN_POSITIVE,
        f64::MAX,
        -f64::MAX,
        123456789012345678.0,
        1484535480.613611,
        2.5,
        1e22,
        1e23,
        0.000999,
        100.0,
        1e300,
        12345678901234567890.0,
    ];
    for e in -30..30 {
        let p = 10f64.powi(e);
        v.extend([
            p,
            -p,
            p * 1.5,
            p * (1.0 - f64::EPSILON),
            p * (1.0 + f64::EPSILON),
        ]);
    }
    for i in 0..3000u64 {
        // Subnormals, where short ties are possible.
        v.push(f64::from_bits(i * 7919 % 100_000));
        v.push(f64::from_bits(rng.next() >> 12));
        // Random bit patterns (finite only) and "sensor-like" decimals.
        let f = f64::from_bits(rng.next());
        if f.is_finite() {
            v.push(f);
        }
        v.push((rng.below(10_000_000) as f64) / 10f64.powi(rng.below(8) as i32));
        v.push(rng.below(4_000_000_000) as f64 + (rng.below(1_000_000_000) as f64) / 1e9);
    }
    v
}

#[test]
fn float_repr_matches_cpython() {
    let values = floats();
    let input: String = values
        .iter()
        .map(|f| format!("{:016x}\n", f.to_bits()))
        .collect();
    let out = common::python(
        "import sys, struct\n\
         for line in sys.stdin:\n\
         \x20   print(repr(struct.unpack('>d', bytes.fromhex(line.strip()))[0]))\n",
        input.as_bytes(),
    );
    let expected: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert_eq!(expected.len(), values.len());
    let mut bad = Vec::new();
    for (f, want) in values.iter().zip(&expected) {
        let got = float_repr(*f);
        if got != *want {
            bad.push(format!("{f:e}: got {got}, CPython {want}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn isoformat_matches_cpython() {
    let mut rng = Rng(12345);
    let mut ts: Vec<f64> = vec![
        0.0,
        1484535480.613611,
        951782400.5,
        1.0000005,
        1.0000015,
        1.9999995,
        4102444799.9999995,
    ];
    for _ in 0..3000 {
        ts.push(rng.below(4_102_444_800) as f64 + (rng.below(1_000_000_000) as f64) / 1e9);
        // Exactly half a microsecond after a whole one: round-half-even territory.
        ts.push(rng.below(2_000_000_000) as f64 + (rng.below(1_000_000) as f64 + 0.5) / 1e6);
        ts.push(rng.below(4_102_444_800) as f64);
    }
    let input: String = ts
        .iter()
        .map(|f| format!("{:016x}\n", f.to_bits()))
        .collect();
    let out = common::python(
        "import sys, struct, warnings\nwarnings.simplefilter('ignore')\n\
         from datetime import datetime\n\
         for line in sys.stdin:\n\
         \x20   t = struct.unpack('>d', bytes.fromhex(line.strip()))[0]\n\
         \x20   print(datetime.utcfromtimestamp(t).isoformat())\n",
        input.as_bytes(),
    );
    let expected: Vec<&str> = std::str::from_utf8(&out).unwrap().lines().collect();
    assert_eq!(expected.len(), ts.len());
    let bad: Vec<String> = ts
        .iter()
        .zip(&expected)
        .filter(|(t, want)| utc_isoformat(**t) != **want)
        .map(|(t, want)| format!("{t:?}: got {}, CPython {want}", utc_isoformat(*t)))
        .collect();
    assert!(
        bad.is_empty(),
        "{} mismatches, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

fn strings() -> Vec<String> {
    let mut rng = Rng(777);
    let mut v: Vec<String> = [
        "lux-1",
        "",
        "it's",
        "say \"hi\"",
        "both ' and \"",
        "back\\slash",
        "tab\there",
        "new\nline",
        "cr\r",
        "\u{0}\u{1}\u{1f}\u{7f}",
        "\u{80}\u{9f}\u{a0}\u{ad}",
        "héllo wörld",
        "日本語",
        "emoji 😀",
        "\u{2028}\u{2029}\u{200b}\u{feff}",
        "\u{e000}\u{f8ff}",
        "\u{378}",
        "\u{10ffff}",
        "\u{1d400}",
        // Assigned in Unicode 15.0-16.0, unassigned in CPython 3.11's 14.0.
        "\u{0cf3}\u{11f00}\u{1e4d0}\u{31350}\u{2ebf0}\u{1fae8}",
        "a,b",
        "x\"y",
        " lead",
        "trail ",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Random strings drawn from interesting ranges.
    let ranges: [(u32, u32); 11] = [
        (0x20, 0x7f),
        (0, 0x20),
        (0x7f, 0x100),
        (0x100, 0x800),
        (0x2000, 0x2100),
        (0x3000, 0x3100),
        (0xfe00, 0x10000),
        (0x1f300, 0x1f700),
        (0xe0000, 0xe0100),
        (0x1fa00, 0x1fb00),
        (0x11f00, 0x11f60),
    ];
    for _ in 0..2000 {
        let len = rng.below(6) as usize + 1;
        let s: String = (0..len)
            .filter_map(|_| {
                let (lo, hi) = ranges[rng.below(ranges.len() as u64) as usize];
                char::from_u32(lo + rng.below(u64::from(hi - lo)) as u32)
            })
            .collect();
        v.push(s);
    }
    v
}

#[test]
fn str_repr_matches_cpython() {
    let values = strings();
    let input: String = values
        .iter()
        .map(|s| serde_json::to_string(s).unwrap() + "\n")
        .collect();
    // Every string compared, including characters assigned after CPython 3.11's
    // Unicode 14.0 (CPython escapes them; so must we).
    let out = common::python(
        "import sys, json\n\
         for line in sys.stdin:\n\
         \x20   print(json.dumps(repr(json.loads(line))))\n",
        input.as_bytes(),
    );
    let mut bad = Vec::new();
    for (s, line) in values
        .iter()
        .zip(std::str::from_utf8(&out).unwrap().lines())
    {
        let want: String = serde_json::from_str(line).unwrap();
        let got = str_repr(s);
        if got != want {
            bad.push(format!("{s:?}: got {got}, CPython {want}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches, first: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn whole_row_matches_python_csv_and_namedtuple() {
    // The same inputs through our code and through the tutorial's logic in CPython.
    let mut rng = Rng(4242);
    let ids = strings();
    let mut cases = Vec::new();
    for (i, id) in ids.iter().enumerate().take(600) {
        let value = match i % 4 {
            0 => format!("{}", rng.below(100_000) as i64 - 50_000),
            1 => float_repr((rng.below(10_000_000) as f64) / 10f64.powi(rng.below(6) as i32)),
            2 => float_repr(f64::from_bits(rng.next() & 0x7fef_ffff_ffff_ffff)),
            _ => "1e-7".to_owned(),
        };
        let payload = format!("[{}, {}, {}]", serde_json::to_string(id).unwrap(), i, value);
        let ts = 1.7e9 + (rng.below(1_000_000_000_000) as f64) / 1e6;
        cases.push((payload, ts));
    }
    let mut ours = Vec::new();
    let mut wtr = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(&mut ours);
    let mut lines = String::new();
    for (payload, ts) in &cases {
        let ev = parse_event(payload.as_bytes(), 4096).unwrap();
        let row = Row::new(*ts, &ev);
        wtr.write_record(row.csv_fields()).unwrap();
        lines.push_str(&row.console_line());
        lines.push('\n');
    }
    drop(wtr);
    let input: String = cases
        .iter()
        .map(|(p, ts)| {
            serde_json::to_string(&(p, format!("{:016x}", ts.to_bits()))).unwrap() + "\n"
        })
        .collect();
    let out = common::python(
        "import sys, json, csv, io, struct, warnings\nwarnings.simplefilter('ignore')\n\
         from collections import namedtuple\nfrom datetime import datetime\n\
         SensorEvent = namedtuple('SensorEvent', ['sensor_id', 'ts', 'val'])\n\
         buf = io.StringIO(newline='')\nw = csv.writer(buf)\nlines = []\n\
         for line in sys.stdin:\n\
         \x20   payload, tshex = json.loads(line)\n\
         \x20   sid, _, val = json.loads(payload)\n\
         \x20   ts = struct.unpack('>d', bytes.fromhex(tshex))[0]\n\
         \x20   ev = SensorEvent(sensor_id=sid, ts=ts, val=val)\n\
         \x20   lines.append(repr(ev))\n\
         \x20   w.writerow([ev.ts, datetime.utcfromtimestamp(ev.ts).isoformat(), ev.sensor_id, ev.val])\n\
         sys.stdout.write(json.dumps([buf.getvalue(), lines]))\n",
        input.as_bytes(),
    );
    let (want_csv, want_lines): (String, Vec<String>) = serde_json::from_slice(&out).unwrap();
    let ours = String::from_utf8(ours).unwrap();
    assert_eq!(ours, want_csv, "CSV differs from Python's csv module");
    let got_lines: Vec<&str> = lines.lines().collect();
    let mut bad = 0;
    for (g, w) in got_lines.iter().zip(&want_lines) {
        if g != w {
            bad += 1;
            eprintln!("console line differs:\n ours   {g}\n python {w}");
        }
    }
    assert_eq!(bad, 0);
    assert_eq!(got_lines.len(), want_lines.len());
}
