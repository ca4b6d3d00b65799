//! Link tests on synthesized x64 objects: a full good module (checked against the link
//! plan and read back through the `.mpy` reader) and one test per refused input.

mod common;

use common::*;
use mpy_ld::link::{Area, Linked};
use mpy_ld::mpy::{self, Dest, QstrEntry, Region, Reloc};
use mpy_ld::LinkError;
use object::{Architecture, SectionKind, SymbolKind};

/// A module shaped like rustc's output, touching every supported relocation.
fn good_module() -> Obj {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let (helper, helper_sym) = o.func("helper", &NOPS[..16], false);
    let (unused, _) = o.func("unused_fn", &NOPS[..16], true);
    let msg = o.section(".rodata.msg", SectionKind::ReadOnlyData, b"hello\0", 1);
    let cst = o.section(
        ".rodata.cst8",
        SectionKind::ReadOnlyData,
        &1.5f64.to_le_bytes(),
        8,
    );
    let vt = o.section(
        ".data.rel.ro.vt",
        SectionKind::ReadOnlyDataWithRel,
        &[0u8; 24],
        8,
    );
    let state = o.section(".bss.STATE", SectionKind::UninitializedData, &[0u8; 16], 8);
    let other = o.section(".bss.other", SectionKind::UninitializedData, &[0u8; 8], 8);
    o.def("STATE", state, 0, 16, SymbolKind::Data, true, false);

    let fun_table = o.undef("mp_fun_table", false);
    let q_foo = o.undef("MP_QSTR_foo", false);
    let bar = o.undef("MP_QSTR_bar", false);
    let zzz = o.undef("MP_QSTR_zzz", false);
    let never = o.undef("never_there", true);
    let state_sym = o.obj.symbol_id(b"STATE").unwrap();
    let msg_s = o.section_sym(msg);
    let cst_s = o.section_sym(cst);
    let vt_s = o.section_sym(vt);
    let other_s = o.section_sym(other);

    o.reloc(init, 1, helper_sym, R_PLT32, -4);
    o.reloc(init, 6, fun_table, R_GOTPCREL, -4);
    o.reloc(init, 11, q_foo, R_REX_GOTPCRELX, -4);
    o.reloc(init, 16, bar, R_GOTPCREL, -4);
    o.reloc(init, 21, state_sym, R_GOTPCREL, -4);
    o.reloc(init, 26, msg_s, R_PC32, -4 + 2);
    o.reloc(helper, 2, cst_s, R_PC32, -4);
    o.reloc(helper, 8, vt_s, R_PC32, -4);
    o.reloc(helper, 12, other_s, R_GOTPCREL, -4);
    o.reloc(vt, 0, helper_sym, R_64, 0);
    o.reloc(vt, 8, q_foo, R_64, 0);
    o.reloc(vt, 16, msg_s, R_64, 3);
    // Only reachable from a dropped section: neither an error nor a qstr.
    o.reloc(unused, 1, never, R_PLT32, -4);
    o.reloc(unused, 6, zzz, R_GOTPCREL, -4);
    o
}

fn sym_addr(l: &Linked, name: &str) -> (Area, u64) {
    let (_, area, addr) = l
        .map
        .symbols
        .iter()
        .find(|s| s.0 == name)
        .unwrap_or_else(|| panic!("symbol {name} not in map"));
    (*area, *addr)
}

fn got(l: &Linked, target: &str) -> (u64, u64, Option<Dest>) {
    let g = l
        .map
        .got
        .iter()
        .find(|g| g.target == target)
        .unwrap_or_else(|| panic!("no GOT entry for {target}"));
    (g.addr, g.value, g.dest)
}

/// Where a rel32 field at `p` points, for an addend of -4 (+ any offset into the target).
fn pcrel_target(text: &[u8], p: u64) -> u64 {
    (read_i32(text, p) + p as i64 + 4) as u64
}

#[test]
fn good_module_layout_matches_plan() {
    let o = good_module();
    let l = link_objs(&[("main.o", &o)]).expect("link");
    let img = &l.image;
    let text = &img.text;

    // Entry first, no jump.
    assert_eq!(l.map.entry_jump, None);
    assert_eq!(sym_addr(&l, "mpy_init"), (Area::Text, 0));
    assert_eq!(l.map.sections[0].name, ".text.mpy_init");

    // GC: the unused function is dropped, with its references.
    assert!(l.map.dropped.iter().any(|d| d.name == ".text.unused_fn"));
    assert!(!l.map.sections.iter().any(|s| s.name == ".text.unused_fn"));
    assert_eq!(
        img.qstrs,
        vec![
            QstrEntry::Bytes(b"test.mpy".to_vec()),
            QstrEntry::Bytes(b"bar".to_vec()),
            QstrEntry::Bytes(b"foo".to_vec())
        ]
    );

    // Merged layout on x64: rodata and .data.rel.ro live in the text.
    let (a, cst) = section_addr(&l, ".rodata.cst8");
    assert_eq!(a, Area::Text);
    assert_eq!(cst % 8, 0);
    let (_, msg) = section_addr(&l, ".rodata.msg");
    let (_, vt) = section_addr(&l, ".data.rel.ro.vt");
    assert_eq!(vt % 8, 0);
    assert!(img.rodata.is_empty());
    assert_eq!(&text[msg as usize..msg as usize + 6], b"hello\0");
    assert_eq!(&text[cst as usize..cst as usize + 8], &1.5f64.to_le_bytes());

    // Link-time PC-relative fields.
    let (_, helper) = sym_addr(&l, "helper");
    assert_eq!(pcrel_target(text, 1), helper);
    assert_eq!(pcrel_target(text, 26), msg + 2);
    assert_eq!(pcrel_target(text, helper + 2), cst);
    assert_eq!(pcrel_target(text, helper + 8), vt);

    // GOT words and the code pointing at them.
    assert_eq!(l.map.got_addr % 8, 0);
    let (g_ft, v_ft, d_ft) = got(&l, "mp_fun_table");
    assert_eq!((v_ft, d_ft), (0, Some(Dest::FunTable)));
    let (g_foo, v_foo, d_foo) = got(&l, "MP_QSTR_foo");
    assert_eq!((v_foo, d_foo), (4, Some(Dest::QstrTable)));
    let (g_bar, v_bar, d_bar) = got(&l, "MP_QSTR_bar");
    assert_eq!((v_bar, d_bar), (2, Some(Dest::QstrTable)));
    let (_, state) = sym_addr(&l, "STATE");
    assert_eq!(sym_addr(&l, "STATE").0, Area::Bss);
    let (g_state, v_state, d_state) = got(&l, "STATE");
    assert_eq!((v_state, d_state), (state, Some(Dest::Bss)));
    let (_, other) = section_addr(&l, ".bss.other");
    let (g_other, v_other, d_other) = got(&l, ".bss.other+0x0");
    assert_eq!((v_other, d_other), (other, Some(Dest::Bss)));
    assert_eq!(pcrel_target(text, 6), g_ft);
    assert_eq!(pcrel_target(text, 11), g_foo);
    assert_eq!(pcrel_target(text, 16), g_bar);
    assert_eq!(pcrel_target(text, 21), g_state);
    assert_eq!(pcrel_target(text, helper + 12), g_other);
    for g in &l.map.got {
        assert_eq!(read_u64(text, g.addr), g.value, "GOT word for {}", g.target);
    }

    // Absolute words in .data.rel.ro.
    assert_eq!(read_u64(text, vt), helper);
    assert_eq!(read_u64(text, vt + 8), 4);
    assert_eq!(read_u64(text, vt + 16), msg + 3);

    // Runtime relocations: exactly the GOT words and the absolute words.
    let mut expected: Vec<Reloc> = l
        .map
        .got
        .iter()
        .map(|g| Reloc {
            region: Region::Text,
            word: g.addr / 8,
            dest: g.dest.unwrap(),
        })
        .collect();
    expected.push(Reloc {
        region: Region::Text,
        word: vt / 8,
        dest: Dest::Text,
    });
    expected.push(Reloc {
        region: Region::Text,
        word: vt / 8 + 1,
        dest: Dest::QstrTable,
    });
    expected.push(Reloc {
        region: Region::Text,
        word: vt / 8 + 2,
        dest: Dest::Text,
    });
    expected.sort();
    assert_eq!(img.relocs, expected);

    // Bss: both statics, aligned.
    assert_eq!(state % 8, 0);
    assert!(img.bss_size >= 24);
    assert_eq!(
        img.scope_flags(),
        mpy::SCOPE_VIPERRELOC | mpy::SCOPE_VIPERBSS
    );
}

#[test]
fn good_module_round_trips_through_the_reader() {
    let o = good_module();
    let l = link_objs(&[("main.o", &o)]).expect("link");
    let bytes = l.image.to_bytes();
    let back = mpy::parse(&bytes).expect("read back");
    assert_eq!(back.image, l.image);
    assert_eq!(back.version, 6);
    assert_eq!(back.sub_version, 3);
    assert_eq!(&bytes[..4], &[b'M', 6, 0x0B, 63]);
    assert_eq!(back.scope_flags, l.image.scope_flags());
    // The GOT's bss words share one op through the repeat count.
    assert!(back.n_reloc_ops < l.image.relocs.len());
    let report = back.report();
    assert_eq!(report.text_size, l.image.text.len());
    assert_eq!(report.bss_size, l.image.bss_size);
    assert_eq!(report.relocs.len(), l.image.relocs.len());
    for r in &report.relocs {
        assert_eq!(r.stored, read_u64(&l.image.text, r.byte_offset));
    }
}

#[test]
fn entry_not_at_section_start_gets_a_jump() {
    let mut o = Obj::x64();
    let sec = o.section(".text", SectionKind::Text, &NOPS, 1);
    o.def("first", sec, 0, 8, SymbolKind::Text, false, false);
    o.def("mpy_init", sec, 8, 24, SymbolKind::Text, true, false);
    let l = link_objs(&[("a.o", &o)]).expect("link");
    assert_eq!(l.map.entry_jump, Some(l.map.entry_addr));
    assert_eq!(l.image.text[0], 0xE9);
    assert_eq!(read_i32(&l.image.text, 1) + 5, l.map.entry_addr as i64);
    assert_eq!(l.map.entry_addr, section_addr(&l, ".text").1 + 8);
}

#[test]
fn archive_members_resolve_across_objects() {
    let mut a = Obj::x64();
    let (init, _) = a.func("mpy_init", &NOPS[..8], true);
    let ext = a.undef("helper_ext", false);
    a.reloc(init, 1, ext, R_PLT32, -4);
    let mut b = Obj::x64();
    b.func("helper_ext", &[0xC3], true);
    let archive = ar(&[("a.o", a.bytes()), ("b.o", b.bytes())]);
    let objs = mpy_ld::input::load_bytes("libm.a", &archive, x64()).expect("load archive");
    assert_eq!(objs.len(), 2);
    assert_eq!(objs[0].name, "libm.a(a.o)");
    let l = mpy_ld::link::link(&objs, &opts()).expect("link");
    let (_, helper) = sym_addr(&l, "helper_ext");
    assert_eq!(pcrel_target(&l.image.text, 1), helper);
    assert_eq!(l.image.text[helper as usize], 0xC3);
}

#[test]
fn strong_definition_beats_weak() {
    let mut a = Obj::x64();
    let (init, _) = a.func("mpy_init", &NOPS[..8], true);
    let ext = a.undef("pick", false);
    a.reloc(init, 1, ext, R_PLT32, -4);
    let mut weak = Obj::x64();
    let s = weak.section(".text.pick", SectionKind::Text, &[0xCC], 1);
    weak.def("pick", s, 0, 1, SymbolKind::Text, true, true);
    let mut strong = Obj::x64();
    strong.func("pick", &[0xC3], true);
    let l = link_objs(&[("a.o", &a), ("weak.o", &weak), ("strong.o", &strong)]).expect("link");
    let target = pcrel_target(&l.image.text, 1);
    assert_eq!(
        l.image.text[target as usize], 0xC3,
        "the strong definition is the one called"
    );
    assert!(l
        .map
        .dropped
        .iter()
        .any(|d| d.file == "weak.o" && d.name == ".text.pick"));
}

// ---- refused inputs ------------------------------------------------------------------

fn err_of(objs: &[(&str, &Obj)]) -> LinkError {
    match link_objs(objs) {
        Ok(_) => panic!("link should fail"),
        Err(e) => e,
    }
}

#[test]
fn pc_relative_internal_static_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let bss = o.section(
        ".bss._RNvCs9jVy1Jk7P43_2nm5LOCAL",
        SectionKind::UninitializedData,
        &[0u8; 32],
        8,
    );
    o.def(
        "_RNvCs9jVy1Jk7P43_2nm5LOCAL",
        bss,
        0,
        32,
        SymbolKind::Data,
        false,
        false,
    );
    let s = o.section_sym(bss);
    o.reloc(init, 0x1c, s, R_PC32, -4);
    let e = err_of(&[("nm.o", &o)]);
    match &e {
        LinkError::PcRelToBss {
            symbol,
            place,
            arch,
        } => {
            assert_eq!(symbol, "nm::LOCAL");
            assert_eq!(place.section, ".text.mpy_init");
            assert_eq!(place.offset, 0x1c);
            assert_eq!(place.file, "nm.o");
            assert_eq!(*arch, "x64");
        }
        other => panic!("wrong error: {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains(
            "internal static `nm::LOCAL` referenced PC-relative from `.text.mpy_init`+0x1c"
        ),
        "{msg}"
    );
    assert!(msg.contains("#[no_mangle] pub static mut"), "{msg}");
}

#[test]
fn unsupported_relocation_is_named() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let (_, h) = o.func("h", &NOPS[..4], false);
    o.reloc(init, 4, h, R_32S, 0);
    match err_of(&[("a.o", &o)]) {
        LinkError::UnsupportedRelocation {
            r_type,
            symbol,
            place,
        } => {
            assert_eq!(r_type, "R_X86_64_32S");
            assert_eq!(symbol, "h");
            assert_eq!(
                (place.section.as_str(), place.offset),
                (".text.mpy_init", 4)
            );
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn non_empty_data_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let d = o.section(".data.counter", SectionKind::Data, &[1, 0, 0, 0], 4);
    let s = o.section_sym(d);
    o.reloc(init, 2, s, R_PC32, -4);
    match err_of(&[("a.o", &o)]) {
        LinkError::DataSection {
            section,
            size,
            from,
            ..
        } => {
            assert_eq!(section, ".data.counter");
            assert_eq!(size, 4);
            assert_eq!(from.offset, 2);
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn tls_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let t = o.section(".tbss.x", SectionKind::UninitializedTls, &[0u8; 8], 8);
    let s = o.section_sym(t);
    o.reloc(init, 2, s, R_GOTPCREL, -4);
    match err_of(&[("a.o", &o)]) {
        LinkError::Tls { section, from, .. } => {
            assert_eq!(section, ".tbss.x");
            assert_eq!(from.section, ".text.mpy_init");
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn init_array_is_refused() {
    let mut o = Obj::x64();
    let (_, init_sym) = o.func("mpy_init", &NOPS, true);
    let ia = o.section(".init_array", SectionKind::Data, &[0u8; 8], 8);
    o.reloc(ia, 0, init_sym, R_64, 0);
    match err_of(&[("a.o", &o)]) {
        LinkError::InitArray { section, file } => {
            assert_eq!((section.as_str(), file.as_str()), (".init_array", "a.o"))
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn undefined_symbol_names_every_reference() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let u = o.undef("mp_obj_new_int", false);
    o.reloc(init, 3, u, R_GOTPCREL, -4);
    o.reloc(init, 9, u, R_PLT32, -4);
    let e = err_of(&[("a.o", &o)]);
    match &e {
        LinkError::Undefined { symbol, refs } => {
            assert_eq!(symbol, "mp_obj_new_int");
            assert_eq!(
                refs.iter().map(|p| p.offset).collect::<Vec<_>>(),
                vec![3, 9]
            );
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("`.text.mpy_init`+0x3 in a.o"), "{e}");
}

#[test]
fn referenced_weak_undefined_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let u = o.undef("maybe", true);
    o.reloc(init, 3, u, R_PLT32, -4);
    assert!(
        matches!(err_of(&[("a.o", &o)]), LinkError::Undefined { symbol, .. } if symbol == "maybe")
    );
}

#[test]
fn duplicate_strong_symbol_names_both_objects() {
    let mut a = Obj::x64();
    a.func("mpy_init", &NOPS, true);
    a.func("dup", &[0xC3], true);
    let mut b = Obj::x64();
    b.func("dup", &[0xC3], true);
    match err_of(&[("a.o", &a), ("b.o", &b)]) {
        LinkError::DuplicateSymbol {
            symbol,
            first,
            second,
        } => {
            assert_eq!(
                (symbol.as_str(), first.as_str(), second.as_str()),
                ("dup", "a.o", "b.o")
            );
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn missing_entry_is_refused() {
    let mut o = Obj::x64();
    o.func("not_the_entry", &NOPS, true);
    assert!(matches!(err_of(&[("a.o", &o)]), LinkError::MissingEntry(e) if e == "mpy_init"));
}

#[test]
fn entry_in_data_is_refused() {
    let mut o = Obj::x64();
    let r = o.section(".rodata.x", SectionKind::ReadOnlyData, &[0u8; 8], 8);
    o.def("mpy_init", r, 0, 8, SymbolKind::Data, true, false);
    assert!(
        matches!(err_of(&[("a.o", &o)]), LinkError::EntryNotText { section, .. } if section == ".rodata.x")
    );
}

#[test]
fn unaligned_absolute_word_is_refused() {
    let mut o = Obj::x64();
    let (init, init_sym) = o.func("mpy_init", &NOPS, true);
    let vt = o.section(
        ".data.rel.ro.vt",
        SectionKind::ReadOnlyDataWithRel,
        &[0u8; 16],
        8,
    );
    let vs = o.section_sym(vt);
    o.reloc(init, 2, vs, R_PC32, -4);
    o.reloc(vt, 4, init_sym, R_64, 0);
    match err_of(&[("a.o", &o)]) {
        LinkError::UnalignedAbsolute {
            symbol,
            place,
            word_size,
        } => {
            assert_eq!(symbol, "mpy_init");
            assert_eq!(
                (place.section.as_str(), place.offset, word_size),
                (".data.rel.ro.vt", 4, 8)
            );
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn runtime_symbol_used_pc_relative_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let ft = o.undef("mp_fun_table", false);
    o.reloc(init, 2, ft, R_PC32, -4);
    assert!(
        matches!(err_of(&[("a.o", &o)]), LinkError::PcRelOutsideText { symbol, .. } if symbol == "mp_fun_table")
    );
}

#[test]
fn qstr_names_must_be_identifiers() {
    use mpy_ld::link::is_qstr_name;
    for ok in ["lux", "_x", "__init__", "FULLSPECTRUM", "a1"] {
        assert!(is_qstr_name(ok.as_bytes()), "{ok}");
    }
    for bad in ["", "1a", "sensor-data", "?", "a b", "a:b", "é"] {
        assert!(!is_qstr_name(bad.as_bytes()), "{bad}");
    }
}

#[test]
fn non_identifier_qstr_is_refused() {
    let mut o = Obj::x64();
    let (init, _) = o.func("mpy_init", &NOPS, true);
    let q = o.undef("MP_QSTR_sensor-data", false);
    o.reloc(init, 2, q, R_GOTPCREL, -4);
    o.reloc(init, 7, q, R_GOTPCREL, -4);
    let e = err_of(&[("a.o", &o)]);
    assert!(
        matches!(&e, LinkError::BadQstrName { name, refs } if name == "sensor-data" && refs.len() == 2),
        "{e}"
    );
    let msg = e.to_string();
    assert!(msg.contains("`.text.mpy_init`+0x2 in a.o"), "{msg}");
    assert!(msg.contains("Obj::str(\"sensor-data\")"), "{msg}");
}

#[test]
fn reserved_names_cannot_be_defined() {
    let mut o = Obj::x64();
    o.func("mpy_init", &NOPS, true);
    let r = o.section(".rodata.t", SectionKind::ReadOnlyData, &[0u8; 8], 8);
    o.def("mp_fun_table", r, 0, 8, SymbolKind::Data, true, false);
    assert!(
        matches!(err_of(&[("a.o", &o)]), LinkError::ReservedSymbol { symbol, .. } if symbol == "mp_fun_table")
    );
}

#[test]
fn wrong_class_and_machine_are_refused() {
    let mut o32 = Obj::with_arch(Architecture::I386);
    o32.func("mpy_init", &NOPS, true);
    assert!(matches!(
        load("x86.o", &o32),
        Err(LinkError::WrongClass {
            expected: 64,
            found: 32,
            ..
        })
    ));
    let mut arm64 = Obj::with_arch(Architecture::Aarch64);
    arm64.func("mpy_init", &NOPS, true);
    match load("arm.o", &arm64) {
        Err(LinkError::WrongMachine {
            expected: 62,
            found: 183,
            file,
            ..
        }) => assert_eq!(file, "arm.o"),
        other => panic!("wrong result: {other:?}"),
    }
}

#[test]
fn not_an_object_and_truncated_files_are_refused() {
    assert!(matches!(
        mpy_ld::input::load_bytes("x.txt", b"hello world", x64()),
        Err(LinkError::NotObject { file }) if file == "x.txt"
    ));
    let mut o = Obj::x64();
    o.func("mpy_init", &NOPS, true);
    let bytes = o.bytes();
    for cut in [10, 40, 64, bytes.len() / 2, bytes.len() - 1] {
        let e = mpy_ld::input::load_bytes("cut.o", &bytes[..cut], x64())
            .expect_err("truncated input must fail");
        assert!(matches!(e, LinkError::Corrupt { .. }), "cut at {cut}: {e}");
    }
    let mut archive = ar(&[("a.o", bytes.clone())]);
    archive.truncate(archive.len() - 100);
    assert!(matches!(
        mpy_ld::input::load_bytes("lib.a", &archive, x64()),
        Err(LinkError::Corrupt {
            what: "ar archive",
            ..
        })
    ));
}

#[test]
fn unimplemented_arches_say_so() {
    for name in ["xtensawin", "armv6m", "armv7m", "rv32imc"] {
        let a = mpy_ld::arch::by_name(name).unwrap();
        let opts = mpy_ld::LinkOptions {
            rom: None,
            ..mpy_ld::LinkOptions::new(a, "t.mpy")
        };
        let e = mpy_ld::link(&[], &opts).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("arch {name}: not implemented yet (planned); implemented: x64, xtensa")
        );
    }
}

#[test]
fn constructors_of_objects_that_take_no_part_are_ignored() {
    let mut a = Obj::x64();
    a.func("mpy_init", &NOPS, true);
    // An unrelated member (as in a whole archive) with a constructor table.
    let mut b = Obj::x64();
    let (_, f) = b.func("ctor", &[0xC3], false);
    let ia = b.section(".init_array", SectionKind::Data, &[0u8; 8], 8);
    b.reloc(ia, 0, f, R_64, 0);
    let l = link_objs(&[("a.o", &a), ("b.o", &b)]).expect("b.o takes no part");
    assert!(l.map.dropped.iter().any(|d| d.file == "b.o"));
}
