//! The lx106 side of xtensa-check, shaped like a native module: `mpy_init` is the entry and
//! the host is reached only through `mp_fun_table` (relocation op 8), here a two-slot table
//! that the QEMU start-up code (qemu/start.S) provides: semihosting write and exit.
#![no_std]

// Linked for its xtensa support (`abort`, the 128-bit division helpers), as in every module.
use micropython_rt as _;

#[repr(C)]
struct HostTable {
    write: unsafe extern "C" fn(*const u8, usize),
    exit: unsafe extern "C" fn(u32) -> !,
}

extern "C" {
    /// The start-up code's table, resolved by mpy-ld like the runtime's function table.
    static mp_fun_table: HostTable;
}

fn write(b: &[u8]) {
    // SAFETY: the table's functions take any readable buffer.
    unsafe { (mp_fun_table.write)(b.as_ptr(), b.len()) }
}

/// What `tests/qemu.rs` expects as the exit status (mpy_init's return value), proving the
/// call0 return path.
pub const DONE: u32 = 42;

/// Entry, called by the start-up code with the viper-function arguments of a real module.
#[no_mangle]
pub extern "C" fn mpy_init(_self: usize, n_args: usize, n_kw: usize, _args: usize) -> u32 {
    // The start-up code passes (0, 3, 5, 0): arguments a2..a5 of the call0 ABI.
    if (n_args, n_kw) != (3, 5) {
        write(b"bad arguments\n");
        return 1;
    }
    xtensa_check::run(&mut |b| write(b));
    DONE
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    write(b"panic\n");
    // SAFETY: exit never returns.
    unsafe { (mp_fun_table.exit)(101) }
}
