//! ROM symbol tables: functions the chip already has at fixed addresses.
//!
//! On the ESP8266 the boot ROM holds the compiler's soft-float and division helpers and the
//! C library's `memcpy`/`memset`/...; a module that calls them there instead of linking
//! compiler_builtins' copies saves their text. The table is a text file, one `NAME ADDRESS`
//! a line (`mpy-native/targets/esp8266-rom.txt`, built into mpy-ld as [`esp8266`]).
//!
//! Resolution rule (see [`crate::link`]): a symbol named in the ROM table resolves to its ROM
//! address unless some input gives it a *strong* definition (the module's own code wins);
//! weak definitions lose to ROM. compiler_builtins marks every intrinsic (and its `mem`
//! functions) weak, so its copies are left unreferenced and section GC drops them.
//!
//! [`stubs_asm`] writes the other side, for emulators and test images that have no ROM:
//! GNU as source placing at each ROM address a jump to an implementation.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use crate::arch::ArchData;
use crate::error::LinkError;

/// The ESP8266 ROM table as shipped (`mpy-native/targets/esp8266-rom.txt`).
pub const ESP8266_TABLE: &str = include_str!("../../targets/esp8266-rom.txt");

/// Lowest address of the ESP8266 ROM stub region: the boot ROM is mapped at 0x4000_0000
/// (64 KiB), and `l32r` reaches 256 KiB backwards, so one literal pool at the start serves
/// every stub.
pub const ESP8266_ROM_BASE: u32 = 0x4000_0000;

/// One ROM table: names and fixed addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RomTable {
    /// `esp8266`, or the file it was read from.
    pub name: String,
    /// Arch the addresses belong to (`xtensa`).
    pub arch: &'static str,
    /// Entries in file order.
    pub entries: Vec<(String, u32)>,
    index: HashMap<String, u32>,
}

impl RomTable {
    /// Parses a table: `NAME ADDRESS` a line (address in hex with `0x`, or decimal), `#`
    /// starts a comment. `name` is used in messages.
    pub fn parse(name: &str, arch: &'static str, text: &str) -> Result<RomTable, LinkError> {
        let mut entries = Vec::new();
        let mut index = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let bad = |msg: String| LinkError::RomTable {
                table: name.to_string(),
                line: i + 1,
                msg,
            };
            let f: Vec<&str> = line.split_whitespace().collect();
            let [sym, addr] = f[..] else {
                return Err(bad(format!("expected `NAME ADDRESS`, found `{line}`")));
            };
            if !is_symbol_name(sym) {
                return Err(bad(format!("`{sym}` is not a symbol name")));
            }
            let addr =
                parse_addr(addr).ok_or_else(|| bad(format!("`{addr}` is not a 32-bit address")))?;
            if index.insert(sym.to_string(), addr).is_some() {
                return Err(bad(format!("`{sym}` is listed twice")));
            }
            entries.push((sym.to_string(), addr));
        }
        if entries.is_empty() {
            return Err(LinkError::RomTable {
                table: name.to_string(),
                line: 0,
                msg: "no entries".into(),
            });
        }
        Ok(RomTable {
            name: name.to_string(),
            arch,
            entries,
            index,
        })
    }

    /// The ROM address of `name`, if the table has it.
    pub fn get(&self, name: &[u8]) -> Option<u32> {
        std::str::from_utf8(name)
            .ok()
            .and_then(|n| self.index.get(n).copied())
    }

    /// Refuses the table for another arch than its own, or for an arch with no way to reach
    /// ROM (no veneer).
    pub fn check_arch(&self, arch: &ArchData) -> Result<(), LinkError> {
        if self.arch == arch.name && arch.veneer.is_some() {
            return Ok(());
        }
        Err(LinkError::RomWrongArch {
            rom: self.name.clone(),
            rom_arch: self.arch,
            arch: arch.name,
        })
    }

    /// The name at `addr` (the first listed, if several share it).
    pub fn name_at(&self, addr: u32) -> Option<&str> {
        self.entries
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| n.as_str())
    }
}

/// The ESP8266 ROM (arch xtensa), from the table built into mpy-ld.
pub fn esp8266() -> RomTable {
    RomTable::parse("esp8266", "xtensa", ESP8266_TABLE).expect("built-in esp8266-rom.txt parses")
}

/// The ROM a `--rom` value names: `esp8266`, `none` (no ROM), or the path of a table file
/// (for `arch`). Anything else is an error listing the choices.
pub fn by_option(value: &str, arch: &'static str) -> Result<Option<RomTable>, LinkError> {
    match value {
        "none" => Ok(None),
        "esp8266" => Ok(Some(esp8266())),
        path if Path::new(path).is_file() => {
            let text = std::fs::read_to_string(path).map_err(|error| LinkError::Io {
                path: path.into(),
                error,
            })?;
            Ok(Some(RomTable::parse(path, arch, &text)?))
        }
        other => Err(LinkError::UnknownRom(other.to_string())),
    }
}

/// The ROM used by default for an arch: the ESP8266's for `xtensa`, none elsewhere.
pub fn default_for(arch: &str) -> Option<RomTable> {
    (arch == "xtensa").then(esp8266)
}

fn is_symbol_name(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_' || c == b'.')
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'$'))
}

fn parse_addr(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// What [`stubs_asm`] writes.
#[derive(Debug, Clone)]
pub struct StubOptions {
    /// Only these ROM names (all of the table when empty).
    pub only: Vec<String>,
    /// The implementation a stub jumps to is `prefix + NAME` (empty: the plain name, e.g.
    /// compiler_builtins' `__addsf3` in the image).
    pub prefix: String,
    /// Where the section starts (the literal pool sits there): [`ESP8266_ROM_BASE`].
    pub base: u32,
    /// Section name.
    pub section: String,
}

impl Default for StubOptions {
    fn default() -> Self {
        StubOptions {
            only: Vec::new(),
            prefix: String::new(),
            base: ESP8266_ROM_BASE,
            section: ".rom_stubs".into(),
        }
    }
}

/// Bytes of one stub: `l32r a8, lit` (3) + `jx a8` (3).
const STUB_LEN: u32 = 6;

/// GNU as source (Xtensa) for one section that, linked at `opts.base`, holds at each ROM
/// address of `table` a stub `l32r a8, <literal>; jx a8`, with the literal words (the
/// implementations' addresses) in one pool at the start of the section.
///
/// The stub is what a module's `callx0 <ROM address>` lands on: it leaves a0 (the module's
/// return address) and the argument registers a2..a7 alone and clobbers only a8, which the
/// call0 ABI lets any callee clobber, so the implementation returns straight to the module.
pub fn stubs_asm(table: &RomTable, opts: &StubOptions) -> Result<String, LinkError> {
    let err = |msg: String| LinkError::RomStubs(msg);
    let mut chosen: BTreeMap<u32, &str> = BTreeMap::new();
    let wanted: Vec<&str> = if opts.only.is_empty() {
        table.entries.iter().map(|(n, _)| n.as_str()).collect()
    } else {
        opts.only.iter().map(String::as_str).collect()
    };
    for name in wanted {
        let addr = table.get(name.as_bytes()).ok_or_else(|| {
            err(format!(
                "`{name}` is not in ROM table {} (it has: {})",
                table.name,
                table
                    .entries
                    .iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        if let Some(prev) = chosen.insert(addr, name) {
            if prev != name {
                return Err(err(format!(
                    "`{prev}` and `{name}` share ROM address {addr:#x}: choose one with --only"
                )));
            }
        }
    }
    if !is_symbol_name(&format!("{}x", opts.prefix)) {
        return Err(err(format!(
            "prefix `{}` does not make symbol names",
            opts.prefix
        )));
    }
    let n = chosen.len() as u32;
    let pool_end = opts.base + 4 * n;
    let mut prev_end = pool_end;
    let mut prev_name = "the literal pool";
    for (&addr, &name) in &chosen {
        if addr < prev_end {
            return Err(err(format!(
                "`{name}` at {addr:#x} overlaps {prev_name} (ends at {prev_end:#x}); \
                 the section starts at {:#x}",
                opts.base
            )));
        }
        // l32r: literal at most 256 KiB below (pc + 3) & ~3.
        if (addr + 3) & !3 > opts.base + (1 << 18) {
            return Err(err(format!(
                "`{name}` at {addr:#x} is more than 256 KiB above the literal pool at {:#x}",
                opts.base
            )));
        }
        prev_end = addr + STUB_LEN;
        prev_name = name;
    }

    let mut s = String::new();
    let _ = writeln!(
        s,
        "# ROM entry stubs for ROM table `{}`, written by `mpy-ld rom-stubs`.\n\
         # Link section {} at {:#x} (e.g. `{} {:#x} : {{ KEEP(*({})) }}`): at each ROM address a\n\
         # stub `l32r a8, <literal>; jx a8` jumps to the implementation `{}NAME`. a0 and the\n\
         # arguments a2..a7 are left alone (a8 is caller-saved in the call0 ABI), so a module's\n\
         # `callx0` of the ROM address runs the implementation, which returns to the module.",
        table.name, opts.section, opts.base, opts.section, opts.base, opts.section, opts.prefix
    );
    let _ = writeln!(s, "\t.section\t{}, \"ax\", @progbits", opts.section);
    let _ = writeln!(s, "\t.begin\tno-transform");
    let _ = writeln!(s, "\t.p2align\t2");
    let _ = writeln!(s, "\t.global\t__rom_stubs_base");
    let _ = writeln!(s, "__rom_stubs_base:");
    for (i, name) in chosen.values().enumerate() {
        let _ = writeln!(s, ".Lrom_lit_{i}:\t.word\t{}{name}", opts.prefix);
    }
    for (i, (&addr, &name)) in chosen.iter().enumerate() {
        let _ = writeln!(s, "\t.org\t{:#x}", addr - opts.base);
        let _ = writeln!(s, "\t.global\trom_stub_{name}");
        let _ = writeln!(s, "rom_stub_{name}:\t# {name} = {addr:#010x}");
        let _ = writeln!(s, "\tl32r\ta8, .Lrom_lit_{i}");
        let _ = writeln!(s, "\tjx\ta8");
    }
    let _ = writeln!(s, "\t.end\tno-transform");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_has_the_helpers() {
        let t = esp8266();
        assert_eq!(t.get(b"__divsi3"), Some(0x4000_dc88));
        assert_eq!(t.get(b"__addsf3"), Some(0x4000_c180));
        assert_eq!(t.get(b"memcpy"), Some(0x4000_df48));
        // Not in the ESP8266 ROM: compiler_builtins keeps providing these.
        for absent in ["__divsf3", "__fixsfsi", "__eqsf2", "__modsi3"] {
            assert_eq!(t.get(absent.as_bytes()), None, "{absent}");
        }
        assert_eq!(t.name_at(0x4000_e21c), Some("__udivsi3"));
        assert!(t
            .entries
            .iter()
            .all(|(_, a)| (0x4000_0000..0x4001_0000).contains(a)));
    }

    #[test]
    fn table_errors_name_the_line() {
        let e = RomTable::parse("t", "xtensa", "# c\nfoo 0x10\nbar\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ROM table t, line 3: expected `NAME ADDRESS`, found `bar`"
        );
        let e = RomTable::parse("t", "xtensa", "foo 0x10\nfoo 0x20\n").unwrap_err();
        assert!(e.to_string().contains("`foo` is listed twice"), "{e}");
        let e = RomTable::parse("t", "xtensa", "foo 0x1_0000_0000\n").unwrap_err();
        assert!(e.to_string().contains("is not a 32-bit address"), "{e}");
        let e = RomTable::parse("t", "xtensa", "# nothing\n").unwrap_err();
        assert!(e.to_string().contains("no entries"), "{e}");
    }

    #[test]
    fn stubs_sit_at_the_rom_addresses() {
        let t = RomTable::parse("t", "xtensa", "b 0x40000658\na 0x40000650\n").unwrap();
        let s = stubs_asm(&t, &StubOptions::default()).unwrap();
        // Pool in address order, then each stub at its offset from the base.
        let a = s.find(".Lrom_lit_0:\t.word\ta").unwrap();
        let b = s.find(".Lrom_lit_1:\t.word\tb").unwrap();
        assert!(a < b, "{s}");
        assert!(s.contains("\t.org\t0x650\n"), "{s}");
        assert!(s.contains("\t.org\t0x658\n"), "{s}");
        let only = StubOptions {
            only: vec!["b".into()],
            prefix: "impl_".into(),
            ..StubOptions::default()
        };
        let s = stubs_asm(&t, &only).unwrap();
        assert!(
            s.contains(".word\timpl_b") && !s.contains("rom_stub_a"),
            "{s}"
        );
    }

    #[test]
    fn stubs_refuse_what_cannot_be_placed() {
        let t =
            RomTable::parse("t", "xtensa", "a 0x40000650\nb 0x40000654\nc 0x40000004\n").unwrap();
        let only = |n: &[&str]| StubOptions {
            only: n.iter().map(|s| s.to_string()).collect(),
            ..StubOptions::default()
        };
        let e = stubs_asm(&t, &only(&["a", "b"])).unwrap_err().to_string();
        assert!(e.contains("`b` at 0x40000654 overlaps a"), "{e}");
        let e = stubs_asm(&t, &only(&["a", "c"])).unwrap_err().to_string();
        assert!(e.contains("overlaps the literal pool"), "{e}");
        let e = stubs_asm(&t, &only(&["zz"])).unwrap_err().to_string();
        assert!(
            e.contains("`zz` is not in ROM table t (it has: a, b, c)"),
            "{e}"
        );
        let far = RomTable::parse("t", "xtensa", "far 0x40100000\n").unwrap();
        let e = stubs_asm(&far, &StubOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 256 KiB above"), "{e}");
    }
}
