//! The `mpy-ld` binary: link, `--map`, `inspect` (text and JSON), exit codes, and that a
//! failed link leaves an existing output untouched.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use object::SectionKind;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mpy-ld"))
}

/// `mpy-ld link ARGS OBJ -o OUT`.
fn link(args: &[&str], obj: &Path, out: &Path) -> Output {
    bin()
        .arg("link")
        .args(args)
        .arg(obj)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
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
    let dir = scratch("cli-ok");
    let obj = dir.join("m.o");
    std::fs::write(&obj, module().bytes()).unwrap();
    let out = dir.join("sensor.mpy");
    let r = link(&["--map"], &obj, &out);
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
    let dir = scratch("cli-fail");
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let u = o.undef("mp_obj_new_int", false);
    o.reloc(init, 3, u, R_PLT32, -4);
    let obj = dir.join("bad.o");
    std::fs::write(&obj, o.bytes()).unwrap();
    let out = dir.join("keep.mpy");
    std::fs::write(&out, b"previous").unwrap();
    let r = link(&[], &obj, &out);
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("undefined symbol `mp_obj_new_int`"), "{err}");
    assert!(err.contains(".text.mpy_init`+0x3"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"previous");
}

#[test]
fn inspect_of_corrupt_file_names_the_offset() {
    let dir = scratch("cli-corrupt");
    let f = dir.join("x.mpy");
    std::fs::write(&f, [b'M', 6, 0x0B, 63, 0x80]).unwrap();
    let r = bin().arg("inspect").arg(&f).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8(r.stderr).unwrap();
    assert!(err.contains("at byte 4"), "{err}");
}

#[test]
fn unimplemented_arch_on_the_command_line() {
    let dir = scratch("cli-arch");
    let obj = dir.join("m.o");
    std::fs::write(&obj, module().bytes()).unwrap();
    let link_arch = |arch: &str| link(&["--arch", arch], &obj, &dir.join("m.mpy"));
    // A usage error (exit 2, clap's), naming what is implemented.
    let r = link_arch("armv7m");
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("arch armv7m: not implemented yet (planned); implemented: x64, xtensa"),
        "{err}"
    );
    // A wrong name lists the valid ones.
    let r = link_arch("esp8266");
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains(
            "unknown arch `esp8266`: the ESP8266 is arch `xtensa`; valid arches: x64, xtensa \
             (planned: armv6m, armv7m, xtensawin, rv32imc)"
        ),
        "{err}"
    );
    assert!(!dir.join("m.mpy").exists());
}

#[test]
fn help_lists_only_implemented_arches_as_choices() {
    let r = bin().args(["link", "--help"]).output().unwrap();
    assert!(r.status.success());
    let help = String::from_utf8(r.stdout).unwrap();
    let arch_line = help
        .lines()
        .find(|l| l.trim_start().starts_with("--arch"))
        .expect("--arch in link --help");
    assert!(
        arch_line.contains("x64 (unix port) or xtensa (ESP8266)")
            && arch_line.contains("are planned, not implemented"),
        "{arch_line}"
    );
    assert!(help.contains("--rom <ROM>"), "{help}");
    let r = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(r.stdout).unwrap();
    assert!(help.contains("rom-stubs"), "{help}");
}

#[test]
fn rom_option_refusals() {
    let dir = scratch("cli-rom");
    let obj = dir.join("m.o");
    std::fs::write(&obj, module().bytes()).unwrap();
    let run = |args: &[&str]| {
        let r = link(args, &obj, &dir.join("m.mpy"));
        (
            r.status.code(),
            String::from_utf8_lossy(&r.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--rom", "esp32"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("mpy-ld: error: unknown ROM `esp32`: use esp8266"),
        "{err}"
    );
    // The ESP8266 ROM is for xtensa objects only.
    let (code, err) = run(&["--rom", "esp8266"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("ROM esp8266 is for arch xtensa, not x64"),
        "{err}"
    );
    // A table file with a bad line.
    let table = dir.join("rom.txt");
    std::fs::write(&table, "memcpy 0x4000df48\nmemset\n").unwrap();
    let (code, err) = run(&["--arch", "xtensa", "--rom", table.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("rom.txt, line 2: expected `NAME ADDRESS`, found `memset`"),
        "{err}"
    );
    // x64 with no ROM is the default and links.
    assert_eq!(run(&["--rom", "none"]).0, Some(0));
}

#[test]
fn rom_stubs_command() {
    let dir = scratch("cli-stubs");
    let out = dir.join("rom.S");
    let r = bin()
        .args(["rom-stubs", "--only", "__divsi3,memcpy", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let asm = std::fs::read_to_string(&out).unwrap();
    // Literal pool first (address order: __divsi3 0x4000dc88 < memcpy 0x4000df48).
    assert!(
        asm.contains(".Lrom_lit_0:\t.word\t__divsi3\n.Lrom_lit_1:\t.word\tmemcpy\n"),
        "{asm}"
    );
    assert!(asm.contains("\t.org\t0xdc88\n"), "{asm}");
    assert!(asm.contains("\t.org\t0xdf48\n"), "{asm}");
    assert!(!asm.contains("__addsf3"), "{asm}");

    // The whole table fits (no overlaps), to stdout.
    let r = bin().arg("rom-stubs").output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let all = String::from_utf8(r.stdout).unwrap();
    for (name, _) in &mpy_ld::rom::esp8266().entries {
        assert!(all.contains(&format!("rom_stub_{name}:")), "{name}");
    }

    // Refusals.
    let r = bin()
        .args(["rom-stubs", "--only", "__divsf3"])
        .output()
        .unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("`__divsf3` is not in ROM table esp8266"),
        "{err}"
    );
    let r = bin().args(["rom-stubs", "--arch", "x64"]).output().unwrap();
    assert_eq!(r.status.code(), Some(1));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("ROM esp8266 is for arch xtensa, not x64"),
        "{err}"
    );
}
