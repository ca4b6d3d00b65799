//! Where the built parts of lumen-link are, for the system tests (`tests/system.rs`).
//!
//! `build.rs` records the paths at build time; `make test` builds the parts first
//! (`make natmods host`).
use std::path::PathBuf;

/// The MicroPython modules built from Rust (`build/x64`).
pub fn mpy_dir() -> PathBuf {
    PathBuf::from(env!("LUMEN_MPY_DIR"))
}

/// The MicroPython unix runtime (`$MICROPYTHON`, default `.venv/bin/micropython`).
pub fn micropython() -> PathBuf {
    PathBuf::from(env!("LUMEN_MICROPYTHON"))
}

/// The release build of `host-service`.
pub fn host_service() -> PathBuf {
    PathBuf::from(env!("LUMEN_HOST_SERVICE"))
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
