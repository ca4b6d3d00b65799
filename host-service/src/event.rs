//! Sensor events: parsing an MQTT payload (`["lux-1", 624, 284.1312]`) and the
//! tutorial's output forms (the `SensorEvent(...)` console line and the CSV fields).

use std::fmt;

use serde_json::value::RawValue;

use crate::pyrepr;

/// A reading's value as Python's `json.loads` would give it: an int stays an int.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A JSON integer, kept as its canonical decimal digits (Python ints are unbounded).
    Int(String),
    /// A JSON number with a fraction or exponent; always finite here.
    Float(f64),
}

impl Value {
    /// The value's Python `repr`, as the CSV and console show it.
    pub fn repr(&self) -> String {
        match self {
            Value::Int(digits) => digits.clone(),
            Value::Float(f) => pyrepr::float_repr(*f),
        }
    }
}

/// A valid event from the wire. The device's `ts` (seconds since boot) is checked but
/// not kept: like `server.py`, the service stamps each event with its own clock.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorEvent {
    /// The sensor id, e.g. `lux-1`.
    pub sensor_id: String,
    /// The reading.
    pub value: Value,
}

/// Why a payload was rejected; each kind is counted and logged once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// The payload is not valid UTF-8.
    NotUtf8,
    /// The payload is not JSON.
    NotJson,
    /// JSON, but not `[string, number, number]`.
    WrongShape,
    /// A NaN or infinite number (Python's `NaN`/`Infinity` tokens, or a literal that overflows).
    NonFinite,
    /// Longer than the configured limit.
    TooLarge,
    /// A partial last CSV line found on start (not a message; kept so nothing is lost).
    TornRow,
    /// A message on a topic the configured filter does not match: a subscription an
    /// earlier configuration left in the broker's persistent session (same client id).
    OffTopic,
}

impl RejectKind {
    /// Every kind, in a stable order (for counters and metrics).
    pub const ALL: [RejectKind; 7] = [
        RejectKind::NotUtf8,
        RejectKind::NotJson,
        RejectKind::WrongShape,
        RejectKind::NonFinite,
        RejectKind::TooLarge,
        RejectKind::TornRow,
        RejectKind::OffTopic,
    ];

    /// The kind's name in logs, the rejects file, `/status` and `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::NotUtf8 => "not-utf8",
            RejectKind::NotJson => "not-json",
            RejectKind::WrongShape => "wrong-shape",
            RejectKind::NonFinite => "non-finite",
            RejectKind::TooLarge => "too-large",
            RejectKind::TornRow => "torn-row",
            RejectKind::OffTopic => "off-topic",
        }
    }

    /// Index into [`RejectKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected payload: its kind and a human-readable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct Reject {
    /// The kind, for counting.
    pub kind: RejectKind,
    /// What exactly was wrong.
    pub detail: String,
}

impl Reject {
    fn new(kind: RejectKind, detail: impl Into<String>) -> Self {
        Reject {
            kind,
            detail: detail.into(),
        }
    }
}

/// Parses one payload. `max_len` bounds the payload size in bytes.
pub fn parse_event(payload: &[u8], max_len: usize) -> Result<SensorEvent, Reject> {
    if payload.len() > max_len {
        return Err(Reject::new(
            RejectKind::TooLarge,
            format!("{} bytes, limit {max_len}", payload.len()),
        ));
    }
    let text = std::str::from_utf8(payload)
        .map_err(|e| Reject::new(RejectKind::NotUtf8, e.to_string()))?;
    let items: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(items) => items,
        Err(e) if e.is_data() => {
            return Err(Reject::new(RejectKind::WrongShape, "expected a JSON array"));
        }
        Err(e) => {
            // serde_json refuses number literals beyond f64 ("1e400") and Python's
            // NaN/Infinity tokens; tell those apart from plain garbage.
            let kind = if e.to_string().contains("number out of range")
                || mentions_non_finite_token(text)
            {
                RejectKind::NonFinite
            } else {
                RejectKind::NotJson
            };
            return Err(Reject::new(kind, e.to_string()));
        }
    };
    if items.len() != 3 {
        return Err(Reject::new(
            RejectKind::WrongShape,
            format!(
                "expected 3 items [sensor_id, ts, value], got {}",
                items.len()
            ),
        ));
    }
    let sensor_id: String = serde_json::from_str(items[0].get())
        .map_err(|_| Reject::new(RejectKind::WrongShape, "sensor_id is not a string"))?;
    parse_number(items[1].get()).map_err(|r| r.context("ts"))?;
    let value = parse_number(items[2].get()).map_err(|r| r.context("value"))?;
    Ok(SensorEvent { sensor_id, value })
}

impl Reject {
    fn context(mut self, what: &str) -> Self {
        self.detail = format!("{what}: {}", self.detail);
        self
    }
}

/// A JSON number's raw text to a Python-like value.
fn parse_number(raw: &str) -> Result<Value, Reject> {
    let starts_like_number = raw.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    if !starts_like_number {
        return Err(Reject::new(
            RejectKind::WrongShape,
            format!("not a number: {raw}"),
        ));
    }
    if raw.contains(['.', 'e', 'E']) {
        let f: f64 = raw
            .parse()
            .map_err(|_| Reject::new(RejectKind::WrongShape, format!("bad number {raw}")))?;
        if !f.is_finite() {
            return Err(Reject::new(
                RejectKind::NonFinite,
                format!("{raw} overflows a float"),
            ));
        }
        Ok(Value::Float(f))
    } else {
        // JSON forbids leading zeros, so the digits are canonical except for "-0".
        let digits = raw.trim_start_matches('-');
        if digits.bytes().all(|b| b == b'0') {
            Ok(Value::Int("0".to_owned()))
        } else {
            Ok(Value::Int(raw.to_owned()))
        }
    }
}

/// True if `text` has a NaN/Infinity-like bare word outside strings, and would be JSON
/// with those words replaced by a number (what Python's `json.dumps(float('nan'))` emits).
fn mentions_non_finite_token(text: &str) -> bool {
    let mut replaced = String::with_capacity(text.len());
    let mut found = false;
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_string {
            replaced.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
            replaced.push(c);
            continue;
        }
        if c.is_ascii_alphabetic() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphabetic() {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &text[i..end];
            if matches!(
                word,
                "NaN" | "nan" | "Infinity" | "inf" | "infinity" | "Inf"
            ) {
                found = true;
                replaced.push('0');
            } else {
                replaced.push_str(word);
            }
            continue;
        }
        replaced.push(c);
    }
    found && serde_json::from_str::<serde_json::Value>(&replaced).is_ok()
}

/// One output row: server time, sensor id, value, with the text forms computed once.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Server time, `time.time()`.
    pub ts: f64,
    /// The event.
    pub event: &'a SensorEvent,
    ts_repr: String,
    datetime: String,
    value_repr: String,
}

impl<'a> Row<'a> {
    /// A row for `event` stamped `ts`.
    pub fn new(ts: f64, event: &'a SensorEvent) -> Self {
        Row {
            ts,
            event,
            ts_repr: pyrepr::float_repr(ts),
            datetime: pyrepr::utc_isoformat(ts),
            value_repr: event.value.repr(),
        }
    }

    /// The value's Python repr.
    pub fn value_repr(&self) -> &str {
        &self.value_repr
    }

    /// Appends the console line
    /// `SensorEvent(sensor_id='lux-1', ts=1484535480.613611, val=371.6063)` and a newline.
    pub fn write_console_line(&self, out: &mut String) {
        out.push_str("SensorEvent(sensor_id=");
        pyrepr::write_str_repr(out, &self.event.sensor_id);
        out.push_str(", ts=");
        out.push_str(&self.ts_repr);
        out.push_str(", val=");
        out.push_str(&self.value_repr);
        out.push_str(")\n");
    }

    /// The console line without the newline.
    pub fn console_line(&self) -> String {
        let mut out = String::with_capacity(64 + self.event.sensor_id.len());
        self.write_console_line(&mut out);
        out.pop();
        out
    }

    /// The CSV fields: `timestamp,datetime,sensor_id,value`.
    pub fn csv_fields(&self) -> [&str; 4] {
        [
            &self.ts_repr,
            &self.datetime,
            &self.event.sensor_id,
            &self.value_repr,
        ]
    }
}

/// `time.time()`: the wall clock in seconds as a float, as CPython computes it from
/// nanoseconds.
pub fn python_time_now() -> f64 {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(payload: &[u8]) -> RejectKind {
        parse_event(payload, 1024).unwrap_err().kind
    }

    #[test]
    fn parses_the_tutorial_event() {
        let ev = parse_event(br#"["lux-1", 624, 284.1312]"#, 1024).unwrap();
        assert_eq!(ev.sensor_id, "lux-1");
        assert_eq!(ev.value, Value::Float(284.1312));
        let ev = parse_event(br#"["lux-1", 624, -0]"#, 1024).unwrap();
        assert_eq!(ev.value, Value::Int("0".into()));
    }

    #[test]
    fn classifies_rejects() {
        assert_eq!(kind(b"\xff\xfe"), RejectKind::NotUtf8);
        assert_eq!(kind(b"hi, there"), RejectKind::NotJson);
        assert_eq!(kind(br#"{"a": 1}"#), RejectKind::WrongShape);
        assert_eq!(kind(br#"["lux-1", 624]"#), RejectKind::WrongShape);
        assert_eq!(kind(br#"[1, 624, 2]"#), RejectKind::WrongShape);
        assert_eq!(kind(br#"["a", 624, "2"]"#), RejectKind::WrongShape);
        assert_eq!(kind(br#"["a", 624, true]"#), RejectKind::WrongShape);
        assert_eq!(kind(br#"["a", 624, NaN]"#), RejectKind::NonFinite);
        assert_eq!(kind(br#"["a", 624, -Infinity]"#), RejectKind::NonFinite);
        assert_eq!(kind(br#"["a", 624, 1e400]"#), RejectKind::NonFinite);
        assert_eq!(kind(br#"["NaN", 624, nope]"#), RejectKind::NotJson);
        assert_eq!(kind(&[b' '; 2000]), RejectKind::TooLarge);
    }
}
