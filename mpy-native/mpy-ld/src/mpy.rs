//! The `.mpy` v6.3 container for one native (viper-kind) module: writer and reader.
//!
//! Layout (see `py/persistentcode.c`, `mp_raw_code_load` and `load_raw_code`):
//! header `M 6 flags small_int_bits`, [arch-flags varint], n_qstr, n_obj, qstrs,
//! `text_len << 3 | (VIPER - BYTECODE)`, text, scope flags, [rodata size], [bss size],
//! rodata, relocation stream ending in 0xFF.

use std::fmt;

use serde::Serialize;

/// `MPY_VERSION`
pub const MPY_VERSION: u8 = 6;
/// `MPY_SUB_VERSION`
pub const MPY_SUB_VERSION: u8 = 3;
/// Header flags bit: an arch-flags varint follows the header.
pub const MPY_ARCH_FLAGS: u8 = 0x40;
/// `MP_CODE_NATIVE_VIPER - MP_CODE_BYTECODE`
pub const KIND_VIPER: u64 = 4 - 2;
/// `MP_SCOPE_FLAG_VIPERRELOC`
pub const SCOPE_VIPERRELOC: u64 = 0x10;
/// `MP_SCOPE_FLAG_VIPERRODATA`
pub const SCOPE_VIPERRODATA: u64 = 0x20;
/// `MP_SCOPE_FLAG_VIPERBSS`
pub const SCOPE_VIPERBSS: u64 = 0x40;

/// Region a relocation patches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// The text (machine code, and on merged arches rodata + GOT).
    Text,
    /// The separate rodata region.
    Rodata,
}

impl fmt::Display for Region {
    /// `text` or `rodata` (as in the JSON report); honours width and alignment.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Region::Text => "text",
            Region::Rodata => "rodata",
        })
    }
}

/// What the loader adds to a patched word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dest {
    /// Text base address (op 0).
    Text,
    /// Rodata base address (op 1).
    Rodata,
    /// Bss base address (op 2).
    Bss,
    /// The module's qstr table (op 6).
    QstrTable,
    /// The module's object table (op 7).
    ObjTable,
    /// The address of `mp_fun_table` (op 8).
    FunTable,
    /// The value of `mp_fun_table[k]` (op 9 + k).
    FunSlot(u8),
}

impl Dest {
    /// The op value (before the `<< 1 | has_offset` of the stream byte).
    pub fn op(self) -> u8 {
        match self {
            Dest::Text => 0,
            Dest::Rodata => 1,
            Dest::Bss => 2,
            Dest::QstrTable => 6,
            Dest::ObjTable => 7,
            Dest::FunTable => 8,
            Dest::FunSlot(k) => 9 + k,
        }
    }

    /// Whether the loader's repeat count applies (only the three bases).
    pub fn is_base(self) -> bool {
        matches!(self, Dest::Text | Dest::Rodata | Dest::Bss)
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dest::Text => f.write_str("text base"),
            Dest::Rodata => f.write_str("rodata base"),
            Dest::Bss => f.write_str("bss base"),
            Dest::QstrTable => f.write_str("qstr table"),
            Dest::ObjTable => f.write_str("object table"),
            Dest::FunTable => f.write_str("mp_fun_table"),
            Dest::FunSlot(k) => match crate::funtable::slot_name(*k as usize) {
                Some(n) => write!(f, "mp_fun_table[{k}] ({n})"),
                None => write!(f, "mp_fun_table[{k}]"),
            },
        }
    }
}

impl Serialize for Dest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// One runtime relocation: `word[region][word] += dest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Reloc {
    /// Region patched.
    pub region: Region,
    /// Word index in that region.
    pub word: u64,
    /// What is added.
    pub dest: Dest,
}

/// One qstr entry of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QstrEntry {
    /// Bytes interned by the loader.
    Bytes(Vec<u8>),
    /// A static qstr number of the runtime.
    Static(u64),
}

impl Serialize for QstrEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            QstrEntry::Bytes(b) => s.serialize_str(&String::from_utf8_lossy(b)),
            QstrEntry::Static(n) => s.serialize_str(&format!("<static qstr {n}>")),
        }
    }
}

impl fmt::Display for QstrEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QstrEntry::Bytes(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            QstrEntry::Static(n) => write!(f, "<static qstr {n}>"),
        }
    }
}

/// A native module image: everything a `.mpy` file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpyImage {
    /// mpy arch code.
    pub arch: u8,
    /// Arch-flags varint (rv32 extensions), written when non-zero.
    pub arch_flags: u64,
    /// Small-int bits in the header.
    pub small_int_bits: u8,
    /// Qstr list; entry 0 is the source file name.
    pub qstrs: Vec<QstrEntry>,
    /// The text.
    pub text: Vec<u8>,
    /// The separate rodata region (empty when merged into text).
    pub rodata: Vec<u8>,
    /// Bss size.
    pub bss_size: u64,
    /// Runtime relocations, in stream order.
    pub relocs: Vec<Reloc>,
    /// Word size used to bounds-check relocations.
    pub word_size: u8,
}

impl MpyImage {
    /// The scope flags varint value this image carries.
    pub fn scope_flags(&self) -> u64 {
        let mut f = SCOPE_VIPERRELOC;
        if !self.rodata.is_empty() {
            f |= SCOPE_VIPERRODATA;
        }
        if self.bss_size != 0 {
            f |= SCOPE_VIPERBSS;
        }
        f
    }

    /// Encodes the image as `.mpy` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len() + self.rodata.len() + 256);
        let mut flags = self.arch << 2 | MPY_SUB_VERSION;
        if self.arch_flags != 0 {
            flags |= MPY_ARCH_FLAGS;
        }
        out.extend_from_slice(&[b'M', MPY_VERSION, flags, self.small_int_bits]);
        if self.arch_flags != 0 {
            put_uint(&mut out, self.arch_flags);
        }
        put_uint(&mut out, self.qstrs.len() as u64);
        put_uint(&mut out, 0); // n_obj
        for q in &self.qstrs {
            match q {
                QstrEntry::Bytes(b) => {
                    put_uint(&mut out, (b.len() as u64) << 1);
                    out.extend_from_slice(b);
                    out.push(0);
                }
                QstrEntry::Static(n) => put_uint(&mut out, n << 1 | 1),
            }
        }
        put_uint(&mut out, (self.text.len() as u64) << 3 | KIND_VIPER);
        out.extend_from_slice(&self.text);
        let scope = self.scope_flags();
        put_uint(&mut out, scope);
        if scope & SCOPE_VIPERRODATA != 0 {
            put_uint(&mut out, self.rodata.len() as u64);
        }
        if scope & SCOPE_VIPERBSS != 0 {
            put_uint(&mut out, self.bss_size);
        }
        out.extend_from_slice(&self.rodata);
        encode_relocs(&mut out, &self.relocs);
        out.push(0xFF);
        out
    }
}

/// Appends a varint: 7 bits a byte, most significant group first.
pub fn put_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 10];
    let mut i = buf.len() - 1;
    buf[i] = (v & 0x7F) as u8;
    v >>= 7;
    while v != 0 {
        i -= 1;
        buf[i] = 0x80 | (v & 0x7F) as u8;
        v >>= 7;
    }
    out.extend_from_slice(&buf[i..]);
}

/// Encodes relocations (sorted by region and word first) as the loader reads them:
/// runs of consecutive words with the same base use the repeat count, and the word
/// pointer is only set when the next word is not the one after the previous.
fn encode_relocs(out: &mut Vec<u8>, relocs: &[Reloc]) {
    let mut sorted = relocs.to_vec();
    sorted.sort();
    // The loader's pointer after the previous op: (region, next word).
    let mut cursor: Option<(Region, u64)> = None;
    let mut i = 0;
    while i < sorted.len() {
        let r = sorted[i];
        let mut n = 1u64;
        if r.dest.is_base() {
            while i + (n as usize) < sorted.len() {
                let next = sorted[i + n as usize];
                if next.region == r.region && next.dest == r.dest && next.word == r.word + n {
                    n += 1;
                } else {
                    break;
                }
            }
        }
        let need_offset = cursor != Some((r.region, r.word));
        let mut op = if r.dest.is_base() {
            r.dest.op() << 1 | u8::from(n > 1)
        } else {
            r.dest.op()
        };
        op = op << 1 | u8::from(need_offset);
        out.push(op);
        if need_offset {
            let region_bit = match r.region {
                Region::Text => 0,
                Region::Rodata => 1,
            };
            put_uint(out, r.word << 1 | region_bit);
        }
        if n > 1 {
            put_uint(out, n);
        }
        cursor = Some((r.region, r.word + n));
        i += n as usize;
    }
}

/// A malformed `.mpy`: what is wrong and at which byte.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("at byte {offset} ({offset:#x}): {msg}")]
pub struct MpyReadError {
    /// Byte offset in the file.
    pub offset: usize,
    /// What is wrong.
    pub msg: String,
}

/// A `.mpy` as read back, with what `inspect` shows beyond the image.
#[derive(Debug, Clone)]
pub struct MpyFile {
    /// Header version byte.
    pub version: u8,
    /// Sub-version from the flags byte.
    pub sub_version: u8,
    /// The image.
    pub image: MpyImage,
    /// Scope flags as stored.
    pub scope_flags: u64,
    /// Number of relocation ops in the stream (runs count once).
    pub n_reloc_ops: usize,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err<T>(&self, at: usize, msg: impl Into<String>) -> Result<T, MpyReadError> {
        Err(MpyReadError {
            offset: at,
            msg: msg.into(),
        })
    }

    fn byte(&mut self, what: &str) -> Result<u8, MpyReadError> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => self.err(self.pos, format!("file ends while reading {what}")),
        }
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<&'a [u8], MpyReadError> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return self.err(
                self.pos,
                format!("{what} needs {n} bytes, only {left} left"),
            );
        }
        let s = &self.data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn uint(&mut self, what: &str) -> Result<u64, MpyReadError> {
        let start = self.pos;
        let mut v: u64 = 0;
        loop {
            let b = match self.data.get(self.pos) {
                Some(&b) => b,
                None => {
                    return self.err(
                        start,
                        format!("varint for {what} runs past the end of the file"),
                    )
                }
            };
            self.pos += 1;
            if v >> 57 != 0 {
                return self.err(start, format!("varint for {what} overflows 64 bits"));
            }
            v = v << 7 | u64::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
    }
}

/// Parses a native-module `.mpy`, checking every field the loader reads.
pub fn parse(data: &[u8]) -> Result<MpyFile, MpyReadError> {
    let mut r = Reader { data, pos: 0 };
    let magic = r.byte("the header")?;
    if magic != b'M' {
        return r.err(0, format!("bad magic {magic:#04x}, expected 'M' (0x4d)"));
    }
    let version = r.byte("the header")?;
    if version != MPY_VERSION {
        return r.err(1, format!("mpy version {version}, expected {MPY_VERSION}"));
    }
    let flags = r.byte("the header")?;
    let sub_version = flags & 3;
    let arch = (flags >> 2) & 0xF;
    if flags & 0x80 != 0 {
        return r.err(2, format!("unknown header flag bits in {flags:#04x}"));
    }
    if arch == 0 {
        return r.err(2, "arch none: a bytecode .mpy, not a native module");
    }
    if sub_version != MPY_SUB_VERSION {
        return r.err(
            2,
            format!("sub-version {sub_version}, expected {MPY_SUB_VERSION}"),
        );
    }
    let small_int_bits = r.byte("the header")?;
    let arch_flags = if flags & MPY_ARCH_FLAGS != 0 {
        r.uint("arch flags")?
    } else {
        0
    };
    let word_size = crate::arch::by_code(arch)
        .map(|a| a.word_size)
        .unwrap_or(if matches!(arch, 2 | 12) { 8 } else { 4 });

    let n_qstr = r.uint("n_qstr")?;
    let at = r.pos;
    let n_obj = r.uint("n_obj")?;
    if n_obj != 0 {
        return r.err(
            at,
            format!("{n_obj} constant objects: native modules have none"),
        );
    }
    let mut qstrs = Vec::new();
    for i in 0..n_qstr {
        let at = r.pos;
        let v = r.uint("a qstr length")?;
        if v & 1 == 1 {
            qstrs.push(QstrEntry::Static(v >> 1));
        } else {
            let s = r.bytes(v >> 1, &format!("qstr {i}"))?.to_vec();
            let nul_at = r.pos;
            if r.byte(&format!("qstr {i}'s NUL"))? != 0 {
                return r.err(
                    nul_at,
                    format!("qstr {i} (starting at byte {at}) lacks its NUL terminator"),
                );
            }
            qstrs.push(QstrEntry::Bytes(s));
        }
    }

    let at = r.pos;
    let kind_len = r.uint("the code kind/length")?;
    if kind_len & 3 != KIND_VIPER {
        return r.err(
            at,
            format!(
                "code kind {} is not viper (native module)",
                (kind_len & 3) + 2
            ),
        );
    }
    if kind_len & 4 != 0 {
        return r.err(at, "code has children: not a native module");
    }
    let text = r.bytes(kind_len >> 3, "the text")?.to_vec();
    let at = r.pos;
    let scope_flags = r.uint("scope flags")?;
    if scope_flags & SCOPE_VIPERRELOC == 0 {
        return r.err(
            at,
            format!("scope flags {scope_flags:#x} lack VIPERRELOC (0x10)"),
        );
    }
    let rodata_at = r.pos;
    let rodata_size = if scope_flags & SCOPE_VIPERRODATA != 0 {
        r.uint("rodata size")?
    } else {
        0
    };
    if scope_flags & SCOPE_VIPERRODATA != 0 && rodata_size == 0 {
        return r.err(rodata_at, "rodata flag set with size 0");
    }
    let bss_size = if scope_flags & SCOPE_VIPERBSS != 0 {
        r.uint("bss size")?
    } else {
        0
    };
    let rodata = r.bytes(rodata_size, "the rodata")?.to_vec();

    let ws = u64::from(word_size);
    let text_words = text.len() as u64 / ws;
    let rodata_words = rodata.len() as u64 / ws;
    let mut relocs = Vec::new();
    let mut n_ops = 0;
    let mut cursor: Option<(Region, u64)> = None;
    loop {
        let op_at = r.pos;
        let byte = r.byte("the relocations (missing 0xFF terminator)")?;
        if byte == 0xFF {
            break;
        }
        n_ops += 1;
        if byte & 1 != 0 {
            let v = r.uint("a relocation offset")?;
            let region = if v & 1 == 0 {
                Region::Text
            } else {
                Region::Rodata
            };
            cursor = Some((region, v >> 1));
        }
        let Some((region, word)) = cursor else {
            return r.err(
                op_at,
                format!("relocation op {byte:#04x} before any offset was set"),
            );
        };
        let op = byte >> 1;
        let (dest, n) = if op <= 5 {
            let n = if op & 1 != 0 {
                r.uint("a relocation count")?
            } else {
                1
            };
            let dest = match op >> 1 {
                0 => Dest::Text,
                1 => Dest::Rodata,
                _ => Dest::Bss,
            };
            (dest, n)
        } else {
            let dest = match op {
                6 => Dest::QstrTable,
                7 => Dest::ObjTable,
                8 => Dest::FunTable,
                k => Dest::FunSlot(k - 9),
            };
            (dest, 1)
        };
        if let Dest::FunSlot(k) = dest {
            if usize::from(k) >= crate::funtable::N_SLOTS {
                return r.err(
                    op_at,
                    format!(
                        "relocation reads mp_fun_table[{k}], past its {} slots",
                        crate::funtable::N_SLOTS
                    ),
                );
            }
        }
        if dest == Dest::Rodata && rodata.is_empty() {
            return r.err(
                op_at,
                "relocation adds the rodata base but the file has no rodata",
            );
        }
        if dest == Dest::Bss && bss_size == 0 {
            return r.err(
                op_at,
                "relocation adds the bss base but the file has no bss",
            );
        }
        let limit = match region {
            Region::Text => text_words,
            Region::Rodata => rodata_words,
        };
        if word.checked_add(n).is_none_or(|end| end > limit) {
            return r.err(
                op_at,
                format!(
                    "relocation of {n} word(s) at {region:?} word {word} (byte {:#x}) lies outside the {} bytes of {region:?}",
                    word * ws,
                    limit * ws
                ),
            );
        }
        for k in 0..n {
            relocs.push(Reloc {
                region,
                word: word + k,
                dest,
            });
        }
        cursor = Some((region, word + n));
    }
    if r.pos != data.len() {
        return r.err(
            r.pos,
            format!(
                "{} bytes of trailing garbage after the 0xFF terminator",
                data.len() - r.pos
            ),
        );
    }
    Ok(MpyFile {
        version,
        sub_version,
        scope_flags,
        n_reloc_ops: n_ops,
        image: MpyImage {
            arch,
            arch_flags,
            small_int_bits,
            qstrs,
            text,
            rodata,
            bss_size,
            relocs,
            word_size,
        },
    })
}

/// What `inspect --json` prints.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// `M` version byte.
    pub version: u8,
    /// Sub-version.
    pub sub_version: u8,
    /// Arch name.
    pub arch: &'static str,
    /// Arch code.
    pub arch_code: u8,
    /// Arch flags (rv32).
    pub arch_flags: u64,
    /// Small-int bits.
    pub small_int_bits: u8,
    /// Qstrs (entry 0 = source name).
    pub qstrs: Vec<QstrEntry>,
    /// Text size.
    pub text_size: usize,
    /// Rodata size.
    pub rodata_size: usize,
    /// Bss size.
    pub bss_size: u64,
    /// Scope flags value.
    pub scope_flags: u64,
    /// Scope flag names.
    pub scope_flag_names: Vec<&'static str>,
    /// Ops in the relocation stream.
    pub reloc_ops: usize,
    /// Every patched word.
    pub relocs: Vec<RelocReport>,
    /// xtensa: unrelocated words that hold an ESP8266 ROM function's address (how a module
    /// linked with `--rom esp8266` reaches ROM: literal words loaded by `l32r`).
    pub rom_refs: Vec<RomRef>,
}

/// A word holding the address of a ROM function.
#[derive(Debug, Serialize)]
pub struct RomRef {
    /// Region.
    pub region: Region,
    /// Byte offset in the region.
    pub byte_offset: u64,
    /// The ROM address.
    pub addr: u32,
    /// The ROM function at that address.
    pub name: String,
}

/// One relocation as reported.
#[derive(Debug, Serialize)]
pub struct RelocReport {
    /// Region.
    pub region: Region,
    /// Word index.
    pub word: u64,
    /// Byte offset in the region.
    pub byte_offset: u64,
    /// What is added.
    pub adds: Dest,
    /// The word stored in the file before relocation.
    pub stored: u64,
}

impl MpyFile {
    /// Builds the inspect report.
    pub fn report(&self) -> InspectReport {
        let img = &self.image;
        let ws = u64::from(img.word_size);
        let mut names = Vec::new();
        for (bit, name) in [
            (SCOPE_VIPERRELOC, "VIPERRELOC"),
            (SCOPE_VIPERRODATA, "VIPERRODATA"),
            (SCOPE_VIPERBSS, "VIPERBSS"),
        ] {
            if self.scope_flags & bit != 0 {
                names.push(name);
            }
        }
        // Words the loader patches are pointers into the module, not ROM addresses.
        let relocated: std::collections::HashSet<(Region, u64)> =
            img.relocs.iter().map(|r| (r.region, r.word)).collect();
        let mut rom_refs = Vec::new();
        if let Some(table) = crate::rom::default_for(crate::arch::code_name(img.arch)) {
            for (region, buf) in [(Region::Text, &img.text), (Region::Rodata, &img.rodata)] {
                for (w, chunk) in buf.chunks_exact(4).enumerate() {
                    let v = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                    if relocated.contains(&(region, w as u64)) {
                        continue;
                    }
                    if let Some(name) = table.name_at(v) {
                        rom_refs.push(RomRef {
                            region,
                            byte_offset: 4 * w as u64,
                            addr: v,
                            name: name.to_string(),
                        });
                    }
                }
            }
        }
        InspectReport {
            version: self.version,
            sub_version: self.sub_version,
            arch: crate::arch::code_name(img.arch),
            arch_code: img.arch,
            arch_flags: img.arch_flags,
            small_int_bits: img.small_int_bits,
            qstrs: img.qstrs.clone(),
            text_size: img.text.len(),
            rodata_size: img.rodata.len(),
            bss_size: img.bss_size,
            scope_flags: self.scope_flags,
            scope_flag_names: names,
            reloc_ops: self.n_reloc_ops,
            relocs: img
                .relocs
                .iter()
                .map(|r| {
                    let region = match r.region {
                        Region::Text => &img.text,
                        Region::Rodata => &img.rodata,
                    };
                    let at = (r.word * ws) as usize;
                    let mut b = [0u8; 8];
                    b[..ws as usize].copy_from_slice(&region[at..at + ws as usize]);
                    RelocReport {
                        region: r.region,
                        word: r.word,
                        byte_offset: r.word * ws,
                        adds: r.dest,
                        stored: u64::from_le_bytes(b),
                    }
                })
                .collect(),
            rom_refs,
        }
    }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "mpy version {}.{}, arch {} ({}), small-int bits {}",
            self.version, self.sub_version, self.arch, self.arch_code, self.small_int_bits
        )?;
        if self.arch_flags != 0 {
            writeln!(f, "arch flags {:#x}", self.arch_flags)?;
        }
        writeln!(f, "qstrs ({}):", self.qstrs.len())?;
        for (i, q) in self.qstrs.iter().enumerate() {
            writeln!(
                f,
                "  {i:4} {q}{}",
                if i == 0 { "  (source name)" } else { "" }
            )?;
        }
        writeln!(
            f,
            "text {} bytes, rodata {} bytes, bss {} bytes",
            self.text_size, self.rodata_size, self.bss_size
        )?;
        writeln!(
            f,
            "scope flags {:#x} ({})",
            self.scope_flags,
            self.scope_flag_names.join(" | ")
        )?;
        writeln!(
            f,
            "relocations ({} words in {} ops):",
            self.relocs.len(),
            self.reloc_ops
        )?;
        for r in &self.relocs {
            writeln!(
                f,
                "  {:<6} word {:5} (byte {:#07x}) += {:<28} stored {:#x}",
                r.region,
                r.word,
                r.byte_offset,
                r.adds.to_string(),
                r.stored
            )?;
        }
        if !self.rom_refs.is_empty() {
            writeln!(
                f,
                "ESP8266 ROM addresses (in unrelocated words; {} functions):",
                self.rom_refs
                    .iter()
                    .map(|r| r.addr)
                    .collect::<std::collections::BTreeSet<_>>()
                    .len()
            )?;
            for r in &self.rom_refs {
                writeln!(
                    f,
                    "  {:<6} byte {:#07x} = {:#010x} {}",
                    r.region, r.byte_offset, r.addr, r.name
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_matches_loader_order() {
        let mut v = Vec::new();
        put_uint(&mut v, 0);
        put_uint(&mut v, 0x7F);
        put_uint(&mut v, 0x80);
        put_uint(&mut v, 300);
        assert_eq!(v, [0x00, 0x7F, 0x81, 0x00, 0x82, 0x2C]);
    }

    #[test]
    fn runs_use_repeat_count_and_skip_offsets() {
        let relocs = vec![
            Reloc {
                region: Region::Text,
                word: 4,
                dest: Dest::Text,
            },
            Reloc {
                region: Region::Text,
                word: 5,
                dest: Dest::Text,
            },
            Reloc {
                region: Region::Text,
                word: 6,
                dest: Dest::Text,
            },
            Reloc {
                region: Region::Text,
                word: 7,
                dest: Dest::QstrTable,
            },
            Reloc {
                region: Region::Text,
                word: 9,
                dest: Dest::FunTable,
            },
        ];
        let mut out = Vec::new();
        encode_relocs(&mut out, &relocs);
        // text run of 3 at word 4: op (0<<1|1)<<1|1 = 3, offset 8, count 3;
        // qstr at the next word: 6<<1 = 12, no offset; fun table at word 9: 8<<1|1 = 17, offset 18.
        assert_eq!(out, [3, 8, 3, 12, 17, 18]);
    }
}
