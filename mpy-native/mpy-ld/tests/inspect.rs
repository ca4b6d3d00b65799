//! The `.mpy` reader: valid files round-trip, and every kind of corruption is reported
//! with the byte offset where it was found (never a panic).

use mpy_ld::mpy::{self, Dest, MpyImage, QstrEntry, Region, Reloc};

/// An image with every part present: separate rodata (as on xtensa), bss, runs and single ops.
fn image() -> MpyImage {
    let relocs = vec![
        Reloc {
            region: Region::Text,
            word: 1,
            dest: Dest::Text,
        },
        Reloc {
            region: Region::Text,
            word: 2,
            dest: Dest::Text,
        },
        Reloc {
            region: Region::Text,
            word: 3,
            dest: Dest::Bss,
        },
        Reloc {
            region: Region::Text,
            word: 4,
            dest: Dest::QstrTable,
        },
        Reloc {
            region: Region::Text,
            word: 5,
            dest: Dest::FunTable,
        },
        Reloc {
            region: Region::Text,
            word: 6,
            dest: Dest::FunSlot(50),
        },
        Reloc {
            region: Region::Rodata,
            word: 0,
            dest: Dest::Rodata,
        },
        Reloc {
            region: Region::Rodata,
            word: 1,
            dest: Dest::Text,
        },
    ];
    MpyImage {
        arch: 9,
        arch_flags: 0,
        small_int_bits: 31,
        qstrs: vec![
            QstrEntry::Bytes(b"t.mpy".to_vec()),
            QstrEntry::Bytes(b"lux".to_vec()),
            QstrEntry::Static(94),
        ],
        text: (0u8..32).collect(),
        rodata: vec![7; 12],
        bss_size: 20,
        relocs,
        word_size: 4,
    }
}

/// Offset of the relocation stream: everything before it is the same without relocations.
fn reloc_stream_start(img: &MpyImage) -> usize {
    let mut bare = img.clone();
    bare.relocs.clear();
    bare.to_bytes().len() - 1
}

fn err_at(bytes: &[u8]) -> mpy::MpyReadError {
    mpy::parse(bytes).expect_err("corrupt file must be refused")
}

#[test]
fn valid_file_round_trips() {
    let img = image();
    let bytes = img.to_bytes();
    assert_eq!(bytes[2], 0x27, "xtensa flags byte");
    let back = mpy::parse(&bytes).expect("parse");
    assert_eq!(back.image, img);
    assert_eq!(
        back.scope_flags,
        mpy::SCOPE_VIPERRELOC | mpy::SCOPE_VIPERRODATA | mpy::SCOPE_VIPERBSS
    );
    // Runs: text words 1-2 are one op; rodata 0 and text-base rodata 1 are separate.
    assert_eq!(back.n_reloc_ops, img.relocs.len() - 1);
    let report = back.report();
    assert_eq!(report.arch, "xtensa");
    assert_eq!(report.rodata_size, 12);
    assert_eq!(
        report.relocs[5].adds.to_string(),
        "mp_fun_table[50] (memset)"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["qstrs"][1], "lux");
    assert_eq!(json["qstrs"][2], "<static qstr 94>");
    assert_eq!(json["relocs"][6]["region"], "rodata");
}

#[test]
fn bad_magic_and_version() {
    let mut b = image().to_bytes();
    b[0] = b'X';
    let e = err_at(&b);
    assert_eq!(e.offset, 0);
    assert!(e.msg.contains("magic"), "{e}");
    let mut b = image().to_bytes();
    b[1] = 5;
    let e = err_at(&b);
    assert_eq!(e.offset, 1);
    assert!(e.msg.contains("version 5"), "{e}");
    let mut b = image().to_bytes();
    b[2] = 9 << 2 | 2;
    assert_eq!(err_at(&b).offset, 2);
}

#[test]
fn every_truncation_is_reported_inside_the_file() {
    let b = image().to_bytes();
    for cut in 0..b.len() {
        let e = err_at(&b[..cut]);
        assert!(
            e.offset <= cut,
            "cut {cut}: offset {} past the end",
            e.offset
        );
    }
}

#[test]
fn varint_overrun_and_overflow() {
    let e = err_at(&[b'M', 6, 0x0B, 63, 0x80]);
    assert_eq!(e.offset, 4);
    assert!(e.msg.contains("runs past the end"), "{e}");
    let mut b = vec![b'M', 6, 0x0B, 63];
    b.extend([0xFF; 12]);
    b.push(0);
    let e = err_at(&b);
    assert_eq!(e.offset, 4);
    assert!(e.msg.contains("overflows"), "{e}");
}

#[test]
fn relocation_outside_its_region() {
    for (region, word) in [(Region::Text, 8), (Region::Rodata, 3)] {
        let mut img = image();
        img.relocs = vec![Reloc {
            region,
            word,
            dest: Dest::Text,
        }];
        let b = img.to_bytes();
        let e = err_at(&b);
        assert_eq!(e.offset, reloc_stream_start(&img));
        assert!(e.msg.contains("outside"), "{e}");
    }
    // A run that starts inside and ends outside.
    let mut img = image();
    img.relocs = (6..9)
        .map(|word| Reloc {
            region: Region::Text,
            word,
            dest: Dest::Bss,
        })
        .collect();
    assert!(err_at(&img.to_bytes()).msg.contains("3 word(s)"));
}

#[test]
fn missing_terminator_and_trailing_garbage() {
    let b = image().to_bytes();
    let e = err_at(&b[..b.len() - 1]);
    assert_eq!(e.offset, b.len() - 1);
    assert!(e.msg.contains("0xFF"), "{e}");
    let mut g = b.clone();
    g.extend_from_slice(b"junk");
    let e = err_at(&g);
    assert_eq!(e.offset, b.len());
    assert!(e.msg.contains("4 bytes of trailing garbage"), "{e}");
}

#[test]
fn bases_that_do_not_exist_are_refused() {
    let mut img = image();
    img.rodata.clear();
    img.relocs = vec![Reloc {
        region: Region::Text,
        word: 0,
        dest: Dest::Rodata,
    }];
    assert!(err_at(&img.to_bytes()).msg.contains("no rodata"));
    let mut img = image();
    img.bss_size = 0;
    img.relocs = vec![Reloc {
        region: Region::Text,
        word: 0,
        dest: Dest::Bss,
    }];
    assert!(err_at(&img.to_bytes()).msg.contains("no bss"));
    let mut img = image();
    img.relocs = vec![Reloc {
        region: Region::Text,
        word: 0,
        dest: Dest::FunSlot(90),
    }];
    assert!(err_at(&img.to_bytes()).msg.contains("mp_fun_table[90]"));
}

#[test]
fn qstr_without_nul_is_refused() {
    let mut b = image().to_bytes();
    // Header 4, n_qstr, n_obj, then qstr 0: len<<1, "t.mpy", NUL.
    let nul_at = 4 + 1 + 1 + 1 + 5;
    assert_eq!(b[nul_at], 0);
    b[nul_at] = b'!';
    let e = err_at(&b);
    assert_eq!(e.offset, nul_at);
}
