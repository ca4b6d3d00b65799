//! A Rust panic inside a native module raises `RuntimeError` instead of taking the interpreter
//! down. On 64-bit ports the message says what and where (`core::fmt` costs little there); on
//! 32-bit ports (the ESP8266) the text is fixed, so no formatting machinery is linked (the
//! ESP8266 build also uses `panic=immediate-abort`, which reaches `abort` instead).
use crate::error::{Error, ExcKind};

#[cfg(target_pointer_width = "64")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    struct Buf {
        b: [u8; 200],
        n: usize,
    }
    impl Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &c in s.as_bytes() {
                if self.n < self.b.len() {
                    self.b[self.n] = c;
                    self.n += 1;
                }
            }
            Ok(())
        }
    }
    let mut m = Buf { b: [0; 200], n: 0 };
    let _ = write!(m, "Rust panic: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(m, " at {}:{}", loc.file(), loc.line());
    }
    // Cut at a char boundary if the buffer filled up.
    let mut n = m.n;
    while n > 0 && core::str::from_utf8(&m.b[..n]).is_err() {
        n -= 1;
    }
    let text = core::str::from_utf8(&m.b[..n]).unwrap_or("Rust panic");
    // SAFETY: the panicking frames are abandoned; in a no_std, no-alloc module they own nothing
    // that needs dropping. The dispatcher's nlr_push catches the raise.
    unsafe { Error::new(ExcKind::RuntimeError, text).raise() }
}

#[cfg(not(target_pointer_width = "64"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: as above.
    unsafe { Error::new(ExcKind::RuntimeError, "Rust panic").raise() }
}
