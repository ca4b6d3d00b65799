//! Console lines and error texts built on the stack, then printed with the builtin `print`.
use core::fmt::{self, Write};

use micropython_rt::{global, qstr, Error, Obj, Result};

/// A line of text, truncated with `...` if it would exceed the capacity.
pub struct Line {
    buf: [u8; Line::CAP],
    len: usize,
}

impl Line {
    const CAP: usize = 400;

    /// Format a line.
    pub fn new(args: fmt::Arguments<'_>) -> Line {
        let mut l = Line {
            buf: [0; Line::CAP],
            len: 0,
        };
        let _ = l.write_fmt(args);
        l
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        // SAFETY: write_str appends whole UTF-8 sequences only.
        unsafe { core::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
    /// `print(line)`.
    pub fn print(&self) -> Result<()> {
        global(qstr!("print"))?.call(&[Obj::str(self.as_str())])?;
        Ok(())
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = Line::CAP - self.len;
        if s.len() <= room {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
            return Ok(());
        }
        let mut cut = room.saturating_sub(3);
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf[self.len..self.len + cut].copy_from_slice(&s.as_bytes()[..cut]);
        self.len += cut;
        let dots = (Line::CAP - self.len).min(3);
        self.buf[self.len..self.len + dots].copy_from_slice(&b"..."[..dots]);
        self.len += dots;
        Err(fmt::Error)
    }
}

/// `str(o)` (or `repr(o)`), as a str object kept alive by the caller's stack.
pub fn py_text(o: Obj, repr: bool) -> Obj {
    let f = if repr { qstr!("repr") } else { qstr!("str") };
    global(f)
        .and_then(|f| f.call(&[o]))
        .unwrap_or_else(|_| Obj::str("?"))
}

/// The text of a str object (`?` if it is not one).
pub fn text_of(s: &Obj) -> &str {
    s.str_ref().unwrap_or("?")
}

/// `str(exception)` for an error on its way to Python.
pub fn error_text(e: &Error) -> Obj {
    py_text(e.to_exception(), false)
}
