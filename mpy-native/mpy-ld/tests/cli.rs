//! The `mpy-ld` binary: link, `--map`, `inspect` (text and JSON), exit codes, and that a
//! failed link leaves an existing output untouched.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;
use object::SectionKind;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mpy-ld"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn module() -> Obj {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let bss = o.section(".bss.STATE", SectionKind::UninitializedData, &[0u8; 8], 8);
    let state = o.def("STATE", bss, 0, 8, object::SymbolKind::Data, true, false);
    let q = o.undef("MP_QSTR_lux", false);
    let ft = o.undef("mp_fun_table", false);
    o.reloc(init, 2, state, R_GOTPCREL, -4);
    o.reloc(init, 8, q, R_GOTPCREL, -4);
    o.reloc(init, 14, ft, R_GOTPCREL, -4);
    o
}

#[test]
fn link_then_inspect_json() {
    let dir = scratch("ok");
    let obj = dir.join("m.o");
    std::fs::write(&obj, module().bytes()).unwrap();
    let out = dir.join("sensor.mpy");
    let r = bin()
        .args(["link", "--map"])
        .arg(&obj)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let map = String::from_utf8(r.stdout).unwrap();
    assert!(map.contains("GOT at text"), "{map}");
    assert!(map.contains("MP_QSTR_lux"), "{map}");

    let r = bin()
        .args(["inspect", "--json"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let j: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let parsed = mpy_ld::mpy::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(j["arch"], "x64");
    assert_eq!(j["small_int_bits"], 63);
    assert_eq!(j["qstrs"], serde_json::json!(["sensor.mpy", "lux"]));
    assert_eq!(j["text_size"], parsed.image.text.len());
    assert_eq!(j["bss_size"], 8);
    assert_eq!(
        j["scope_flag_names"],
        serde_json::json!(["VIPERRELOC", "VIPERBSS"])
    );
    let adds: Vec<&str> = j["relocs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["adds"].as_str().unwrap())
        .collect();
    assert_eq!(adds, ["bss base", "qstr table", "mp_fun_table"]);

    let r = bin().arg("inspect").arg(&out).output().unwrap();
    let text = String::from_utf8(r.stdout).unwrap();
    assert!(
        text.contains("arch x64") && text.contains("\"lux\""),
        "{text}"
    );
}

#[test]
fn failed_link_exits_1_and_keeps_the_old_output() {
    let dir = scratch("fail");
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let u = o.undef("mp_obj_new_int", false);
    o.reloc(init, 3, u, R_PLT32, -4);
    let obj = dir.join("bad.o");
    std::fs::write(&obj, o.bytes()).unwrap();
    let out = dir.join("keep.mpy");
    std::fs::write(&out, b"previous").unwrap();
    let r = bin()
        .arg("link")
        .arg(&obj)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("undefined symbol `mp_obj_new_int`"), "{err}");
    assert!(err.contains(".text.mpy_init`+0x3"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
}

#[test]
fn inspect_of_corrupt_file_names_the_offset() {
    let dir = scratch("corrupt");
    let f = dir.join("x.mpy");
    std::fs::write(&f, [b'M', 6, 0x0B, 63, 0x80]).unwrap();
    let r = bin().arg("inspect").arg(&f).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("at byte 4"), "{err}");
}

#[test]
fn unimplemented_arch_on_the_command_line() {
    let dir = scratch("arch");
    let obj = dir.join("m.o");
    std::fs::write(&obj, module().bytes()).unwrap();
    let r = bin()
        .args(["link", "--arch", "armv7m"])
        .arg(&obj)
        .arg("-o")
        .arg(dir.join("m.mpy"))
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("arch armv7m: not implemented yet"));
}
