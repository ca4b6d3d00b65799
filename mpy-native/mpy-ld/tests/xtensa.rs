//! Xtensa (ESP8266) linking checked against GNU ld (golden files).
//!
//! tests/fixtures/xtensa/sample.s is assembled by `xtensa-lx106-elf-as` into sample.o and
//! linked by `xtensa-lx106-elf-ld --no-relax -T sample.ld` into sample.ref.elf, which lays the sections
//! out as mpy-ld does, with the text at 0 and fake bases for rodata, bss, `mp_fun_table` and
//! the qstr table. The test links sample.o with mpy-ld, applies its relocations the way the
//! loader does with those bases, and must get GNU ld's bytes. Regenerate the fixtures with
//! `MPY_LD_FIXTURES_UPDATE=1 cargo test -p mpy-ld --test xtensa`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{xtensa, Obj, R_XTENSA_32, R_XTENSA_SLOT0_OP};
use mpy_ld::mpy::{self, Dest, MpyImage, QstrEntry, Region};
use mpy_ld::{arch, input, link, LinkError};
use object::{Architecture, Object, ObjectSection, ObjectSymbol, SectionKind};

const TEXT_BASE: u32 = 0;
const RODATA_BASE: u32 = 0x10000;
const BSS_BASE: u32 = 0x20000;
const FUN_TABLE: u32 = 0x30000;
const QSTR_TABLE: u32 = 0x40000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xtensa")
}

fn regenerate_if_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("MPY_LD_FIXTURES_UPDATE").is_some() {
        ONCE.call_once(regenerate);
    }
}

fn regenerate() {
    let d = fixtures();
    let ok = Command::new("xtensa-lx106-elf-as")
        .arg(d.join("sample.s"))
        .arg("-o")
        .arg(d.join("sample.o"))
        .status()
        .expect("xtensa-lx106-elf-as (apt-get install binutils-xtensa-lx106)")
        .success();
    assert!(ok, "assembling sample.s failed");
    // --no-relax: GNU ld would otherwise coalesce duplicate literals.
    let ok = Command::new("xtensa-lx106-elf-ld")
        .arg("--no-relax")
        .arg("-T")
        .arg(d.join("sample.ld"))
        .arg(d.join("sample.o"))
        .arg("-o")
        .arg(d.join("sample.ref.elf"))
        .args(["-e", "mpy_init"])
        .status()
        .expect("xtensa-lx106-elf-ld")
        .success();
    assert!(ok, "linking sample.ref.elf failed");
}

/// The sample as GNU ld lays it out: every literal pool whole.
fn link_sample() -> link::Linked {
    link_sample_with(false)
}

fn link_sample_with(merge_literals: bool) -> link::Linked {
    regenerate_if_asked();
    let objs = input::load_path(&fixtures().join("sample.o"), xtensa()).expect("load sample.o");
    let opts = link::LinkOptions {
        merge_literals,
        ..link::LinkOptions::new(xtensa(), "sample.mpy")
    };
    link::link(&objs, &opts).expect("link sample.o")
}

/// What the loader does: `*word += base` for every relocation.
fn relocate(img: &MpyImage) -> (Vec<u8>, Vec<u8>) {
    relocate_at(img, TEXT_BASE)
}

fn relocate_at(img: &MpyImage, text_base: u32) -> (Vec<u8>, Vec<u8>) {
    let (mut text, mut rodata) = (img.text.clone(), img.rodata.clone());
    for r in &img.relocs {
        let add = match r.dest {
            Dest::Text => text_base,
            Dest::Rodata => RODATA_BASE,
            Dest::Bss => BSS_BASE,
            Dest::QstrTable => QSTR_TABLE,
            Dest::FunTable => FUN_TABLE,
            other => panic!("unexpected relocation {other}"),
        };
        let buf = match r.region {
            Region::Text => &mut text,
            Region::Rodata => &mut rodata,
        };
        let at = r.word as usize * 4;
        let v = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()).wrapping_add(add);
        buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    (text, rodata)
}

#[test]
fn sample_matches_gnu_ld() {
    let l = link_sample();
    let img = &l.image;
    let ref_bytes = std::fs::read(fixtures().join("sample.ref.elf")).unwrap();
    let r = object::File::parse(&*ref_bytes).unwrap();
    let section = |name: &str| {
        r.section_by_name(name)
            .unwrap_or_else(|| panic!("{name} in sample.ref.elf"))
    };
    let ref_text = section(".text").data().unwrap();
    let ref_rodata = section(".rodata").data().unwrap();
    let ref_entry = r
        .symbols()
        .find(|s| s.name() == Ok("mpy_init"))
        .unwrap()
        .address();

    let (text, rodata) = relocate(img);
    // GNU ld leaves 4 bytes free where mpy-ld puts its jump to the entry.
    assert_eq!(text.len(), ref_text.len());
    assert_eq!(
        &text[4..],
        &ref_text[4..],
        "text after relocation differs from GNU ld"
    );
    assert_eq!(
        rodata, ref_rodata,
        "rodata after relocation differs from GNU ld"
    );
    assert_eq!(img.bss_size, section(".bss").size());

    // j at 0: 18-bit offset from pc + 4.
    assert_eq!(l.map.entry_addr, ref_entry);
    let j = u32::from_le_bytes([text[0], text[1], text[2], 0]);
    assert_eq!(j & 0x3F, 0x06, "j opcode");
    assert_eq!(((j as i32) << 8 >> 14) + 4, ref_entry as i32);
}

/// Where the code starts: the first text section that is not a literal pool.
fn code_start(l: &link::Linked) -> u64 {
    l.map
        .sections
        .iter()
        .filter(|s| s.area == link::Area::Text && !s.name.starts_with(".literal"))
        .map(|s| s.addr)
        .min()
        .unwrap()
}

/// Merging literal pools changes nothing but the pools and the `l32r` offsets: with the text
/// of the merged link loaded so its code lands where the unmerged link's does, every
/// instruction is the same and every `l32r` loads the same word.
#[test]
fn merged_literals_load_the_same_words() {
    let plain = link_sample_with(false);
    let merged = link_sample_with(true);
    let (cp, cm) = (code_start(&plain), code_start(&merged));
    // .literal.second repeats 5 words of .literal.mpy_init (mp_fun_table, 0x12345678,
    // MP_QSTR_bar+2, helper, .L.str) and its own STATE+4; MP_QSTR_bar is new.
    assert_eq!(cp - cm, 6 * 4, "merged literal bytes");
    assert_eq!(plain.image.text.len() - merged.image.text.len(), 6 * 4);
    assert_eq!(
        plain.image.relocs.len() - merged.image.relocs.len(),
        5,
        "words relocated once"
    );
    let delta = (cp - cm) as u32;
    let (tp, rp) = relocate_at(&plain.image, TEXT_BASE);
    let (tm, rm) = relocate_at(&merged.image, TEXT_BASE + delta);
    assert_eq!(rp, rm, "rodata (jump table, vtable: code addresses)");
    assert_eq!(tp.len() - cp as usize, tm.len() - cm as usize);
    // A word at run-time address `addr` of a text loaded at `base`.
    let word = |text: &[u8], base: u32, addr: u32| {
        let at = (addr - base) as usize;
        u32::from_le_bytes(text[at..at + 4].try_into().unwrap())
    };
    let mut l32rs = 0;
    // Instruction by instruction through each code section (padding between them is not code).
    for sec in plain
        .map
        .sections
        .iter()
        .filter(|s| s.area == link::Area::Text && !s.name.starts_with(".literal"))
    {
        let (code_p, code_m) = (
            &tp[sec.addr as usize..],
            &tm[(sec.addr - cp + cm) as usize..],
        );
        let mut i = 0;
        while i < sec.size as usize {
            let op0 = code_p[i] & 0xF;
            let len = if (8..=0xD).contains(&op0) { 2 } else { 3 };
            let pc = TEXT_BASE + sec.addr as u32 + i as u32; // the same in both
            if op0 == 1 {
                // l32r: literal at ((pc + 3) & ~3) + (0xFFFF0000 | imm16) * 4.
                let load = |text: &[u8], base: u32, code: &[u8]| {
                    let imm = u32::from(code[i + 1]) | u32::from(code[i + 2]) << 8;
                    let at = ((pc + 3) & !3).wrapping_add((0xFFFF_0000 | imm) << 2);
                    assert!(
                        at >= base + 4 && at < TEXT_BASE + cp as u32,
                        "l32r at {pc:#x} reads outside the pools"
                    );
                    word(text, base, at)
                };
                assert_eq!(
                    code_p[i] & 0xF0,
                    code_m[i] & 0xF0,
                    "l32r register at {pc:#x}"
                );
                assert_eq!(
                    load(&tp, TEXT_BASE, code_p),
                    load(&tm, TEXT_BASE + delta, code_m),
                    "l32r at {pc:#x} in {}",
                    sec.name
                );
                l32rs += 1;
            } else {
                assert_eq!(
                    code_p[i..i + len],
                    code_m[i..i + len],
                    "instruction at {pc:#x}"
                );
            }
            i += len;
        }
    }
    assert!(l32rs >= 18, "walked {l32rs} l32r instructions");
}

#[test]
fn sample_module_contents() {
    let l = link_sample();
    let img = &l.image;
    assert_eq!(img.arch, 9);
    assert_eq!(img.small_int_bits, 31);
    assert_eq!(
        img.qstrs,
        ["sample.mpy", "bar", "foo"]
            .map(|q| QstrEntry::Bytes(q.as_bytes().to_vec()))
            .to_vec()
    );
    // The unused function and its literal (an undefined symbol) are dropped.
    assert!(l.map.dropped.iter().any(|d| d.name == ".text.unused"));
    assert!(l.map.dropped.iter().any(|d| d.name == ".literal.unused"));
    // Separate rodata: the jump table and vtable words are relocated in the rodata region.
    assert!(img
        .relocs
        .iter()
        .any(|r| r.region == Region::Rodata && r.dest == Dest::Text));
    assert!(img
        .relocs
        .iter()
        .any(|r| r.region == Region::Rodata && r.dest == Dest::Rodata));
    assert!(
        l.map.got.is_empty(),
        "static relocation model: literals, no GOT"
    );
    let bytes = img.to_bytes();
    assert_eq!(&bytes[..4], &[b'M', 6, 0x27, 31]);
    let back = mpy::parse(&bytes).expect("read back");
    assert_eq!(&back.image, img);
    assert_eq!(
        back.scope_flags,
        mpy::SCOPE_VIPERRELOC | mpy::SCOPE_VIPERRODATA | mpy::SCOPE_VIPERBSS
    );
}

#[test]
fn x64_objects_are_refused_for_xtensa() {
    let bytes = std::fs::read(fixtures().join("sample.o")).unwrap();
    let e = input::load_bytes("sample.o", &bytes, arch::by_name("x64").unwrap()).unwrap_err();
    assert!(
        matches!(
            e,
            LinkError::WrongClass {
                expected: 64,
                found: 32,
                ..
            }
        ),
        "{e}"
    );
    let mut o = common::Obj::x64();
    o.func("mpy_init", &common::NOPS, true);
    let e = input::load_bytes("x.o", &o.bytes(), xtensa()).unwrap_err();
    assert!(
        matches!(
            e,
            LinkError::WrongClass {
                expected: 32,
                found: 64,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn xtensa_errors_name_the_instruction() {
    let build = |insn: [u8; 3], r_type: u32, target_qstr: bool| -> Vec<u8> {
        let mut o = Obj::with_arch(Architecture::Xtensa);
        let mut code = insn.to_vec();
        code.extend_from_slice(&[0x0d, 0xf0]); // ret.n
        let text = o.xtensa_entry(&code);
        let target = if target_qstr {
            o.undef("MP_QSTR_x", false)
        } else {
            o.section_sym(text)
        };
        o.reloc(text, 0, target, r_type, 0);
        o.bytes()
    };
    let run = |bytes: Vec<u8>| {
        let objs = input::load_bytes("t.o", &bytes, xtensa()).unwrap();
        link::link(&objs, &link::LinkOptions::new(xtensa(), "t.mpy")).unwrap_err()
    };
    // call0 to a qstr: runtime symbols are only reachable through literal words.
    let e = run(build([0x05, 0, 0], 20, true));
    assert!(
        matches!(&e, LinkError::PcRelOutsideText { symbol, .. } if symbol == "MP_QSTR_x"),
        "{e}"
    );
    // l32r to a literal after the instruction (its own section start): l32r reaches back only.
    let e = run(build([0x21, 0, 0], 20, false));
    match &e {
        LinkError::Insn { msg, place, .. } => {
            assert!(msg.contains("l32r"), "{e}");
            assert_eq!(place.section, ".text.mpy_init");
        }
        other => panic!("wrong error: {other}"),
    }
    // A slot-1 relocation is not one we handle.
    let e = run(build([0x05, 0, 0], 21, false));
    assert!(
        matches!(&e, LinkError::UnsupportedRelocation { r_type, .. } if r_type == "R_XTENSA_SLOT1_OP"),
        "{e}"
    );
}

#[test]
fn rodata_alignment_survives_the_loader_layout() {
    let mut o = Obj::with_arch(Architecture::Xtensa);
    let lit = o.section(".literal.mpy_init", SectionKind::Text, &[0u8; 8], 4);
    // l32r a2, <literal 0>; l32r a3, <literal 1>; ret.n
    let text = o.xtensa_entry(&[0x21, 0, 0, 0x31, 0, 0, 0x0d, 0xf0]);
    let cst = o.section(
        ".rodata.cst8",
        SectionKind::ReadOnlyData,
        &2.5f64.to_le_bytes(),
        8,
    );
    let bss = o.section(".bss.x", SectionKind::UninitializedData, &[0u8; 6], 2);
    let (lit_s, cst_s, bss_s) = (o.section_sym(lit), o.section_sym(cst), o.section_sym(bss));
    o.reloc(text, 0, lit_s, R_XTENSA_SLOT0_OP, 0);
    o.reloc(text, 3, lit_s, R_XTENSA_SLOT0_OP, 4);
    o.reloc(lit, 0, cst_s, R_XTENSA_32, 0);
    o.reloc(lit, 4, bss_s, R_XTENSA_32, 0);
    let objs = input::load_bytes("t.o", &o.bytes(), xtensa()).unwrap();
    let l = link::link(&objs, &link::LinkOptions::new(xtensa(), "t.mpy")).unwrap();
    // Loader: rodata = bss + align(bss_size, 4); bss is padded so that is 8-aligned.
    assert_eq!(l.image.bss_size, 8);
    assert_eq!(l.image.rodata, 2.5f64.to_le_bytes());
    // The literals are found by the l32r instructions and hold region offsets.
    let (text, _) = relocate(&l.image);
    let lit_word = |i: usize| u32::from_le_bytes(text[4 + 4 * i..8 + 4 * i].try_into().unwrap());
    assert_eq!((lit_word(0), lit_word(1)), (RODATA_BASE, BSS_BASE));
}

#[test]
fn non_identifier_qstr_is_refused() {
    let mut o = Obj::with_arch(Architecture::Xtensa);
    let lit = o.section(".literal.mpy_init", SectionKind::Text, &[0u8; 4], 4);
    let text = o.xtensa_entry(&[0x21, 0, 0, 0x0d, 0xf0]); // l32r a2, <literal>; ret.n
    let q = o.undef("MP_QSTR_a b", false);
    // The literal word holds the qstr's address (R_XTENSA_32); mpy_init reaches the literal.
    o.reloc(lit, 0, q, R_XTENSA_32, 0);
    let lit_sym = o.section_sym(lit);
    o.reloc(text, 0, lit_sym, R_XTENSA_SLOT0_OP, 0);
    let objs = input::load_bytes("q.o", &o.bytes(), xtensa()).unwrap();
    let e = link::link(&objs, &link::LinkOptions::new(xtensa(), "q.mpy")).unwrap_err();
    assert!(
        matches!(&e, LinkError::BadQstrName { name, .. } if name == "a b"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("`.literal.mpy_init`+0x0 in q.o"), "{msg}");
}
