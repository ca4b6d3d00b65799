//! JSON text as MicroPython's `json.dumps` writes it, into a caller's byte slice.
//!
//! MicroPython's rules (read off py/objstr.c, py/objfloat.c, extmod/modjson.c): items are
//! separated by `", "`; a tuple or list is `[...]`; `True`/`False`/`None` are
//! `true`/`false`/`null`; ints are plain decimal; floats are `repr(float)` (so `nan`, `inf`
//! and `-inf` appear as such, which is not strict JSON but is what the runtime sends); in
//! strings `"` and `\` get a backslash, `\n` `\r` `\t` their escapes, other bytes below 0x20
//! `\u00XX` (lowercase hex), and everything else (DEL, UTF-8) is copied as is.

use crate::repr::repr_f64;

/// The output slice is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Full;

/// Writes JSON into `buf`, tracking the length.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// An empty writer over `buf`.
    pub fn new(buf: &'a mut [u8]) -> Writer<'a> {
        Writer { buf, len: 0 }
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }
    /// Nothing written yet?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Raw bytes (already JSON).
    pub fn raw(&mut self, b: &[u8]) -> Result<(), Full> {
        let end = self.len + b.len();
        if end > self.buf.len() {
            return Err(Full);
        }
        self.buf[self.len..end].copy_from_slice(b);
        self.len = end;
        Ok(())
    }
    fn byte(&mut self, b: u8) -> Result<(), Full> {
        if self.len == self.buf.len() {
            return Err(Full);
        }
        self.buf[self.len] = b;
        self.len += 1;
        Ok(())
    }

    /// `[`.
    pub fn begin_list(&mut self) -> Result<(), Full> {
        self.byte(b'[')
    }
    /// The separator before item `index` of a list (nothing before the first).
    pub fn item_sep(&mut self, index: usize) -> Result<(), Full> {
        if index > 0 {
            self.raw(b", ")
        } else {
            Ok(())
        }
    }
    /// `]`.
    pub fn end_list(&mut self) -> Result<(), Full> {
        self.byte(b']')
    }

    /// `null`.
    pub fn null(&mut self) -> Result<(), Full> {
        self.raw(b"null")
    }
    /// `true` / `false`.
    pub fn bool(&mut self, b: bool) -> Result<(), Full> {
        self.raw(if b { b"true" } else { b"false" })
    }
    /// A decimal integer.
    pub fn int(&mut self, v: i64) -> Result<(), Full> {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut u = v.unsigned_abs();
        loop {
            i -= 1;
            tmp[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        if v < 0 {
            self.byte(b'-')?;
        }
        self.raw(&tmp[i..])
    }
    /// A float, as MicroPython's `repr`.
    pub fn float(&mut self, f: f64) -> Result<(), Full> {
        self.raw(repr_f64(f).as_bytes())
    }
    /// A quoted, escaped string (`s` is the str's UTF-8 bytes).
    pub fn string(&mut self, s: &[u8]) -> Result<(), Full> {
        self.byte(b'"')?;
        let mut start = 0;
        for (i, &c) in s.iter().enumerate() {
            let esc: &[u8] = match c {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0..=0x1f => b"",
                _ => continue,
            };
            self.raw(&s[start..i])?;
            start = i + 1;
            if esc.is_empty() {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                self.raw(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(c >> 4) as usize],
                    HEX[(c & 15) as usize],
                ])?;
            } else {
                self.raw(esc)?;
            }
        }
        self.raw(&s[start..])?;
        self.byte(b'"')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<F: FnOnce(&mut Writer<'_>) -> Result<(), Full>>(f: F) -> ([u8; 128], usize) {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        f(&mut w).unwrap();
        let n = w.len();
        (buf, n)
    }

    #[test]
    fn tutorial_event() {
        let (b, n) = with(|w| {
            w.begin_list()?;
            w.string(b"lux-1")?;
            w.item_sep(1)?;
            w.int(624)?;
            w.item_sep(2)?;
            w.float(284.1312)?;
            w.end_list()
        });
        assert_eq!(&b[..n], br#"["lux-1", 624, 284.1312]"#);
    }

    #[test]
    fn string_escapes() {
        let (b, n) = with(|w| w.string("a\"b\\c\nd\re\tf\x01g\x1f\x7fh\u{e9}".as_bytes()));
        assert_eq!(
            &b[..n],
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001f\x7fh\u{e9}\"".as_bytes()
        );
    }

    #[test]
    fn ints_and_constants() {
        let (b, n) = with(|w| {
            w.int(0)?;
            w.item_sep(1)?;
            w.int(-42)?;
            w.item_sep(1)?;
            w.int(i64::MIN)?;
            w.item_sep(1)?;
            w.bool(true)?;
            w.item_sep(1)?;
            w.bool(false)?;
            w.item_sep(1)?;
            w.null()
        });
        assert_eq!(&b[..n], b"0, -42, -9223372036854775808, true, false, null");
    }

    #[test]
    fn full_is_reported_not_truncated_silently() {
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.string(b"abcdef"), Err(Full));
        let mut buf = [0u8; 3];
        let mut w = Writer::new(&mut buf);
        assert_eq!(w.int(1234), Err(Full));
    }
}
