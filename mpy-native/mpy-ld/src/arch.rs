//! Per-architecture facts: one [`ArchData`] entry per MicroPython native arch.
//!
//! Adding an architecture means filling in its entry (ELF machine, word size, layout
//! choices, entry jump) and its relocation arms in [`ArchData::classify`].

use crate::error::LinkError;

/// ELF machine numbers we know about.
pub mod em {
    /// `EM_ARM`
    pub const ARM: u16 = 40;
    /// `EM_X86_64`
    pub const X86_64: u16 = 62;
    /// `EM_XTENSA`
    pub const XTENSA: u16 = 94;
    /// `EM_RISCV`
    pub const RISCV: u16 = 243;
}

/// What the linker must do for one ELF relocation type, independent of the arch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelocAction {
    /// Nothing to do (e.g. `R_X86_64_NONE`, `R_XTENSA_NONE`).
    Ignore,
    /// `S + A - P` written as a signed little-endian field of `width` bytes; resolved at
    /// link time, so the target must be in the same region as the place.
    PcRel {
        /// Field width in bytes (4 or 8).
        width: u8,
    },
    /// `G + A - P` (G = address of the symbol's GOT word), 32-bit signed; resolved at
    /// link time. The GOT word itself gets a runtime relocation.
    GotPcRel32,
    /// `S + A` as a whole machine word: gets a runtime relocation, so it must be word-aligned.
    AbsWord,
    /// A PC-relative instruction field (Xtensa `l32r`, `call0`, `j`, branches), patched at
    /// link time by [`ArchData::patch_insn`]; the target must be in the same region.
    Insn,
    /// A relocation type we refuse.
    Unsupported,
}

/// One MicroPython native architecture.
#[derive(Debug)]
pub struct ArchData {
    /// Name used on the command line and in `.mpy` headers (`x64`, `xtensa`, ...).
    pub name: &'static str,
    /// ELF `e_machine` expected in the inputs.
    pub e_machine: u16,
    /// `MP_NATIVE_ARCH_*` code written in the header flags.
    pub mpy_arch: u8,
    /// Machine word size in bytes (4 or 8); also selects the ELF class.
    pub word_size: u8,
    /// Small-int bits written in the header (the loader wants it <= the runtime's).
    pub small_int_bits: u8,
    /// Rodata goes to its own RAM region (loaded next to bss) instead of the text.
    pub separate_rodata: bool,
    /// The GOT goes before the code (Xtensa `l32r` only reaches backwards).
    pub got_first: bool,
    /// Largest section alignment the text allocation guarantees.
    pub max_text_align: u64,
    /// Absolute words add the value already in place to the addend (binutils'
    /// `partial_inplace`: Xtensa's assembler leaves local offsets there with a zero addend).
    pub abs_inplace: bool,
    /// Whether linking for this arch is implemented.
    pub implemented: bool,
    /// Encodes a jump from text offset 0 to `target`.
    pub entry_jump: fn(u64) -> Result<Vec<u8>, LinkError>,
    /// Maps an ELF `r_type` to what must be done.
    pub classify: fn(u32) -> RelocAction,
    /// Name of an ELF `r_type` (for messages).
    pub reloc_name: fn(u32) -> String,
    /// Patches the instruction starting at `code[0]` (the rest of its section follows), at
    /// region offset `place`, to reach region offset `target`. For [`RelocAction::Insn`].
    pub patch_insn: fn(code: &mut [u8], place: u64, target: u64) -> Result<(), String>,
    /// How a direct call reaches a ROM function out of its range (None: ROM symbols are not
    /// supported on this arch).
    pub veneer: Option<&'static Veneer>,
}

/// A veneer: a few instructions in the text that a direct call or jump to a far, fixed
/// address (a ROM function) is sent to, and that jump on from a literal word.
#[derive(Debug)]
pub struct Veneer {
    /// The code; its first instruction loads the literal word (through `load_reloc`) and
    /// the rest jumps to it, leaving the return address and arguments alone.
    pub code: &'static [u8],
    /// Alignment of the veneer (a call target).
    pub align: u64,
    /// `r_type` of the literal word: an absolute word.
    pub word_reloc: u32,
    /// `r_type` of the literal load at code offset 0.
    pub load_reloc: u32,
    /// True if the instruction at `code[0]` is a direct call or jump that may go through a
    /// veneer instead (not a literal load or a branch).
    pub can_redirect: fn(code: &[u8]) -> bool,
}

impl ArchData {
    /// The mpy header flags byte: `arch << 2 | sub-version 3`.
    pub fn header_flags(&self) -> u8 {
        self.mpy_arch << 2 | crate::mpy::MPY_SUB_VERSION
    }

    /// Fails with "arch X: not implemented yet" for table entries whose code isn't there.
    pub fn check_implemented(&self) -> Result<(), LinkError> {
        if self.implemented {
            Ok(())
        } else {
            Err(LinkError::ArchNotImplemented { arch: self.name })
        }
    }
}

/// Every arch we know, in mpy arch-code order.
pub static ARCHES: &[ArchData] = &[
    ArchData {
        name: "x64",
        e_machine: em::X86_64,
        mpy_arch: 2,
        word_size: 8,
        small_int_bits: 63,
        separate_rodata: false,
        got_first: false,
        // Unix allocates executable memory with mmap: page aligned.
        max_text_align: 4096,
        abs_inplace: false,
        implemented: true,
        entry_jump: x64_jump,
        classify: x64_classify,
        reloc_name: x64_reloc_name,
        patch_insn: no_insn,
        veneer: None,
    },
    ArchData {
        name: "armv6m",
        e_machine: em::ARM,
        mpy_arch: 4,
        word_size: 4,
        small_int_bits: 31,
        separate_rodata: false,
        got_first: false,
        max_text_align: 4,
        abs_inplace: false,
        implemented: false,
        entry_jump: no_jump,
        classify: unsupported_all,
        reloc_name: generic_reloc_name,
        patch_insn: no_insn,
        veneer: None,
    },
    ArchData {
        name: "armv7m",
        e_machine: em::ARM,
        mpy_arch: 5,
        word_size: 4,
        small_int_bits: 31,
        separate_rodata: false,
        got_first: false,
        max_text_align: 4,
        abs_inplace: false,
        implemented: false,
        entry_jump: no_jump,
        classify: unsupported_all,
        reloc_name: generic_reloc_name,
        patch_insn: no_insn,
        veneer: None,
    },
    ArchData {
        name: "xtensa",
        e_machine: em::XTENSA,
        mpy_arch: 9,
        word_size: 4,
        small_int_bits: 31,
        // Byte loads from IRAM/flash fault on the ESP8266: constants live in RAM.
        separate_rodata: true,
        got_first: true,
        max_text_align: 4,
        abs_inplace: true,
        implemented: true,
        entry_jump: xtensa_jump,
        classify: xtensa_classify,
        reloc_name: xtensa_reloc_name,
        patch_insn: xtensa_patch,
        veneer: Some(&XTENSA_VENEER),
    },
    ArchData {
        name: "xtensawin",
        e_machine: em::XTENSA,
        mpy_arch: 10,
        word_size: 4,
        small_int_bits: 31,
        separate_rodata: true,
        got_first: true,
        max_text_align: 4,
        abs_inplace: true,
        implemented: false,
        entry_jump: xtensa_jump,
        classify: xtensa_classify,
        reloc_name: xtensa_reloc_name,
        patch_insn: xtensa_patch,
        veneer: Some(&XTENSA_VENEER),
    },
    ArchData {
        name: "rv32imc",
        e_machine: em::RISCV,
        mpy_arch: 11,
        word_size: 4,
        small_int_bits: 31,
        separate_rodata: false,
        got_first: false,
        max_text_align: 4,
        abs_inplace: false,
        implemented: false,
        entry_jump: no_jump,
        classify: unsupported_all,
        reloc_name: generic_reloc_name,
        patch_insn: no_insn,
        veneer: None,
    },
];

/// Looks an arch up by its command-line name.
pub fn by_name(name: &str) -> Option<&'static ArchData> {
    ARCHES.iter().find(|a| a.name == name)
}

/// The arches `link` implements (`true`: `x64, xtensa`) or that are planned but not written
/// yet (`false`), in table order, joined by ", ".
pub fn names(implemented: bool) -> String {
    let names: Vec<&str> = ARCHES
        .iter()
        .filter(|a| a.implemented == implemented)
        .map(|a| a.name)
        .collect();
    names.join(", ")
}

/// What to say after "unknown arch `name`": a hint for common device names, then the
/// valid names.
pub fn choices_for(name: &str) -> String {
    let hint = match name.to_ascii_lowercase().as_str() {
        "esp8266" | "lx106" | "esp" | "xtensa-lx106" => "the ESP8266 is arch `xtensa`; ",
        "esp32" | "xtensa-esp32" => "the ESP32 is arch `xtensawin` (planned); ",
        "x86_64" | "x86-64" | "amd64" | "unix" => "64-bit x86 (the unix port) is arch `x64`; ",
        _ => "",
    };
    format!(
        "{hint}valid arches: {} (planned: {})",
        names(true),
        names(false)
    )
}

/// Looks an arch up for linking: unknown names and planned arches are errors that list the
/// implemented ones.
pub fn for_link(name: &str) -> Result<&'static ArchData, LinkError> {
    let arch = by_name(name).ok_or_else(|| LinkError::UnknownArch(name.to_string()))?;
    arch.check_implemented()?;
    Ok(arch)
}

/// Looks an arch up by its mpy arch code (for reading `.mpy` files).
pub fn by_code(code: u8) -> Option<&'static ArchData> {
    ARCHES.iter().find(|a| a.mpy_arch == code)
}

/// Name of an mpy arch code, including codes we cannot link for.
pub fn code_name(code: u8) -> &'static str {
    match code {
        0 => "none",
        1 => "x86",
        2 => "x64",
        3 => "armv6",
        4 => "armv6m",
        5 => "armv7m",
        6 => "armv7em",
        7 => "armv7emsp",
        8 => "armv7emdp",
        9 => "xtensa",
        10 => "xtensawin",
        11 => "rv32imc",
        12 => "rv64imc",
        _ => "unknown",
    }
}

fn no_jump(_target: u64) -> Result<Vec<u8>, LinkError> {
    Err(LinkError::Unsupported("entry jump for this arch".into()))
}

fn no_insn(_code: &mut [u8], _place: u64, _target: u64) -> Result<(), String> {
    Err("instruction relocations are not supported on this arch".into())
}

fn unsupported_all(_r_type: u32) -> RelocAction {
    RelocAction::Unsupported
}

fn generic_reloc_name(r_type: u32) -> String {
    format!("relocation type {r_type}")
}

// ---- x64 ----------------------------------------------------------------------------

/// x64 relocation type numbers (System V AMD64 psABI), named after `R_X86_64_*`.
#[allow(missing_docs)]
pub mod r_x86_64 {
    pub const NONE: u32 = 0;
    pub const R64: u32 = 1;
    pub const PC32: u32 = 2;
    pub const PLT32: u32 = 4;
    pub const GOTPCREL: u32 = 9;
    pub const R32: u32 = 10;
    pub const R32S: u32 = 11;
    pub const PC64: u32 = 24;
    pub const GOTPCRELX: u32 = 41;
    pub const REX_GOTPCRELX: u32 = 42;
}

fn x64_jump(target: u64) -> Result<Vec<u8>, LinkError> {
    // jmp rel32, relative to the end of the 5-byte instruction.
    let rel = i32::try_from(target as i64 - 5)
        .map_err(|_| LinkError::Unsupported("entry jump farther than 2 GiB".into()))?;
    let mut v = vec![0xE9];
    v.extend_from_slice(&rel.to_le_bytes());
    Ok(v)
}

fn x64_classify(r_type: u32) -> RelocAction {
    use r_x86_64::*;
    match r_type {
        NONE => RelocAction::Ignore,
        PC32 | PLT32 => RelocAction::PcRel { width: 4 },
        PC64 => RelocAction::PcRel { width: 8 },
        GOTPCREL | GOTPCRELX | REX_GOTPCRELX => RelocAction::GotPcRel32,
        R64 => RelocAction::AbsWord,
        _ => RelocAction::Unsupported,
    }
}

fn x64_reloc_name(r_type: u32) -> String {
    const NAMES: [&str; 43] = [
        "NONE",
        "64",
        "PC32",
        "GOT32",
        "PLT32",
        "COPY",
        "GLOB_DAT",
        "JUMP_SLOT",
        "RELATIVE",
        "GOTPCREL",
        "32",
        "32S",
        "16",
        "PC16",
        "8",
        "PC8",
        "DTPMOD64",
        "DTPOFF64",
        "TPOFF64",
        "TLSGD",
        "TLSLD",
        "DTPOFF32",
        "GOTTPOFF",
        "TPOFF32",
        "PC64",
        "GOTOFF64",
        "GOTPC32",
        "GOT64",
        "GOTPCREL64",
        "GOTPC64",
        "GOTPLT64",
        "PLTOFF64",
        "SIZE32",
        "SIZE64",
        "GOTPC32_TLSDESC",
        "TLSDESC_CALL",
        "TLSDESC",
        "IRELATIVE",
        "RELATIVE64",
        "",
        "",
        "GOTPCRELX",
        "REX_GOTPCRELX",
    ];
    match NAMES.get(r_type as usize) {
        Some(n) if !n.is_empty() => format!("R_X86_64_{n}"),
        _ => format!("R_X86_64 type {r_type}"),
    }
}

// ---- xtensa -------------------------------------------------------------------------

/// Xtensa relocation type numbers, named after `R_XTENSA_*`.
#[allow(missing_docs)]
pub mod r_xtensa {
    pub const NONE: u32 = 0;
    pub const R32: u32 = 1;
    pub const ASM_EXPAND: u32 = 11;
    pub const SLOT0_OP: u32 = 20;
}

fn xtensa_jump(target: u64) -> Result<Vec<u8>, LinkError> {
    // `j` has an 18-bit signed offset from pc+4.
    let off = target as i64 - 4;
    if !(-(1 << 17)..(1 << 17)).contains(&off) {
        return Err(LinkError::Unsupported(
            "entry jump farther than 128 KiB".into(),
        ));
    }
    let insn = ((off as u32) & 0x3_FFFF) << 6 | 0x06;
    Ok(insn.to_le_bytes()[..3].to_vec())
}

/// `l32r a8, <literal>; jx a8`: a8 is caller-saved and not an argument in the call0 ABI, and
/// a0 still holds the caller's return address, so the ROM function returns to the caller.
static XTENSA_VENEER: Veneer = Veneer {
    code: &[0x81, 0x00, 0x00, 0xA0, 0x08, 0x00],
    align: 4,
    word_reloc: r_xtensa::R32,
    load_reloc: r_xtensa::SLOT0_OP,
    can_redirect: xtensa_is_call0_or_j,
};

/// `call0` (op0 5, n 0) or `j` (op0 6, n 0).
fn xtensa_is_call0_or_j(code: &[u8]) -> bool {
    match code.first() {
        Some(&b) => matches!((b & 0x0F, (b >> 4) & 3), (5, 0) | (6, 0)) && code.len() >= 3,
        None => false,
    }
}

fn xtensa_classify(r_type: u32) -> RelocAction {
    use r_xtensa::*;
    match r_type {
        // ASM_EXPAND only marks a call the assembler expanded; nothing to patch.
        NONE | ASM_EXPAND => RelocAction::Ignore,
        R32 => RelocAction::AbsWord,
        SLOT0_OP => RelocAction::Insn,
        _ => RelocAction::Unsupported,
    }
}

fn signed_fits(v: i64, bits: u32) -> bool {
    let lim = 1i64 << (bits - 1);
    (-lim..lim).contains(&v)
}

/// Patches the PC-relative field of the Xtensa instruction at `code[0]` (little-endian
/// encodings; the format is chosen by op0 and n, as the linker in binutils does).
fn xtensa_patch(code: &mut [u8], place: u64, target: u64) -> Result<(), String> {
    let (p, t) = (place as i64, target as i64);
    let op0 = code.first().ok_or("relocation at the end of the section")? & 0x0F;
    let narrow = matches!(op0, 0x8..=0xD);
    let need = if narrow { 2 } else { 3 };
    if code.len() < need {
        return Err("instruction runs past the end of the section".into());
    }
    if narrow {
        // beqz.n / bnez.n (RI6): unsigned 6-bit offset from pc + 4.
        if op0 != 0xC || code[0] & 0x80 == 0 {
            return Err(format!(
                "unsupported narrow instruction {:#06x}",
                u16::from_le_bytes([code[0], code[1]])
            ));
        }
        let off = t - p - 4;
        if !(0..64).contains(&off) {
            return Err(format!("beqz.n/bnez.n target {off:+} out of range 0..63"));
        }
        code[0] = (code[0] & !0x30) | (((off >> 4) as u8 & 3) << 4);
        code[1] = (code[1] & 0x0F) | ((off as u8 & 0xF) << 4);
        return Ok(());
    }
    let mut insn = u32::from(code[0]) | u32::from(code[1]) << 8 | u32::from(code[2]) << 16;
    let n = (insn >> 4) & 3;
    match (op0, n) {
        // l32r: word offset (always negative) from (pc + 3) & ~3.
        (1, _) => {
            if t % 4 != 0 {
                return Err(format!("l32r literal at {target:#x} is not 4-byte aligned"));
            }
            let off = (t - ((p + 3) & !3)) >> 2;
            if !(-65536..0).contains(&off) {
                return Err(format!(
                    "l32r literal at {target:#x} is not within 256 KiB before the instruction"
                ));
            }
            insn = (insn & 0xFF) | ((off as u32 & 0xFFFF) << 8);
        }
        // call0/4/8/12: word offset from (pc & ~3) + 4.
        (5, _) => {
            if t % 4 != 0 {
                return Err(format!("call target {target:#x} is not 4-byte aligned"));
            }
            let off = (t - ((p & !3) + 4)) >> 2;
            if !signed_fits(off, 18) {
                return Err(format!("call target {target:#x} out of range"));
            }
            insn = (insn & 0x3F) | ((off as u32 & 0x3_FFFF) << 6);
        }
        // j: 18-bit offset from pc + 4.
        (6, 0) => {
            let off = t - p - 4;
            if !signed_fits(off, 18) {
                return Err(format!("j target {target:#x} out of range"));
            }
            insn = (insn & 0x3F) | ((off as u32 & 0x3_FFFF) << 6);
        }
        // beqz/bnez/bltz/bgez (BRI12): 12-bit offset from pc + 4.
        (6, 1) => {
            let off = t - p - 4;
            if !signed_fits(off, 12) {
                return Err(format!("branch target {target:#x} out of range (12-bit)"));
            }
            insn = (insn & 0xFFF) | ((off as u32 & 0xFFF) << 12);
        }
        // 8-bit offset from pc + 4: beqi/bnei/blti/bgei (BRI8, n = 2), bltui/bgeui (n = 3,
        // m = 2/3), bf/bt (n = 3, m = 1, r = 0/1), and beq/bne/blt/bge/bany/bbc/bbs... (op0 7).
        (6, 2) | (7, _) => patch_bri8(&mut insn, t - p - 4, target)?,
        (6, 3) if (insn >> 6) & 3 >= 2 || ((insn >> 6) & 3 == 1 && (insn >> 12) & 0xF <= 1) => {
            patch_bri8(&mut insn, t - p - 4, target)?
        }
        _ => {
            return Err(format!(
                "unsupported instruction {insn:#08x} for R_XTENSA_SLOT0_OP"
            ))
        }
    }
    code[..3].copy_from_slice(&insn.to_le_bytes()[..3]);
    Ok(())
}

fn patch_bri8(insn: &mut u32, off: i64, target: u64) -> Result<(), String> {
    if !signed_fits(off, 8) {
        return Err(format!("branch target {target:#x} out of range (8-bit)"));
    }
    *insn = (*insn & 0xFFFF) | ((off as u32 & 0xFF) << 16);
    Ok(())
}

fn xtensa_reloc_name(r_type: u32) -> String {
    let name = match r_type {
        0 => "NONE",
        1 => "32",
        2 => "RTLD",
        3 => "GLOB_DAT",
        4 => "JMP_SLOT",
        5 => "RELATIVE",
        6 => "PLT",
        8 => "OP0",
        9 => "OP1",
        10 => "OP2",
        11 => "ASM_EXPAND",
        12 => "ASM_SIMPLIFY",
        17 => "DIFF8",
        18 => "DIFF16",
        19 => "DIFF32",
        20..=34 => return format!("R_XTENSA_SLOT{}_OP", r_type - 20),
        35..=49 => return format!("R_XTENSA_SLOT{}_ALT", r_type - 35),
        50 => "TLSDESC_FN",
        51 => "TLSDESC_ARG",
        52 => "TLS_DTPOFF",
        53 => "TLS_TPOFF",
        54 => "TLS_FUNC",
        55 => "TLS_ARG",
        56 => "TLS_CALL",
        57 => "PDIFF8",
        58 => "PDIFF16",
        59 => "PDIFF32",
        60 => "NDIFF8",
        61 => "NDIFF16",
        62 => "NDIFF32",
        _ => return format!("R_XTENSA type {r_type}"),
    };
    format!("R_XTENSA_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x64_names() {
        assert_eq!(x64_reloc_name(11), "R_X86_64_32S");
        assert_eq!(x64_reloc_name(42), "R_X86_64_REX_GOTPCRELX");
        assert_eq!(x64_reloc_name(99), "R_X86_64 type 99");
    }

    #[test]
    fn x64_jump_encoding() {
        // jmp to 0x40 from 0: rel = 0x40 - 5.
        assert_eq!(x64_jump(0x40).unwrap(), vec![0xE9, 0x3B, 0, 0, 0]);
    }

    #[test]
    fn xtensa_header_flags() {
        assert_eq!(by_name("xtensa").unwrap().header_flags(), 0x27);
        assert_eq!(by_name("x64").unwrap().header_flags(), 0x0B);
    }

    #[test]
    fn unimplemented_arch_says_so() {
        let e = by_name("armv7m").unwrap().check_implemented().unwrap_err();
        assert!(by_name("xtensa").unwrap().check_implemented().is_ok());
        assert_eq!(
            e.to_string(),
            "arch armv7m: not implemented yet (planned); implemented: x64, xtensa"
        );
    }

    #[test]
    fn unknown_arch_lists_the_valid_ones() {
        let e = for_link("esp8266").unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown arch `esp8266`: the ESP8266 is arch `xtensa`; valid arches: x64, xtensa \
             (planned: armv6m, armv7m, xtensawin, rv32imc)"
        );
        assert!(for_link("xtensa").is_ok());
        assert!(for_link("xtensawin").is_err());
    }

    #[test]
    fn veneer_only_for_call0_and_j() {
        let v = by_name("xtensa").unwrap().veneer.unwrap();
        // call0 (op0 5, n 0) and j (op0 6, n 0) go through a veneer ...
        assert!((v.can_redirect)(&[0x05, 0, 0]));
        assert!((v.can_redirect)(&[0x06, 0, 0]));
        // ... l32r, call8, beqz and a narrow instruction do not.
        for insn in [[0x21u8, 0, 0], [0x25, 0, 0], [0x16, 0, 0], [0x8C, 0, 0]] {
            assert!(!(v.can_redirect)(&insn), "{insn:x?}");
        }
        assert!(by_name("x64").unwrap().veneer.is_none());
    }
}
