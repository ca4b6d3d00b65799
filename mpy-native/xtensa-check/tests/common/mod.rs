//! Shared by the tests: paths and the tools they need.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// Fails (never skips) when a tool is missing, saying how to get it.
pub fn require_tools(tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .output()
                .map(|o| !o.status.success())
                .unwrap_or(true)
        })
        .collect();
    assert!(
        missing.is_empty(),
        "xtensa tools missing: {}. Install them with `make setup-xtensa` \
         (Debian: apt-get install binutils-xtensa-lx106 gcc-xtensa-lx106 qemu-system-misc jq)",
        missing.join(", ")
    );
}

/// The mpy-ld binary: $MPY_LD, else target/release/mpy-ld (built by the Makefile).
pub fn mpy_ld() -> PathBuf {
    let p = std::env::var_os("MPY_LD")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/mpy-ld"));
    assert!(
        p.exists(),
        "{} not found: build it with `cargo build --release -p mpy-ld` (make test-xtensa does)",
        p.display()
    );
    p
}

/// Runs a command, failing with its output if it fails.
pub fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A kept section in mpy-ld's `--map` output.
pub struct MapSection {
    /// `text`, `rodata` or `bss`.
    pub area: String,
    /// Offset in that area.
    pub addr: u64,
    /// Section name.
    pub name: String,
}

/// Reads mpy-ld's `--map` output: every kept section, and the address the entry jump goes to.
pub fn read_map(path: &Path) -> (Vec<MapSection>, Option<u64>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e} (written by build-xtensa.sh)", path.display()));
    let mut sections = Vec::new();
    let mut entry = None;
    let mut in_sections = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("entry: jump at 0 to ") {
            entry = u64::from_str_radix(rest.trim().trim_start_matches("0x"), 16).ok();
        }
        if line.starts_with("kept sections") {
            in_sections = true;
            continue;
        }
        if in_sections {
            if !line.starts_with("  ") {
                in_sections = false;
                continue;
            }
            // "  text   0x000004      4 align 4    .literal.x (file)"
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 6 {
                let addr = u64::from_str_radix(f[1].trim_start_matches("0x"), 16).unwrap();
                sections.push(MapSection {
                    area: f[0].to_string(),
                    addr,
                    name: f[5].to_string(),
                });
            }
        }
    }
    (sections, entry)
}
