//! The device maths on the real lx106 ISA, through the ESP8266 build path, against the host.
//!
//! 1. build-xtensa.sh builds the `guest` crate exactly like a native module (rustc
//!    `--emit=asm`, xtensa-lx106-elf-as, compiler_builtins' soft-float, mpy-ld) into guest.mpy;
//! 2. this test reads the .mpy back and does what MicroPython's loader does: text at one
//!    address, bss + rodata in one zeroed block, every relocation applied (`*word += base`);
//! 3. qemu/start.S (the "runtime") calls byte 0 of the text like a viper function, with a
//!    two-slot `mp_fun_table` for semihosting write/exit;
//! 4. `xtensa_check::run` prints the same lines natively; both outputs must be identical.
//!
//! The ESP8266 ROM: mpy-ld links the guest against the ROM's soft-float, division and memory
//! helpers (`--rom esp8266`, the xtensa default), so it calls fixed addresses 0x4000xxxx.
//! The image provides them: `mpy-ld rom-stubs` writes a jump at each ROM address the guest
//! uses, to compiler_builtins' implementation linked into the image (the same code the guest
//! carried before; the real ROM's code is not available here).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use mpy_ld::mpy::{self, Dest, Region};
use object::{Object, ObjectSection, ObjectSymbol};

const MODULE_TEXT: u32 = 0x6001_0000;
const MODULE_DATA: u32 = 0x6011_0000; // bss, then rodata (the loader's single allocation)
const QSTR_TABLE: u32 = 0x6018_0000;
const STACK_TOP: u32 = 0x6020_0000;
/// mpy_init's return value that the guest hands back (guest::DONE).
const DONE: i32 = 42;

/// Builds guest.mpy (and its link map, guest.map) and copies the compiler_builtins object
/// it was linked with to `builtins`.
fn build_guest(out: &Path, builtins: &Path) {
    let root = root();
    run(
        Command::new(root.join("mpy-native/targets/build-xtensa.sh"))
            .args(["guest", "xtensa-check-guest"])
            .arg(out)
            .arg(mpy_ld())
            .env(
                "XTENSA_MANIFEST",
                root.join("mpy-native/xtensa-check/Cargo.toml"),
            )
            .env("XTENSA_BUILTINS_OUT", builtins)
            .current_dir(&root),
    );
}

/// The symbols mpy-ld resolved to ROM, from its link map (`  rom    0x4000dc88 __divsi3 ...`).
fn rom_symbols(map: &Path) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f[..] {
                ["rom", addr, name, ..] => Some((
                    name.to_string(),
                    u32::from_str_radix(addr.trim_start_matches("0x"), 16).ok()?,
                )),
                _ => None,
            }
        })
        .collect()
}

fn word_add(buf: &mut [u8], word: u64, add: u32) {
    let at = word as usize * 4;
    let v = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()).wrapping_add(add);
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// The first differing line, for the failure message.
fn first_difference(got: &str, want: &str) -> String {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        if g != w {
            return format!("line {}:\n  lx106: {g}\n  host:  {w}", i + 1);
        }
    }
    format!(
        "lx106 printed {} lines, the host {}; last lx106 line: {:?}",
        got.lines().count(),
        want.lines().count(),
        got.lines().last()
    )
}

#[test]
fn lx106_output_matches_the_host() {
    require_tools(&[
        "xtensa-lx106-elf-as",
        "xtensa-lx106-elf-ld",
        "xtensa-lx106-elf-objdump",
        "qemu-system-xtensa",
        "jq",
        "timeout",
    ]);
    let dir = root().join("target/xtensa-check");
    std::fs::create_dir_all(&dir).unwrap();
    let mpy_path = dir.join("guest.mpy");
    let builtins_o = dir.join("compiler_builtins.o");
    build_guest(&mpy_path, &builtins_o);
    // The guest's f32/f64 maths and divisions go to the ROM (the ESP8266 has these).
    let rom = rom_symbols(&dir.join("guest.map"));
    let rom_names: Vec<&str> = rom.iter().map(|(n, _)| n.as_str()).collect();
    for needed in ["__addsf3", "__mulsf3", "__adddf3", "__muldf3", "__udivsi3"] {
        assert!(
            rom_names.contains(&needed),
            "guest.map: {needed} not resolved to ROM (ROM symbols: {rom_names:?})"
        );
    }

    let data = std::fs::read(&mpy_path).unwrap();
    let file = mpy::parse(&data).expect("guest.mpy reads back");
    let img = &file.image;
    assert_eq!(img.arch, 9, "guest.mpy is not arch xtensa");

    // The start-up code, linked for our addresses; its `fun_table` is the module's
    // mp_fun_table. With it: the ROM stubs for what the guest calls in ROM, and
    // compiler_builtins for their implementations (GC keeps only those).
    let start_o = dir.join("start.o");
    let stubs_s = dir.join("rom_stubs.S");
    let stubs_o = dir.join("rom_stubs.o");
    let start_elf = dir.join("start.elf");
    let qemu_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("qemu");
    run(Command::new("xtensa-lx106-elf-as")
        .arg(qemu_dir.join("start.S"))
        .arg("-o")
        .arg(&start_o));
    run(Command::new(mpy_ld())
        .args([
            "rom-stubs",
            "--arch",
            "xtensa",
            "--rom",
            "esp8266",
            "--only",
        ])
        .arg(rom_names.join(","))
        .arg("-o")
        .arg(&stubs_s));
    run(Command::new("xtensa-lx106-elf-as")
        .arg(&stubs_s)
        .arg("-o")
        .arg(&stubs_o));
    run(Command::new("xtensa-lx106-elf-ld")
        .arg("-T")
        .arg(qemu_dir.join("start.ld"))
        .arg("--gc-sections")
        .arg(format!("--defsym=module_text={MODULE_TEXT:#x}"))
        .arg(format!("--defsym=__stack_top={STACK_TOP:#x}"))
        .arg(&start_o)
        .arg(&stubs_o)
        .arg(&builtins_o)
        .arg("-o")
        .arg(&start_elf));
    let elf_bytes = std::fs::read(&start_elf).unwrap();
    let elf = object::File::parse(&*elf_bytes).unwrap();
    let symbol = |name: &str| {
        elf.symbols()
            .find(|s| s.name() == Ok(name))
            .unwrap_or_else(|| panic!("{name} not in start.elf"))
            .address() as u32
    };
    let fun_table = symbol("fun_table");
    // Each stub sits at its ROM address; the image stays clear of where the module goes.
    for (name, addr) in &rom {
        assert_eq!(symbol(&format!("rom_stub_{name}")), *addr, "stub of {name}");
    }
    for (section, limit) in [(".text", MODULE_TEXT), (".data", MODULE_DATA)] {
        let s = elf.section_by_name(section).expect(section);
        assert!(
            s.address() + s.size() <= u64::from(limit),
            "start.elf {section} ends at {:#x}, past {limit:#x}",
            s.address() + s.size()
        );
    }

    // What the loader does.
    let bss_size = img.bss_size.next_multiple_of(4) as usize;
    let rodata_addr = MODULE_DATA + bss_size as u32;
    let mut text = img.text.clone();
    let mut block = vec![0u8; bss_size];
    block.extend_from_slice(&img.rodata);
    for r in &img.relocs {
        let add = match r.dest {
            Dest::Text => MODULE_TEXT,
            Dest::Rodata => rodata_addr,
            Dest::Bss => MODULE_DATA,
            Dest::QstrTable => QSTR_TABLE,
            Dest::FunTable => fun_table,
            other => panic!("guest.mpy has a relocation the test loader does not provide: {other}"),
        };
        match r.region {
            Region::Text => word_add(&mut text, r.word, add),
            Region::Rodata => word_add(&mut block[bss_size..], r.word, add),
        }
    }
    // The qstr table: entry i holds the runtime's qstr number (any value will do here).
    let qstrs: Vec<u8> = (0..img.qstrs.len() as u16)
        .flat_map(|i| (1000 + i).to_le_bytes())
        .collect();
    let text_bin = dir.join("text.bin");
    let data_bin = dir.join("data.bin");
    let qstr_bin = dir.join("qstr.bin");
    std::fs::write(&text_bin, &text).unwrap();
    std::fs::write(&data_bin, &block).unwrap();
    std::fs::write(&qstr_bin, &qstrs).unwrap();

    let mut qemu = Command::new("timeout");
    qemu.args([
        "120",
        "qemu-system-xtensa",
        "-M",
        "sim",
        "-cpu",
        "lx106",
        "-semihosting",
    ])
    .args(["-nographic", "-monitor", "none", "-serial", "none"])
    .arg("-device")
    .arg(format!("loader,file={},cpu-num=0", start_elf.display()));
    for (bin, addr, len) in [
        (&text_bin, MODULE_TEXT, text.len()),
        (&data_bin, MODULE_DATA, block.len()),
        (&qstr_bin, QSTR_TABLE, qstrs.len()),
    ] {
        if len > 0 {
            qemu.arg("-device").arg(format!(
                "loader,file={},addr={addr:#x},force-raw=on",
                bin.display()
            ));
        }
    }
    let out = qemu.output().expect("run qemu-system-xtensa");
    let got = String::from_utf8_lossy(&out.stdout).into_owned();

    let mut want = Vec::new();
    xtensa_check::run(&mut |b| want.extend_from_slice(b));
    let want = String::from_utf8(want).unwrap();
    // Kept for a look with diff when they differ.
    std::fs::write(dir.join("lx106.txt"), &got).unwrap();
    std::fs::write(dir.join("host.txt"), &want).unwrap();

    assert_eq!(
        out.status.code(),
        Some(DONE),
        "lx106 run did not return {DONE} (124 = timed out, e.g. an exception loop): {}\nstderr: {}",
        first_difference(&got, &want),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        got == want,
        "lx106 and host outputs differ at {} (all of it: diff {} {})",
        first_difference(&got, &want),
        dir.join("lx106.txt").display(),
        dir.join("host.txt").display()
    );
    // Sanity: the run covered what it should.
    assert!(want.ends_with("END\n"));
    for (prefix, at_least) in [
        ("lux ", 500),
        ("float ", 300),
        ("int ", 200),
        ("publish ", 10),
    ] {
        let n = want.lines().filter(|l| l.starts_with(prefix)).count();
        assert!(n >= at_least, "only {n} `{prefix}` lines");
    }
    eprintln!(
        "lx106 == host: {} lines; guest.mpy text {} B, rodata {} B, {} relocations; \
         {} functions from ROM: {}",
        want.lines().count(),
        img.text.len(),
        img.rodata.len(),
        img.relocs.len(),
        rom.len(),
        rom_names.join(" ")
    );
}
