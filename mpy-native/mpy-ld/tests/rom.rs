//! ESP8266 ROM symbols (xtensa): soft-float, division and memory helpers resolve to the
//! ROM's fixed addresses instead of compiler_builtins' copies; direct calls go through a
//! veneer, literal words hold the ROM address with no load-time relocation.
//!
//! The objects are shaped like build-xtensa.sh's: a module whose calls were turned into
//! `call0 sym` and whose literal pools are `.literal.*` words, and compiler_builtins, whose
//! intrinsics are weak, in an archive beside it.

mod common;

use common::{ar, read_u32, scratch, xtensa, Obj, R_XTENSA_32, R_XTENSA_SLOT0_OP};
use mpy_ld::mpy::Region;
use mpy_ld::{arch, input, link, rom, LinkError};
use object::{Architecture, SectionKind, SymbolKind};

const DIVSI3: u32 = 0x4000_dc88;
const UDIVSI3: u32 = 0x4000_e21c;

/// The module: `call0 __divsi3`, two `l32r` of literal words holding `__udivsi3` and
/// `__divsi3`, `call0 __divsf3` (not in the ROM), `ret.n`. With `strong_divsi3`, the module
/// also defines `__divsi3` itself.
fn module(strong_divsi3: bool) -> Obj {
    let mut o = Obj::with_arch(Architecture::Xtensa);
    let lit = o.section(".literal.mpy_init", SectionKind::Text, &[0u8; 8], 4);
    let code = [
        0x05, 0, 0, // 0: call0 __divsi3
        0x21, 0, 0, // 3: l32r a2, <lit+0>
        0x31, 0, 0, // 6: l32r a3, <lit+4>
        0x05, 0, 0, // 9: call0 __divsf3
        0x0d, 0xf0, // 12: ret.n
    ];
    let text = o.xtensa_entry(&code);
    let divsi3 = if strong_divsi3 {
        let sec = o.section(".text.__divsi3", SectionKind::Text, &[0x0d, 0xf0, 0, 0], 4);
        o.def("__divsi3", sec, 0, 4, SymbolKind::Text, true, false)
    } else {
        o.undef("__divsi3", false)
    };
    let udivsi3 = o.undef("__udivsi3", false);
    let divsf3 = o.undef("__divsf3", false);
    let lit_sym = o.section_sym(lit);
    o.reloc(text, 0, divsi3, R_XTENSA_SLOT0_OP, 0);
    o.reloc(text, 3, lit_sym, R_XTENSA_SLOT0_OP, 0);
    o.reloc(text, 6, lit_sym, R_XTENSA_SLOT0_OP, 4);
    o.reloc(text, 9, divsf3, R_XTENSA_SLOT0_OP, 0);
    o.reloc(lit, 0, udivsi3, R_XTENSA_32, 0);
    o.reloc(lit, 4, divsi3, R_XTENSA_32, 0);
    o
}

/// compiler_builtins as it comes: every intrinsic weak, in its own section.
fn builtins() -> Vec<u8> {
    let mut o = Obj::with_arch(Architecture::Xtensa);
    for name in ["__divsi3", "__udivsi3", "__divsf3"] {
        let sec = o.section(
            &format!(".text.{name}"),
            SectionKind::Text,
            &[0x0d, 0xf0, 0, 0, 0, 0, 0, 0],
            4,
        );
        o.def(name, sec, 0, 8, SymbolKind::Text, true, true);
    }
    ar(&[("cb.o", o.bytes())])
}

fn link_with(module: &Obj, rom: Option<rom::RomTable>) -> Result<link::Linked, LinkError> {
    let mut objs = input::load_bytes("m.o", &module.bytes(), xtensa()).unwrap();
    objs.extend(input::load_bytes("libcb.a", &builtins(), xtensa()).unwrap());
    let opts = link::LinkOptions {
        rom,
        ..link::LinkOptions::new(xtensa(), "m.mpy")
    };
    link::link(&objs, &opts)
}

/// The word an `l32r` at text offset `pc` loads (unrelocated: as stored in the file).
fn l32r_word(text: &[u8], pc: u64) -> (u64, u32) {
    assert_eq!(text[pc as usize] & 0x0F, 1, "l32r at {pc:#x}");
    let imm = u32::from(text[pc as usize + 1]) | u32::from(text[pc as usize + 2]) << 8;
    let at = (((pc as u32 + 3) & !3).wrapping_add((0xFFFF_0000 | imm) << 2)) as u64;
    (at, read_u32(text, at))
}

/// Where a `call0` at text offset `pc` goes.
fn call0_target(text: &[u8], pc: u64) -> u64 {
    let insn = u32::from(text[pc as usize])
        | u32::from(text[pc as usize + 1]) << 8
        | u32::from(text[pc as usize + 2]) << 16;
    assert_eq!(insn & 0x3F, 0x05, "call0 at {pc:#x}");
    let off = ((insn >> 6) << 14) as i32 >> 14; // sign-extend 18 bits
    ((pc & !3) as i64 + 4 + 4 * i64::from(off)) as u64
}

fn section_addr(l: &link::Linked, name: &str) -> u64 {
    common::section_addr(l, name).1
}

#[test]
fn divsi3_call_goes_to_rom_through_a_veneer() {
    let l = link_with(&module(false), rom::default_for("xtensa")).unwrap();
    let text = &l.image.text;
    let init = l.map.entry_addr;

    // call0 __divsi3 lands on the veneer: l32r a8 of a word holding the ROM address; jx a8.
    let veneer = call0_target(text, init);
    assert_eq!(veneer, section_addr(&l, ".text.rom.__divsi3"));
    assert_eq!(text[veneer as usize], 0x81, "l32r a8");
    let (lit_at, value) = l32r_word(text, veneer);
    assert_eq!(value, DIVSI3);
    assert_eq!(
        &text[veneer as usize + 3..veneer as usize + 6],
        &[0xA0, 0x08, 0x00],
        "jx a8"
    );

    // The module's own literal words: the ROM addresses, constants for the loader.
    let (udiv_at, udiv) = l32r_word(text, init + 3);
    let (div_at, div) = l32r_word(text, init + 6);
    assert_eq!((udiv, div), (UDIVSI3, DIVSI3));
    // One copy of the __divsi3 word, shared by the module's pool and the veneer.
    assert_eq!(div_at, lit_at);
    for at in [lit_at, udiv_at] {
        assert!(
            !l.image
                .relocs
                .iter()
                .any(|r| r.region == Region::Text && r.word * 4 == at),
            "word at {at:#x} is relocated"
        );
    }

    // __divsf3 is not in the ROM: compiler_builtins' copy is linked and called directly.
    assert_eq!(
        call0_target(text, init + 9),
        section_addr(&l, ".text.__divsf3")
    );
    // compiler_builtins' __divsi3 and __udivsi3 are not pulled in.
    for name in [".text.__divsi3", ".text.__udivsi3"] {
        assert!(
            l.map
                .dropped
                .iter()
                .any(|d| d.name == name && d.file == "libcb.a(cb.o)"),
            "{name} kept"
        );
    }

    // The map says what went to ROM.
    let rom: Vec<(&str, u32, usize, usize, bool)> = l
        .map
        .rom
        .iter()
        .map(|r| {
            (
                r.name.as_str(),
                r.addr,
                r.calls,
                r.words,
                r.veneer.is_some(),
            )
        })
        .collect();
    assert_eq!(
        rom,
        [
            ("__divsi3", DIVSI3, 1, 1, true),
            ("__udivsi3", UDIVSI3, 0, 1, false)
        ]
    );
    let map = l.map.render(&l.image, false);
    assert!(
        map.contains("ROM esp8266: 2 symbols resolved to ROM"),
        "{map}"
    );
    assert!(
        map.contains(&format!(
            "rom    {DIVSI3:#010x} __divsi3         1 calls, 1 words, veneer at text {veneer:#x}"
        )),
        "{map}"
    );

    // inspect finds the ROM addresses in the file.
    let parsed = mpy_ld::mpy::parse(&l.image.to_bytes()).unwrap();
    let report = parsed.report();
    let refs: Vec<(u64, &str)> = report
        .rom_refs
        .iter()
        .map(|r| (r.byte_offset, r.name.as_str()))
        .collect();
    assert_eq!(refs, [(udiv_at, "__udivsi3"), (div_at, "__divsi3")]);
}

#[test]
fn a_strong_definition_in_the_module_beats_rom() {
    let l = link_with(&module(true), rom::default_for("xtensa")).unwrap();
    let init = l.map.entry_addr;
    assert_eq!(
        call0_target(&l.image.text, init),
        section_addr(&l, ".text.__divsi3")
    );
    let kept = l.map.sections.iter().find(|s| s.name == ".text.__divsi3");
    assert_eq!(kept.unwrap().file, "m.o");
    let (_, div) = l32r_word(&l.image.text, init + 6);
    assert_ne!(
        div, DIVSI3,
        "the literal points at the module's own __divsi3"
    );
    assert!(l.map.rom.iter().all(|r| r.name != "__divsi3"));
    assert_eq!(
        l.map.rom_overridden,
        [("__divsi3".to_string(), "m.o".to_string())]
    );
    assert!(!l
        .map
        .sections
        .iter()
        .any(|s| s.name.starts_with(".text.rom.")));
}

#[test]
fn without_rom_the_archive_definitions_are_used() {
    let l = link_with(&module(false), None).unwrap();
    let init = l.map.entry_addr;
    assert_eq!(
        call0_target(&l.image.text, init),
        section_addr(&l, ".text.__divsi3")
    );
    assert!(l.map.rom.is_empty());
    assert!(l.map.render(&l.image, false).contains("ROM: none"));
    assert!(mpy_ld::mpy::parse(&l.image.to_bytes())
        .unwrap()
        .report()
        .rom_refs
        .is_empty());

    // And with neither ROM nor compiler_builtins, the helpers are undefined.
    let objs = input::load_bytes("m.o", &module(false).bytes(), xtensa()).unwrap();
    let opts = link::LinkOptions {
        rom: None,
        ..link::LinkOptions::new(xtensa(), "m.mpy")
    };
    let e = link::link(&objs, &opts).unwrap_err().to_string();
    assert!(e.contains("undefined symbol `__divsi3`"), "{e}");
    assert!(e.contains("undefined symbol `__udivsi3`"), "{e}");
}

#[test]
fn a_tail_jump_to_rom_uses_the_veneer_too() {
    let mut o = Obj::with_arch(Architecture::Xtensa);
    let text = o.xtensa_entry(&[0x06, 0, 0, 0, 0, 0]);
    let memcpy = o.undef("memcpy", false);
    o.reloc(text, 0, memcpy, R_XTENSA_SLOT0_OP, 0);
    let objs = input::load_bytes("j.o", &o.bytes(), xtensa()).unwrap();
    let l = link::link(&objs, &link::LinkOptions::new(xtensa(), "j.mpy")).unwrap();
    let t = &l.image.text;
    // j: 18-bit offset from pc + 4.
    let insn = u32::from(t[0]) | u32::from(t[1]) << 8 | u32::from(t[2]) << 16;
    let off = ((insn >> 6) << 14) as i32 >> 14;
    let veneer = (l.map.entry_addr as i64 + 4 + i64::from(off)) as u64;
    assert_eq!(veneer, section_addr(&l, ".text.rom.memcpy"));
    assert_eq!(l32r_word(t, veneer).1, 0x4000_df48);
}

#[test]
fn rom_refusals() {
    // A branch to a ROM function cannot go through a veneer.
    let mut o = Obj::with_arch(Architecture::Xtensa);
    let code = [0x16, 0, 0, 0x0d, 0xf0]; // beqz a2, __divsi3; ret.n
    let text = o.xtensa_entry(&code);
    let d = o.undef("__divsi3", false);
    o.reloc(text, 0, d, R_XTENSA_SLOT0_OP, 0);
    let objs = input::load_bytes("b.o", &o.bytes(), xtensa()).unwrap();
    let e = link::link(&objs, &link::LinkOptions::new(xtensa(), "b.mpy")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "`__divsi3` is in ROM at 0x4000dc88, out of PC-relative range, and the instruction at \
         `.text.mpy_init`+0x0 in b.o is not a call0 or j that mpy-ld can send through an \
         l32r/jx veneer"
    );

    // The ESP8266 ROM on x64.
    let x64 = arch::by_name("x64").unwrap();
    let opts = link::LinkOptions {
        rom: Some(rom::esp8266()),
        ..link::LinkOptions::new(x64, "x.mpy")
    };
    let mut o = Obj::x64();
    o.func("mpy_init", &common::NOPS, true);
    let objs = input::load_bytes("x.o", &o.bytes(), x64).unwrap();
    let e = link::link(&objs, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        "ROM esp8266 is for arch xtensa, not x64 (use --rom none)"
    );

    // `--rom` values.
    assert!(rom::by_option("none", "xtensa").unwrap().is_none());
    let e = rom::by_option("esp32", "xtensa").unwrap_err().to_string();
    assert!(
        e.starts_with("unknown ROM `esp32`: use esp8266 (the ESP8266 boot ROM, default for xtensa), none, or the path"),
        "{e}"
    );
}

#[test]
fn a_rom_table_file_replaces_the_builtin_one() {
    let dir = scratch("rom-file");
    let file = dir.join("rom.txt");
    std::fs::write(
        &file,
        "# a made-up ROM\n__divsi3 0x40001000  # trailing comment\n",
    )
    .unwrap();
    let table = rom::by_option(file.to_str().unwrap(), "xtensa")
        .unwrap()
        .unwrap();
    let l = link_with(&module(false), Some(table)).unwrap();
    // __divsi3 from the file's address; __udivsi3, not in this table, from the archive.
    let veneer = call0_target(&l.image.text, l.map.entry_addr);
    assert_eq!(l32r_word(&l.image.text, veneer).1, 0x4000_1000);
    assert!(l.map.sections.iter().any(|s| s.name == ".text.__udivsi3"));
    assert_eq!(l.map.rom_table.as_deref(), file.to_str());
}
