//! `abort` for the ESP8266 (Xtensa lx106).
//!
//! The ESP8266 build uses `panic=immediate-abort`: a panic (an index out of bounds, an
//! `unwrap` of `None`) becomes a trap, which LLVM's Xtensa backend lowers to a call to `abort`.
//! A native module must define it itself (there is no libc); it raises
//! `RuntimeError("Rust panic")` instead of stopping the chip, and the dispatcher around the
//! module function catches that. The abandoned Rust frames own nothing that needs dropping in
//! this no-alloc crate. Other targets trap with an instruction (x64 `ud2`) and never reference
//! `abort`.
use crate::error::{Error, ExcKind};

/// Called by trap code; never returns.
#[no_mangle]
pub extern "C" fn abort() -> ! {
    // SAFETY: see the module docs: the raise abandons the aborting frames.
    unsafe { Error::new(ExcKind::RuntimeError, "Rust panic").raise() }
}
