//! `mpy-ld`: links ELF relocatable objects (typically a Rust `staticlib` `.a`) into a
//! MicroPython native module `.mpy` (format v6.3), and reads such files back.
//!
//! Conventions shared with the runtime crate:
//! - the entry is the global function `mpy_init`, placed at text offset 0 (or reached by a
//!   jump emitted there);
//! - the undefined symbol `mp_fun_table` is the runtime's function table (relocation op 8),
//!   reached through a GOT word;
//! - undefined symbols `MP_QSTR_NAME` are qstrs: each NAME gets an index `i >= 1` in the
//!   file's qstr list (sorted by name) and the symbol's address is `qstr_table + 2*i`,
//!   where the runtime stores the interned u16 qstr number;
//! - on xtensa, undefined soft-float, division and memory helpers resolve to the ESP8266
//!   ROM's fixed addresses ([`rom`]), unless an input defines them strongly;
//! - any other undefined symbol is an error.
//!
//! ```no_run
//! use mpy_ld::{arch, input, link};
//! let x64 = arch::by_name("x64").unwrap();
//! let objs = input::load_path("libmod.a".as_ref(), x64)?;
//! let opts = link::LinkOptions::new(x64, "mod.mpy");
//! let linked = link::link(&objs, &opts)?;
//! std::fs::write("mod.mpy", linked.image.to_bytes()).unwrap();
//! # Ok::<(), mpy_ld::LinkError>(())
//! ```
#![deny(missing_docs, missing_debug_implementations)]

pub mod arch;
pub mod error;
pub mod funtable;
pub mod input;
pub mod link;
pub mod mpy;
pub mod rom;

pub use error::LinkError;
pub use link::{link, LinkOptions, Linked};
