//! Text from the network (topics, client ids, payload details) in log lines and in
//! the rejects file's header lines: control characters and line separators escaped, so
//! a topic can't start a new log line or forge a record.

use std::borrow::Cow;

fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// `s` with control characters (`\n`, `\r`, ESC, DEL, C1) and Unicode line separators
/// written as Rust escapes (`\n`, `\u{1b}`); other text unchanged.
pub fn escape_controls(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn controls_are_escaped_text_is_not() {
        assert_eq!(escape_controls("sensor-data/é ☀"), "sensor-data/é ☀");
        assert_eq!(
            escape_controls("a\nINFO forged\r\u{1b}[31m\u{2028}"),
            "a\\nINFO forged\\r\\u{1b}[31m\\u{2028}"
        );
    }
}
