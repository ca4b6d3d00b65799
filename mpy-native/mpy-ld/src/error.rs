//! Link errors. Every variant names what it is about: symbol, section, offset, input file.

use std::fmt;
use std::path::PathBuf;

/// A place in an input: file (or `archive(member)`), section name and offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// Input file, `lib.a(member.o)` for archive members.
    pub file: String,
    /// Section name.
    pub section: String,
    /// Byte offset inside the section.
    pub offset: u64,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`+{:#x} in {}", self.section, self.offset, self.file)
    }
}

/// Lists places as "a, b and N more".
#[derive(Debug)]
pub struct Places<'a>(pub &'a [Place]);

impl fmt::Display for Places<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 4;
        for (i, p) in self.0.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{p}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, " and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// Everything that can stop a link.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Reading an input or writing the output failed.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error (not a `source`: the message already carries it).
        error: std::io::Error,
    },
    /// The input is neither an ELF relocatable object nor an `ar` archive.
    #[error("{file}: not an ELF object or ar archive")]
    NotObject {
        /// The input.
        file: String,
    },
    /// The input is truncated or corrupt.
    #[error("{file}: truncated or corrupt {what}: {msg}")]
    Corrupt {
        /// The input.
        file: String,
        /// "ELF object" or "ar archive".
        what: &'static str,
        /// The parser's message.
        msg: String,
    },
    /// ELF class does not match the arch's word size.
    #[error("{file}: ELF{found} object, but arch {arch} needs ELF{expected}")]
    WrongClass {
        /// The input.
        file: String,
        /// Chosen arch.
        arch: &'static str,
        /// Expected class (32 or 64).
        expected: u8,
        /// Found class.
        found: u8,
    },
    /// ELF machine does not match the arch.
    #[error(
        "{file}: ELF machine {found} ({found_name}), but arch {arch} needs machine {expected}"
    )]
    WrongMachine {
        /// The input.
        file: String,
        /// Chosen arch.
        arch: &'static str,
        /// Expected `e_machine`.
        expected: u16,
        /// Found `e_machine`.
        found: u16,
        /// A name for the found machine.
        found_name: &'static str,
    },
    /// Not a relocatable object (executable, shared object, big endian...).
    #[error("{file}: {msg}")]
    NotRelocatable {
        /// The input.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// The arch is in the table but its code isn't written.
    #[error(
        "arch {arch}: not implemented yet (planned); implemented: {}",
        crate::arch::names(true)
    )]
    ArchNotImplemented {
        /// The arch.
        arch: &'static str,
    },
    /// Unknown arch name.
    #[error("unknown arch `{0}`: {choices}", choices = crate::arch::choices_for(.0))]
    UnknownArch(String),
    /// A relocation type we cannot handle.
    #[error("unsupported relocation {r_type} against `{symbol}` at {place}")]
    UnsupportedRelocation {
        /// Name of the type, e.g. `R_X86_64_32S`.
        r_type: String,
        /// Target symbol.
        symbol: String,
        /// Where.
        place: Place,
    },
    /// PC-relative reference into bss (an internal static).
    #[error(
        "internal static `{symbol}` referenced PC-relative from {place}: on {arch} mutable statics \
         must be exported (`#[no_mangle] pub static mut`) so they are reached through the GOT"
    )]
    PcRelToBss {
        /// The static.
        symbol: String,
        /// Where.
        place: Place,
        /// Arch name.
        arch: &'static str,
    },
    /// PC-relative reference to something outside the text region (runtime symbols,
    /// separate rodata).
    #[error("`{symbol}` ({what}) referenced PC-relative from {place}: it must be reached through the GOT")]
    PcRelOutsideText {
        /// The symbol.
        symbol: String,
        /// What the symbol is.
        what: &'static str,
        /// Where.
        place: Place,
    },
    /// A link-time value does not fit its field.
    #[error("relocation against `{symbol}` at {place} overflows: value {value:#x}")]
    Overflow {
        /// The symbol.
        symbol: String,
        /// Where.
        place: Place,
        /// The value that did not fit.
        value: i64,
    },
    /// An instruction field cannot reach its target (or the instruction is not one we patch).
    #[error("cannot relocate the instruction at {place} to `{symbol}`: {msg}")]
    Insn {
        /// The symbol.
        symbol: String,
        /// Where.
        place: Place,
        /// What is wrong.
        msg: String,
    },
    /// Absolute word not on a word boundary (the loader patches whole words).
    #[error("absolute word for `{symbol}` at {place} is not {word_size}-byte aligned")]
    UnalignedAbsolute {
        /// The symbol.
        symbol: String,
        /// Where.
        place: Place,
        /// Word size.
        word_size: u8,
    },
    /// A `.data` section is reached: mutable initialised data is not supported.
    #[error(
        "section `{section}` ({size} bytes) in {file} is non-empty writable data, referenced from {from}: \
         .data is not supported (use .bss statics, or constants)"
    )]
    DataSection {
        /// The input.
        file: String,
        /// The section.
        section: String,
        /// Its size.
        size: u64,
        /// Who references it.
        from: Place,
    },
    /// Thread-local storage.
    #[error(
        "thread-local section `{section}` in {file} (referenced from {from}): TLS is not supported"
    )]
    Tls {
        /// The input.
        file: String,
        /// The section.
        section: String,
        /// Who references it.
        from: Place,
    },
    /// Constructors would never run.
    #[error("section `{section}` in {file}: static constructors/destructors are not supported")]
    InitArray {
        /// The input.
        file: String,
        /// The section.
        section: String,
    },
    /// A referenced section of a kind we don't lay out.
    #[error("section `{section}` in {file}, referenced from {from}, cannot be placed in a native module")]
    UnsupportedSection {
        /// The input.
        file: String,
        /// The section.
        section: String,
        /// Who references it.
        from: Place,
    },
    /// A referenced symbol of a kind we don't handle (common, absolute used PC-relative...).
    #[error("symbol `{symbol}` referenced from {from}: {msg}")]
    UnsupportedSymbol {
        /// The symbol.
        symbol: String,
        /// Who references it.
        from: Place,
        /// What is wrong.
        msg: &'static str,
    },
    /// No definition for a symbol.
    #[error("undefined symbol `{symbol}`, referenced from {}", Places(refs))]
    Undefined {
        /// The symbol.
        symbol: String,
        /// Every reference.
        refs: Vec<Place>,
    },
    /// Two strong definitions.
    #[error("duplicate symbol `{symbol}`: defined in {first} and in {second}")]
    DuplicateSymbol {
        /// The symbol.
        symbol: String,
        /// First definer.
        first: String,
        /// Second definer.
        second: String,
    },
    /// A qstr symbol whose name is not an identifier.
    #[error(
        "qstr name `{name}` (symbol `MP_QSTR_{name}`) is not an identifier \
         ([A-Za-z_][A-Za-z0-9_]*), referenced from {}: qstr!() is for names; \
         make other text a str object (Obj::str(\"{name}\"))",
        Places(refs)
    )]
    BadQstrName {
        /// The name after `MP_QSTR_`.
        name: String,
        /// Where it is referenced.
        refs: Vec<Place>,
    },
    /// A name reserved for the runtime is defined by an input.
    #[error("{file} defines `{symbol}`, a name reserved for the runtime")]
    ReservedSymbol {
        /// The input.
        file: String,
        /// The symbol.
        symbol: String,
    },
    /// No entry symbol.
    #[error(
        "entry symbol `{0}` is not defined (export it: `#[no_mangle] pub extern \"C\" fn {0}`)"
    )]
    MissingEntry(String),
    /// Entry symbol is not in a text section.
    #[error("entry symbol `{symbol}` is in `{section}`, not in a .text section")]
    EntryNotText {
        /// The symbol.
        symbol: String,
        /// Its section.
        section: String,
    },
    /// A section asks for more alignment than the loader gives its region.
    #[error("section `{section}` in {file} needs {align}-byte alignment, the {region} region guarantees only {max}")]
    Alignment {
        /// The input.
        file: String,
        /// The section.
        section: String,
        /// Asked.
        align: u64,
        /// Guaranteed.
        max: u64,
        /// Region name.
        region: &'static str,
    },
    /// No input files.
    #[error("no input files")]
    NoInputs,
    /// Something the format or arch cannot express.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A ROM table file that does not parse.
    #[error("ROM table {table}, line {line}: {msg}")]
    RomTable {
        /// `esp8266` or the file.
        table: String,
        /// 1-based line (0: the whole file).
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// A `--rom` value that names no ROM.
    #[error(
        "unknown ROM `{0}`: use esp8266 (the ESP8266 boot ROM, default for xtensa), none, \
         or the path of a table file (`NAME ADDRESS` lines)"
    )]
    UnknownRom(String),
    /// A ROM table for another arch.
    #[error("ROM {rom} is for arch {rom_arch}, not {arch} (use --rom none)")]
    RomWrongArch {
        /// The ROM table.
        rom: String,
        /// Its arch.
        rom_arch: &'static str,
        /// The arch linked for.
        arch: &'static str,
    },
    /// A ROM function reached by an instruction that cannot be sent through a veneer.
    #[error(
        "`{symbol}` is in ROM at {addr:#x}, out of PC-relative range, and the instruction at \
         {place} is not a call0 or j that mpy-ld can send through an l32r/jx veneer"
    )]
    RomInsn {
        /// The ROM symbol.
        symbol: String,
        /// Its ROM address.
        addr: u32,
        /// Where.
        place: Place,
    },
    /// `rom-stubs` cannot place what was asked.
    #[error("rom-stubs: {0}")]
    RomStubs(String),
    /// Several errors found in one pass (e.g. all undefined symbols).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<LinkError>),
}

impl LinkError {
    /// Folds a list of errors: none → Ok, one → itself, more → [`LinkError::Many`].
    pub fn collect(mut errors: Vec<LinkError>) -> Result<(), LinkError> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.pop().expect("one error")),
            _ => Err(LinkError::Many(errors)),
        }
    }
}
