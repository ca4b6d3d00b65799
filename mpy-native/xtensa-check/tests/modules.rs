//! The ESP8266 modules as built by `make ARCH=xtensa natmods`: what the ESP8266_GENERIC loader
//! needs to accept and run them, read back from the files (and from the link maps
//! build-xtensa.sh writes next to them).

mod common;

use common::*;
use mpy_ld::link::is_qstr_name;
use mpy_ld::mpy::{self, Dest, QstrEntry, Region};

/// Slots in `mp_fun_table` of the MicroPython version we target (natmod-abi.md).
const FUN_TABLE_SLOTS: u8 = 87;

fn modules() -> Vec<String> {
    std::env::var("XTENSA_MODULES")
        .unwrap_or_else(|_| "features tsl2591 mqtt_writer".into())
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn modules_are_loadable_by_the_esp8266() {
    let mut table = String::from("module        text  rodata  bss  relocs  qstrs\n");
    for m in modules() {
        let path = root().join(format!("build/xtensa/{m}.mpy"));
        let data = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: build it with `make ARCH=xtensa natmods`",
                path.display()
            )
        });
        // Header: 'M', v6, flags = xtensa (9) << 2 | sub-version 3, 31-bit small ints.
        assert_eq!(&data[..4], &[b'M', 6, 0x27, 31], "{m}: header");
        let file = mpy::parse(&data).unwrap_or_else(|e| panic!("{m}: {e}"));
        let img = &file.image;
        assert_eq!((img.arch, file.sub_version), (9, 3), "{m}");

        // Sizes a module of ours has: code, constants apart from it, little or no bss.
        assert!(
            (1024..128 * 1024).contains(&img.text.len()),
            "{m}: text {} bytes",
            img.text.len()
        );
        assert!(!img.rodata.is_empty(), "{m}: no rodata region");
        assert!(img.bss_size <= 1024, "{m}: bss {} bytes", img.bss_size);

        // Qstrs: the source name, then identifiers only.
        assert_eq!(
            img.qstrs[0],
            QstrEntry::Bytes(format!("{m}.mpy").into_bytes()),
            "{m}"
        );
        for q in &img.qstrs[1..] {
            match q {
                QstrEntry::Bytes(b) => assert!(is_qstr_name(b), "{m}: qstr {b:?}"),
                QstrEntry::Static(n) => panic!("{m}: unexpected static qstr {n}"),
            }
        }

        // Byte 0 is what the loader calls: a `j` (op0 6) to mpy_init.
        assert_eq!(img.text[0] & 0x3f, 0x06, "{m}: no jump at text offset 0");

        // Every relocation is one the loader does (reader already checked they are in range).
        for r in &img.relocs {
            match r.dest {
                Dest::Text | Dest::Rodata | Dest::Bss | Dest::QstrTable | Dest::FunTable => {}
                Dest::FunSlot(k) if k < FUN_TABLE_SLOTS => {}
                other => panic!("{m}: relocation {other} at {:?} word {}", r.region, r.word),
            }
        }

        // Constant data never sits in the text (byte loads from IRAM/flash fault): the text
        // holds only literal pools (read with l32r) and code, and no relocated pointer points
        // into the literal pools.
        let (sections, entry) = read_map(&root().join(format!("build/xtensa/{m}.map")));
        let entry = entry.expect("map: entry jump");
        let mut code_start = u64::MAX;
        for MapSection { area, addr, name } in &sections {
            match area.as_str() {
                "text" => {
                    assert!(
                        name.starts_with(".literal") || name.starts_with(".text"),
                        "{m}: {name} in the text"
                    );
                    if name.starts_with(".text") {
                        code_start = code_start.min(*addr);
                    }
                }
                "rodata" => assert!(
                    name.starts_with(".rodata") || name.starts_with(".data.rel.ro"),
                    "{m}: {name} in rodata"
                ),
                "bss" => assert!(name.starts_with(".bss"), "{m}: {name} in bss"),
                other => panic!("{m}: area {other}"),
            }
        }
        assert!(code_start <= entry, "{m}: mpy_init before the code?");
        for r in img.relocs.iter().filter(|r| r.dest == Dest::Text) {
            let buf = match r.region {
                Region::Text => &img.text,
                Region::Rodata => &img.rodata,
            };
            let at = r.word as usize * 4;
            let target = u64::from(u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()));
            assert!(
                (code_start..img.text.len() as u64).contains(&target),
                "{m}: {:?} word {} points at text {target:#x}, outside the code [{code_start:#x}, {:#x})",
                r.region,
                r.word,
                img.text.len()
            );
        }
        table.push_str(&format!(
            "{m:<12} {:>6} {:>7} {:>4} {:>7} {:>6}\n",
            img.text.len(),
            img.rodata.len(),
            img.bss_size,
            img.relocs.len(),
            img.qstrs.len() - 1
        ));
    }
    eprint!("{table}");
}

/// Issue 9: the deployed modules carry no `core::fmt`, no soft-float or division code of
/// their own (those come from the ESP8266 ROM through mpy-ld's veneers, `.text.rom.*`), and
/// panics are bare traps (`panic=immediate-abort`: each `core::panicking` function a stub).
#[test]
fn deployed_modules_have_no_fmt_soft_float_or_panic_messages() {
    for m in ["tsl2591", "mqtt_writer"] {
        let path = root().join(format!("build/xtensa/{m}.map"));
        let map = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}: build it with `make ARCH=xtensa natmods`", path.display()));
        let mut seen = 0;
        for line in map.lines() {
            // "  text   0x000004     44 align 4    .text.<symbol> (<object>)"
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || f[0] != "text" || !f[1].starts_with("0x") {
                continue;
            }
            let (size, name, object) = (f[2].parse::<u64>().unwrap_or(0), f[5], f.get(6).copied().unwrap_or(""));
            seen += 1;
            assert!(!name.contains("core3fmt"), "{m}: core::fmt is linked: {name}");
            assert!(
                !object.contains("compiler_builtins") || name.starts_with(".text.rom.") || name.starts_with(".literal.rom."),
                "{m}: compiler_builtins code in the module (should be ROM): {name}"
            );
            if name.contains("4core9panicking") {
                assert!(size <= 16, "{m}: {name} is {size} bytes: more than a trap");
            }
        }
        assert!(seen > 50, "{m}: only {seen} text sections read from the map");
    }
}
