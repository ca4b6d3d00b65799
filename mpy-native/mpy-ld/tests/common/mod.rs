//! Builds ELF relocatable objects with `object::write`, shaped like rustc's output
//! (one section per function/static), so the tests need no toolchain.
#![allow(dead_code)]

use object::write::{Object, Relocation, SectionId, Symbol, SymbolId, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, RelocationFlags, SectionKind, SymbolFlags, SymbolKind,
    SymbolScope,
};

use mpy_ld::arch;
use mpy_ld::input::{self, InputObject};
use mpy_ld::link::{self, Area, LinkOptions, Linked};
use mpy_ld::LinkError;

pub const R_64: u32 = 1;
pub const R_PC32: u32 = 2;
pub const R_PLT32: u32 = 4;
pub const R_GOTPCREL: u32 = 9;
pub const R_32S: u32 = 11;
pub const R_REX_GOTPCRELX: u32 = 42;

pub const R_XTENSA_32: u32 = 1;
pub const R_XTENSA_SLOT0_OP: u32 = 20;

/// `call rel32` / `mov rax, [rip+rel32]` style placeholder bytes: the fields get patched.
pub const NOPS: [u8; 32] = [0x90; 32];

pub struct Obj {
    pub obj: Object<'static>,
}

impl Obj {
    pub fn x64() -> Self {
        Obj {
            obj: Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little),
        }
    }

    pub fn with_arch(a: Architecture) -> Self {
        Obj {
            obj: Object::new(BinaryFormat::Elf, a, Endianness::Little),
        }
    }

    pub fn section(&mut self, name: &str, kind: SectionKind, data: &[u8], align: u64) -> SectionId {
        let id = self
            .obj
            .add_section(Vec::new(), name.as_bytes().to_vec(), kind);
        if matches!(
            kind,
            SectionKind::UninitializedData | SectionKind::UninitializedTls
        ) {
            self.obj.append_section_bss(id, data.len() as u64, align);
        } else {
            self.obj.append_section_data(id, data, align);
        }
        id
    }

    /// xtensa: `.text.mpy_init` holding `code` (4-byte aligned, as the assembler emits it) and
    /// its global `mpy_init` symbol.
    pub fn xtensa_entry(&mut self, code: &[u8]) -> SectionId {
        let text = self.section(".text.mpy_init", SectionKind::Text, code, 4);
        self.def(
            "mpy_init",
            text,
            0,
            code.len() as u64,
            SymbolKind::Text,
            true,
            false,
        );
        text
    }

    /// A function section `.text.<name>` with a symbol at offset 0.
    pub fn func(&mut self, name: &str, code: &[u8], global: bool) -> (SectionId, SymbolId) {
        let sec = self.section(&format!(".text.{name}"), SectionKind::Text, code, 1);
        let sym = self.def(
            name,
            sec,
            0,
            code.len() as u64,
            SymbolKind::Text,
            global,
            false,
        );
        (sec, sym)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn def(
        &mut self,
        name: &str,
        sec: SectionId,
        value: u64,
        size: u64,
        kind: SymbolKind,
        global: bool,
        weak: bool,
    ) -> SymbolId {
        self.obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value,
            size,
            kind,
            scope: if global {
                SymbolScope::Dynamic
            } else {
                SymbolScope::Compilation
            },
            weak,
            section: SymbolSection::Section(sec),
            flags: SymbolFlags::None,
        })
    }

    pub fn undef(&mut self, name: &str, weak: bool) -> SymbolId {
        self.obj.add_symbol(Symbol {
            name: name.as_bytes().to_vec(),
            value: 0,
            size: 0,
            kind: SymbolKind::Unknown,
            scope: SymbolScope::Dynamic,
            weak,
            section: SymbolSection::Undefined,
            flags: SymbolFlags::None,
        })
    }

    pub fn section_sym(&mut self, sec: SectionId) -> SymbolId {
        self.obj.section_symbol(sec)
    }

    pub fn reloc(
        &mut self,
        sec: SectionId,
        offset: u64,
        symbol: SymbolId,
        r_type: u32,
        addend: i64,
    ) {
        self.obj
            .add_relocation(
                sec,
                Relocation {
                    offset,
                    symbol,
                    addend,
                    flags: RelocationFlags::Elf { r_type },
                },
            )
            .expect("add relocation");
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.obj.write().expect("write ELF")
    }
}

pub fn x64() -> &'static arch::ArchData {
    arch::by_name("x64").expect("x64 arch")
}

pub fn xtensa() -> &'static arch::ArchData {
    arch::by_name("xtensa").expect("xtensa arch")
}

pub fn load(name: &str, o: &Obj) -> Result<Vec<InputObject>, LinkError> {
    input::load_bytes(name, &o.bytes(), x64())
}

/// x64 with the defaults (entry `mpy_init`, literal merging on, no ROM).
pub fn opts() -> LinkOptions {
    LinkOptions::new(x64(), "test.mpy")
}

/// Loads each (name, object) and links them.
pub fn link_objs(objs: &[(&str, &Obj)]) -> Result<Linked, LinkError> {
    let mut inputs = Vec::new();
    for (name, o) in objs {
        inputs.extend(load(name, o)?);
    }
    link::link(&inputs, &opts())
}

/// A GNU `ar` archive from (member name, bytes); names up to 15 chars.
pub fn ar(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"!<arch>\n".to_vec();
    for (name, data) in members {
        assert!(name.len() < 16);
        let header = format!(
            "{:<16}{:<12}{:<6}{:<6}{:<8}{:<10}`\n",
            format!("{name}/"),
            0,
            0,
            0,
            644,
            data.len()
        );
        assert_eq!(header.len(), 60);
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(b'\n');
        }
    }
    out
}

/// Where a kept section went.
pub fn section_addr(l: &Linked, name: &str) -> (Area, u64) {
    let s = l
        .map
        .sections
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("section {name} not kept"));
    (s.area, s.addr)
}

/// A fresh directory for one test's files, under cargo's per-target scratch directory.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn read_u32(buf: &[u8], at: u64) -> u32 {
    u32::from_le_bytes(buf[at as usize..at as usize + 4].try_into().unwrap())
}

pub fn read_i32(buf: &[u8], at: u64) -> i64 {
    i64::from(i32::from_le_bytes(
        buf[at as usize..at as usize + 4].try_into().unwrap(),
    ))
}

pub fn read_u64(buf: &[u8], at: u64) -> u64 {
    u64::from_le_bytes(buf[at as usize..at as usize + 8].try_into().unwrap())
}
