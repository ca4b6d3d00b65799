//! A Rust panic inside a native module raises `RuntimeError(<message>)` instead of taking the
//! interpreter down.
use core::fmt::Write;

use crate::error::{Error, ExcKind, Msg};
use crate::obj::Obj;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut msg = Msg::<160>::new();
    let _ = write!(msg, "Rust panic: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(msg, " at {}:{}", loc.file(), loc.line());
    }
    // SAFETY: the panicking frames are abandoned; in a no_std, no-alloc module they own nothing
    // that needs dropping.
    unsafe { Error::Raise(ExcKind::RuntimeError, Obj::str(msg.as_str())).raise() }
}
