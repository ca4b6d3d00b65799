//! Stores `answer`, `text` and `counter` in the module's globals at import.
#![no_std]

use core::fmt::Write;

#[repr(C)]
pub struct FunTable {
    pub slots: [usize; 87],
}

extern "C" {
    static mp_fun_table: FunTable;
}

/// The runtime's number for a qstr (resolved by mpy-ld through the module's qstr table).
macro_rules! qstr {
    ($n:literal) => {{
        extern "C" {
            #[link_name = concat!("MP_QSTR_", $n)]
            static Q: u16;
        }
        unsafe { Q as usize }
    }};
}

// Exported so x64 code reaches them through the GOT (see mpy-ld's README).
#[no_mangle]
pub static mut COUNTER: usize = 0;
#[no_mangle]
pub static mut BUF: [u8; 64] = [0; 64];

struct W {
    n: usize,
}

impl Write for W {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            unsafe {
                if self.n < 64 {
                    BUF[self.n] = b;
                    self.n += 1;
                }
            }
        }
        Ok(())
    }
}

// A table of &str: absolute words in .data.rel.ro.
static NAMES: [&str; 3] = ["alpha", "beta", "gamma"];

#[inline(never)]
fn pick(i: usize) -> &'static str {
    NAMES[i % 3]
}

/// Viper entry: `(self, n_args, n_kw, args)`; `self` is the module's function object.
///
/// # Safety
/// Called once by the MicroPython loader.
#[no_mangle]
pub unsafe extern "C" fn mpy_init(this: *const usize, _n_args: usize, _n_kw: usize, _args: *const usize) -> usize {
    let t = &mp_fun_table.slots;
    let swap_globals: extern "C" fn(usize) -> usize = core::mem::transmute(t[5]);
    let store_global: extern "C" fn(usize, usize) = core::mem::transmute(t[13]);
    let native_to_obj: extern "C" fn(usize, usize) -> usize = core::mem::transmute(t[4]);
    let new_str: extern "C" fn(*const u8, usize) -> usize = core::mem::transmute(t[57]);
    // self->context->module.globals
    let context = *this.add(1) as *const usize;
    let old = swap_globals(*context.add(1));
    COUNTER += 1;
    let mut w = W { n: 0 };
    let _ = write!(w, "{}-{}-{}", pick(COUNTER + 1), COUNTER * 7, 2.5f64 * COUNTER as f64);
    store_global(qstr!("answer"), native_to_obj(42, 2));
    store_global(qstr!("text"), new_str(core::ptr::addr_of!(BUF) as *const u8, w.n));
    store_global(qstr!("counter"), native_to_obj(COUNTER, 3));
    swap_globals(old);
    t[0]
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
