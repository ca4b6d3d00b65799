//! Nothing of its own: see Cargo.toml. Building it builds `compiler_builtins` for the lx106.
#![no_std]
