//! Reading inputs: ELF relocatable objects and `ar` archives (every member is loaded,
//! section GC later drops what the entry does not reach).

use std::path::Path;

use object::elf;
use object::read::archive::ArchiveFile;
use object::read::elf::{ElfFile, FileHeader, SectionHeader, Sym};
use object::{Endianness, Object as _, ObjectSection as _, ObjectSymbol as _, RelocationFlags};
use object::{RelocationTarget, SymbolSection};

use crate::arch::{em, ArchData};
use crate::error::LinkError;

/// What a section is, for layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// Code (`.text*`, `.literal*`).
    Text,
    /// Constant data (`.rodata*`, `.data.rel.ro*`).
    Rodata,
    /// Zero-initialised data (`.bss*`, `.sbss*`, other non-TLS NOBITS).
    Bss,
    /// Writable initialised data (`.data*`): refused when reached and non-empty.
    Data,
    /// Thread-local data: refused when reached.
    Tls,
    /// Allocated but of no kind we place (`.eh_frame`, ...): refused when reached.
    Other,
    /// Not allocated (debug info, symbol tables...): ignored.
    NotAlloc,
}

/// One input section.
#[derive(Debug, Clone)]
pub struct Section {
    /// Section name.
    pub name: String,
    /// Its kind.
    pub kind: SectionKind,
    /// Alignment (at least 1).
    pub align: u64,
    /// Size in bytes (also for NOBITS).
    pub size: u64,
    /// Contents (empty for NOBITS).
    pub data: Vec<u8>,
    /// Relocations applying to this section.
    pub relocs: Vec<Reloc>,
}

impl Section {
    /// An empty, unallocated section: the stand-in for ELF section 0 and for sections that
    /// are not loaded.
    pub fn placeholder() -> Section {
        Section {
            name: String::new(),
            kind: SectionKind::NotAlloc,
            align: 1,
            size: 0,
            data: Vec::new(),
            relocs: Vec::new(),
        }
    }
}

/// One relocation (RELA form; REL addends are read from the place).
#[derive(Debug, Clone, Copy)]
pub struct Reloc {
    /// Offset in the section.
    pub offset: u64,
    /// ELF `r_type`.
    pub r_type: u32,
    /// Symbol index in the object's table (0 = no symbol).
    pub symbol: usize,
    /// Addend.
    pub addend: i64,
}

/// Symbol binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// `STB_LOCAL`
    Local,
    /// `STB_GLOBAL`
    Global,
    /// `STB_WEAK`
    Weak,
}

/// Where a symbol is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymDef {
    /// Not defined here.
    Undefined,
    /// In a section of this object, at `value`.
    Section {
        /// Section index.
        section: usize,
        /// Offset in the section.
        value: u64,
    },
    /// An absolute value.
    Absolute(u64),
    /// A common symbol (not supported when referenced).
    Common,
}

/// One input symbol.
#[derive(Debug, Clone)]
pub struct Symbol {
    /// Name bytes (a section symbol gets its section's name).
    pub name: Vec<u8>,
    /// Binding.
    pub binding: Binding,
    /// Definition.
    pub def: SymDef,
    /// `STT_SECTION`
    pub is_section: bool,
    /// `STT_TLS`
    pub is_tls: bool,
}

impl Symbol {
    /// The name as text (lossy).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// One input object.
#[derive(Debug, Clone)]
pub struct InputObject {
    /// `path` or `path(member)`.
    pub name: String,
    /// Sections by ELF index (index 0 is a placeholder).
    pub sections: Vec<Section>,
    /// Symbols by ELF index (index 0 is a placeholder).
    pub symbols: Vec<Symbol>,
}

/// Reads one input file (object or archive) from disk.
pub fn load_path(path: &Path, arch: &ArchData) -> Result<Vec<InputObject>, LinkError> {
    let data = std::fs::read(path).map_err(|error| LinkError::Io {
        path: path.to_owned(),
        error,
    })?;
    load_bytes(&path.display().to_string(), &data, arch)
}

/// Reads one input (object or archive) from memory; `name` is used in messages.
pub fn load_bytes(name: &str, data: &[u8], arch: &ArchData) -> Result<Vec<InputObject>, LinkError> {
    if data.starts_with(b"!<arch>\n") || data.starts_with(b"!<thin>\n") {
        load_archive(name, data, arch)
    } else if data.starts_with(b"\x7fELF") {
        Ok(vec![load_elf(name.to_owned(), data, arch)?])
    } else {
        Err(LinkError::NotObject {
            file: name.to_owned(),
        })
    }
}

fn load_archive(name: &str, data: &[u8], arch: &ArchData) -> Result<Vec<InputObject>, LinkError> {
    let corrupt = |e: object::Error| LinkError::Corrupt {
        file: name.to_owned(),
        what: "ar archive",
        msg: e.to_string(),
    };
    let archive = ArchiveFile::parse(data).map_err(corrupt)?;
    if archive.is_thin() {
        return Err(LinkError::Unsupported(format!("{name}: thin archives")));
    }
    let mut out = Vec::new();
    for member in archive.members() {
        let member = member.map_err(corrupt)?;
        let member_name = String::from_utf8_lossy(member.name()).into_owned();
        let bytes = member.data(data).map_err(corrupt)?;
        // rlibs carry a metadata member; only ELF members take part in the link.
        if !bytes.starts_with(b"\x7fELF") {
            continue;
        }
        out.push(load_elf(format!("{name}({member_name})"), bytes, arch)?);
    }
    Ok(out)
}

fn machine_name(m: u16) -> &'static str {
    match m {
        3 => "x86",
        em::ARM => "ARM",
        em::X86_64 => "x86-64",
        em::XTENSA => "Xtensa",
        em::RISCV => "RISC-V",
        183 => "AArch64",
        _ => "unknown",
    }
}

fn load_elf(name: String, data: &[u8], arch: &ArchData) -> Result<InputObject, LinkError> {
    if data.len() < 20 {
        return Err(LinkError::Corrupt {
            file: name,
            what: "ELF object",
            msg: "file shorter than the ELF header".into(),
        });
    }
    let class = match data[4] {
        elf::ELFCLASS32 => 32,
        elf::ELFCLASS64 => 64,
        c => {
            return Err(LinkError::Corrupt {
                file: name,
                what: "ELF object",
                msg: format!("bad ELF class {c}"),
            })
        }
    };
    if data[5] != elf::ELFDATA2LSB {
        return Err(LinkError::NotRelocatable {
            file: name,
            msg: "big-endian ELF is not supported".into(),
        });
    }
    let expected = arch.word_size * 8;
    if class != expected {
        return Err(LinkError::WrongClass {
            file: name,
            arch: arch.name,
            expected,
            found: class,
        });
    }
    let machine = u16::from_le_bytes([data[18], data[19]]);
    if machine != arch.e_machine {
        return Err(LinkError::WrongMachine {
            file: name,
            arch: arch.name,
            expected: arch.e_machine,
            found: machine,
            found_name: machine_name(machine),
        });
    }
    if class == 64 {
        read_elf::<elf::FileHeader64<Endianness>>(name, data)
    } else {
        read_elf::<elf::FileHeader32<Endianness>>(name, data)
    }
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(
    name: String,
    data: &[u8],
) -> Result<InputObject, LinkError> {
    let corrupt = |e: object::Error| LinkError::Corrupt {
        file: name.clone(),
        what: "ELF object",
        msg: e.to_string(),
    };
    let file = ElfFile::<Elf>::parse(data).map_err(corrupt)?;
    let endian = file.endian();
    if file.elf_header().e_type(endian) != elf::ET_REL {
        return Err(LinkError::NotRelocatable {
            file: name,
            msg: "not a relocatable object (ET_REL); pass the .o files or the staticlib .a".into(),
        });
    }

    let n_sections = file.elf_section_table().len();
    let mut sections = vec![Section::placeholder(); n_sections];
    for section in file.sections() {
        let header = section.elf_section_header();
        let sh_type = header.sh_type(endian);
        let flags: u64 = header.sh_flags(endian).into();
        let sec_name = section.name().map_err(corrupt)?.to_owned();
        let kind = classify_section(&sec_name, sh_type, flags);
        let size = section.size();
        let contents = if sh_type == elf::SHT_NOBITS || kind == SectionKind::NotAlloc {
            Vec::new()
        } else {
            let d = section.data().map_err(corrupt)?;
            if d.len() as u64 != size {
                return Err(LinkError::Corrupt {
                    file: name,
                    what: "ELF object",
                    msg: format!("section `{sec_name}` data is truncated"),
                });
            }
            d.to_vec()
        };
        let mut relocs = Vec::new();
        if kind != SectionKind::NotAlloc {
            for (offset, r) in section.relocations() {
                let RelocationFlags::Elf { r_type } = r.flags() else {
                    continue;
                };
                let symbol = match r.target() {
                    RelocationTarget::Symbol(i) => i.0,
                    _ => 0,
                };
                relocs.push(Reloc {
                    offset,
                    r_type,
                    symbol,
                    addend: r.addend(),
                });
            }
        }
        sections[section.index().0] = Section {
            name: sec_name,
            kind,
            align: section.align().max(1),
            size,
            data: contents,
            relocs,
        };
    }

    let n_symbols = file.elf_symbol_table().len();
    let mut symbols = vec![
        Symbol {
            name: Vec::new(),
            binding: Binding::Local,
            def: SymDef::Undefined,
            is_section: false,
            is_tls: false,
        };
        n_symbols.max(1)
    ];
    for sym in file.symbols() {
        let raw = sym.elf_symbol();
        let binding = match raw.st_bind() {
            elf::STB_LOCAL => Binding::Local,
            elf::STB_WEAK => Binding::Weak,
            _ => Binding::Global,
        };
        let is_section = raw.st_type() == elf::STT_SECTION;
        let def = match sym.section() {
            SymbolSection::Section(i) => SymDef::Section {
                section: i.0,
                value: sym.address(),
            },
            SymbolSection::Absolute => SymDef::Absolute(sym.address()),
            SymbolSection::Common => SymDef::Common,
            _ => SymDef::Undefined,
        };
        let mut sym_name = sym.name_bytes().map_err(corrupt)?.to_vec();
        if is_section {
            if let SymDef::Section { section, .. } = def {
                if let Some(s) = sections.get(section) {
                    sym_name = s.name.clone().into_bytes();
                }
            }
        }
        let index = sym.index().0;
        if index >= symbols.len() {
            return Err(LinkError::Corrupt {
                file: name,
                what: "ELF object",
                msg: "symbol index out of range".into(),
            });
        }
        symbols[index] = Symbol {
            name: sym_name,
            binding,
            def,
            is_section,
            is_tls: raw.st_type() == elf::STT_TLS,
        };
    }
    // Every relocation must name a symbol that exists and every symbol a real section.
    for s in &sections {
        for r in &s.relocs {
            if r.symbol >= symbols.len() {
                return Err(LinkError::Corrupt {
                    file: name,
                    what: "ELF object",
                    msg: format!(
                        "relocation in `{}` names symbol {} of {}",
                        s.name,
                        r.symbol,
                        symbols.len()
                    ),
                });
            }
        }
    }
    for s in &symbols {
        if let SymDef::Section { section, .. } = s.def {
            if section >= sections.len() {
                return Err(LinkError::Corrupt {
                    file: name,
                    what: "ELF object",
                    msg: format!(
                        "symbol `{}` in section {section} of {}",
                        s.name_lossy(),
                        sections.len()
                    ),
                });
            }
        }
    }
    Ok(InputObject {
        name,
        sections,
        symbols,
    })
}

fn classify_section(name: &str, sh_type: u32, flags: u64) -> SectionKind {
    let starts = |prefixes: &[&str]| {
        prefixes
            .iter()
            .any(|p| name == *p || name.starts_with(&format!("{p}.")))
    };
    if flags & u64::from(elf::SHF_ALLOC) == 0 {
        return SectionKind::NotAlloc;
    }
    if flags & u64::from(elf::SHF_TLS) != 0 || starts(&[".tdata", ".tbss"]) {
        return SectionKind::Tls;
    }
    if starts(&[".text", ".literal"]) {
        SectionKind::Text
    } else if starts(&[".rodata", ".data.rel.ro", ".srodata"]) {
        SectionKind::Rodata
    } else if starts(&[".bss", ".sbss"])
        || (sh_type == elf::SHT_NOBITS && flags & u64::from(elf::SHF_WRITE) != 0)
    {
        SectionKind::Bss
    } else if starts(&[".data", ".sdata"]) {
        SectionKind::Data
    } else {
        SectionKind::Other
    }
}

/// Whether a section name is a constructor/destructor table (never run by the loader).
pub fn is_init_array(name: &str) -> bool {
    [
        ".init_array",
        ".fini_array",
        ".ctors",
        ".dtors",
        ".preinit_array",
    ]
    .iter()
    .any(|p| name == *p || name.starts_with(&format!("{p}.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_kinds() {
        let a = u64::from(elf::SHF_ALLOC);
        let w = u64::from(elf::SHF_WRITE);
        let cases = [
            (".text.f", elf::SHT_PROGBITS, a, SectionKind::Text),
            (
                ".data.rel.ro..L",
                elf::SHT_PROGBITS,
                a | w,
                SectionKind::Rodata,
            ),
            (".rodata.cst8", elf::SHT_PROGBITS, a, SectionKind::Rodata),
            (".data.x", elf::SHT_PROGBITS, a | w, SectionKind::Data),
            (".bss.x", elf::SHT_NOBITS, a | w, SectionKind::Bss),
            (".tbss.x", elf::SHT_NOBITS, a | w, SectionKind::Tls),
            (".eh_frame", elf::SHT_PROGBITS, a, SectionKind::Other),
            (".comment", elf::SHT_PROGBITS, 0, SectionKind::NotAlloc),
            // `.textfoo` is not `.text`.
            (".textfoo", elf::SHT_PROGBITS, a, SectionKind::Other),
        ];
        for (name, sh_type, flags, kind) in cases {
            assert_eq!(classify_section(name, sh_type, flags), kind, "{name}");
        }
    }
}
