//! Texts of Python objects for console lines and error messages.

use micropython_rt::{global, qstr, Error, Obj};

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
