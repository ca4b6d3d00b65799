//! Records where the parts built outside cargo's view live (the `.mpy` modules made by
//! `make natmods`, the MicroPython runtime in `.venv`, the release `host-service`) so the system
//! tests find them, and warns early when they are missing.
use std::{env, path::PathBuf};

const MODULES: [&str; 3] = ["features", "tsl2591", "mqtt_writer"];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let mpy_dir = root.join("build/x64");
    let micropython = env::var("MICROPYTHON").map(PathBuf::from).unwrap_or_else(|_| root.join(".venv/bin/micropython"));
    let host_service = root.join("target/release/host-service");

    println!("cargo:rerun-if-env-changed=MICROPYTHON");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=LUMEN_MPY_DIR={}", mpy_dir.display());
    println!("cargo:rustc-env=LUMEN_MICROPYTHON={}", micropython.display());
    println!("cargo:rustc-env=LUMEN_HOST_SERVICE={}", host_service.display());

    let missing: Vec<String> = MODULES
        .iter()
        .map(|m| mpy_dir.join(format!("{m}.mpy")))
        .chain([micropython, host_service])
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !missing.is_empty() {
        println!("cargo:warning=system tests need {} (run `make natmods host setup`)", missing.join(", "));
    }
}
