//! `abort` for the ESP8266 (Xtensa lx106).
//!
//! LLVM's Xtensa backend lowers a trap (`core::intrinsics::abort`, reached e.g. from
//! `panic_nounwind` paths in `core::fmt`) to a call to `abort`, which a native module must
//! define itself: there is no libc to link. Like the panic handler, it raises
//! `RuntimeError("Rust abort")` instead of stopping the chip; the abandoned Rust frames own
//! nothing that needs dropping in this no-alloc crate. Other targets trap with an
//! instruction (x64 `ud2`) and never reference `abort`.
use crate::error::{Error, ExcKind};

/// Called by trap code; never returns.
#[no_mangle]
pub extern "C" fn abort() -> ! {
    // SAFETY: see the module docs: the raise abandons the aborting frames.
    unsafe {
        Error::new(ExcKind::RuntimeError, format_args!("Rust abort")).raise()
    }
}
