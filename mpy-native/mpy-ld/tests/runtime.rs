//! End to end against the real toolchain and the real MicroPython runtime: build
//! tests/smoke (a no_std staticlib, `-Zbuild-std=core`), link it with mpy-ld, import it.
//!
//! Ignored by default (needs rust-src, about 30 s of build, and a MicroPython x64 unix
//! runtime); run with `cargo test -p mpy-ld -- --ignored`. The runtime is `$MICROPYTHON`,
//! else `.venv/bin/micropython` at the repo root, else `micropython` on PATH.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn micropython() -> PathBuf {
    if let Some(p) = std::env::var_os("MICROPYTHON") {
        return p.into();
    }
    let venv = repo_root().join(".venv/bin/micropython");
    if venv.exists() {
        venv
    } else {
        "micropython".into()
    }
}

/// The project's x64 target spec, the one the real modules are built with.
fn target_json() -> PathBuf {
    repo_root().join("mpy-native/targets/x86_64-micropython.json")
}

fn build_smoke() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smoke");
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("smoke-target");
    let status = Command::new(env!("CARGO"))
        .current_dir(&dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "build",
            "--release",
            "-Zjson-target-spec",
            "-Zbuild-std=core",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .arg("--target")
        .arg(target_json())
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building tests/smoke failed");
    target_dir.join("x86_64-micropython/release/libmpy_ld_smoke.a")
}

#[test]
#[ignore = "needs rust-src + build-std and a MicroPython runtime; `make test` runs it (--include-ignored)"]
fn smoke_module_imports_in_micropython() {
    let lib = build_smoke();
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("smoke-mpy");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("smoke.mpy");
    let r = Command::new(env!("CARGO_BIN_EXE_mpy-ld"))
        .arg("link")
        .arg(&lib)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));

    // The reader agrees with itself on the real file.
    let parsed =
        mpy_ld::mpy::parse(&std::fs::read(&out).unwrap()).expect("inspect the real module");
    assert!(parsed.image.bss_size >= 72);

    let script = format!(
        "import sys\nsys.path.insert(0, {:?})\nimport smoke\nprint(smoke.answer, repr(smoke.text), smoke.counter)\n",
        out_dir.display().to_string()
    );
    let r = Command::new(micropython())
        .arg("-c")
        .arg(&script)
        .output()
        .expect("run micropython");
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success(),
        "micropython failed: {stdout}{}",
        String::from_utf8_lossy(&r.stderr)
    );
    // pick(COUNTER + 1) with COUNTER = 1 is "gamma"; 1 * 7; 2.5 * 1.
    assert_eq!(stdout.trim(), "42 'gamma-7-2.5' 1");
}
