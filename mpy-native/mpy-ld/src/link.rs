//! The link: symbol resolution, section GC from the entry, layout, GOT, relocations.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use crate::arch::{ArchData, RelocAction, Veneer};
use crate::error::{LinkError, Place};
use crate::input::{self, is_init_array, Binding, InputObject, SectionKind, SymDef};
use crate::mpy::{Dest, MpyImage, QstrEntry, Region, Reloc};
use crate::rom::RomTable;

/// Name of the runtime's function table symbol.
pub const FUN_TABLE_SYMBOL: &str = "mp_fun_table";
/// Prefix of qstr symbols: `MP_QSTR_NAME`.
pub const QSTR_PREFIX: &str = "MP_QSTR_";
/// Default entry symbol.
pub const DEFAULT_ENTRY: &str = "mpy_init";
/// True if `name` is a valid qstr name: an ASCII identifier `[A-Za-z_][A-Za-z0-9_]*`.
///
/// Qstr symbols are `MP_QSTR_NAME`; GNU as (the ESP8266 pipeline assembles rustc's `.s`) reads
/// any other character as an operator or a syntax error, and LLVM does not quote symbols in
/// Xtensa `.literal` lines.
pub fn is_qstr_name(name: &[u8]) -> bool {
    matches!(name.first(), Some(c) if c.is_ascii_alphabetic() || *c == b'_')
        && name.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// What to link and how.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Target arch.
    pub arch: &'static ArchData,
    /// Entry symbol (`mpy_init`).
    pub entry: String,
    /// Qstr entry 0: the module's source name (conventionally the `.mpy` file name).
    pub source_name: String,
    /// Xtensa: keep one copy of each literal-pool word (same constant, or same symbol and
    /// addend) across all kept `.literal*` sections, and point every `l32r` at it. All pools
    /// sit before the code, so the copy kept is always behind its users. Ignored by arches
    /// without literal pools. `link` turns it off (`--no-merge-literals`) for comparing with
    /// GNU ld, which keeps every pool whole.
    pub merge_literals: bool,
    /// Functions the chip has in ROM at fixed addresses (the ESP8266's soft-float, division
    /// and memory helpers). A symbol in the table resolves to its ROM address unless an input
    /// defines it strongly; weak definitions (all of compiler_builtins') lose to ROM and their
    /// sections are dropped by GC. `call0`/`j` to a ROM function go through a veneer
    /// (`l32r a8; jx a8`, one per function); literal words hold the ROM address itself, with
    /// no load-time relocation.
    pub rom: Option<RomTable>,
}

impl LinkOptions {
    /// Options for `arch` with the defaults: entry `mpy_init`, literal merging on, the arch's
    /// ROM (the ESP8266's for xtensa, none elsewhere).
    pub fn new(arch: &'static ArchData, source_name: impl Into<String>) -> Self {
        LinkOptions {
            arch,
            entry: DEFAULT_ENTRY.into(),
            source_name: source_name.into(),
            merge_literals: true,
            rom: crate::rom::default_for(arch.name),
        }
    }
}

/// Key of a literal-pool word: what `l32r` loads from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LiteralKey {
    Const(u32),
    Sym(Target, i64),
}

/// Literal merging plan: per mergeable section, for each word, `None` if this copy is kept,
/// else the (section, offset) of the earlier word it duplicates.
type LiteralPlan = HashMap<SecId, Vec<Option<(SecId, u64)>>>;

/// Plan literal merging over `secs` (in layout order). A section is merged only if it is
/// whole words whose only relocations are absolute words at word offsets (what GNU as writes
/// for `.literal`); anything else is laid out unchanged.
fn plan_literal_merge(
    objs: &[InputObject],
    res: &Resolver,
    arch: &ArchData,
    secs: &[SecId],
) -> LiteralPlan {
    let is_literal = |s: SecId| objs[s.0].sections[s.1].name.starts_with(".literal");
    let mut seen: HashMap<LiteralKey, (SecId, u64)> = HashMap::new();
    let mut plan = LiteralPlan::new();
    'sec: for &sec in secs {
        let obj = &objs[sec.0];
        let s = &obj.sections[sec.1];
        if !s.size.is_multiple_of(4) || s.align < 4 || s.data.len() as u64 != s.size {
            continue;
        }
        let mut at: HashMap<u64, LiteralKey> = HashMap::new();
        for r in &s.relocs {
            match (arch.classify)(r.r_type) {
                RelocAction::Ignore => continue,
                RelocAction::AbsWord if r.offset % 4 == 0 && r.offset < s.size => {}
                _ => continue 'sec,
            }
            let t = res.target(sec.0, r.symbol);
            let w = &s.data[r.offset as usize..r.offset as usize + 4];
            let addend = r.addend + i64::from(i32::from_le_bytes(w.try_into().unwrap()));
            let key = match t {
                // A pointer into a literal pool stays where it is (and unique).
                Target::Section { sec: ts, .. } if is_literal(ts) => continue 'sec,
                Target::Undefined(_) | Target::Common(_) => continue 'sec,
                t => LiteralKey::Sym(t, addend),
            };
            if at.insert(r.offset, key).is_some() {
                continue 'sec; // two relocations on one word
            }
        }
        let mut words = Vec::with_capacity((s.size / 4) as usize);
        for off in (0..s.size).step_by(4) {
            let key = at.remove(&off).unwrap_or_else(|| {
                let w = &s.data[off as usize..off as usize + 4];
                LiteralKey::Const(u32::from_le_bytes(w.try_into().unwrap()))
            });
            match seen.get(&key) {
                Some(&first) => words.push(Some(first)),
                None => {
                    seen.insert(key, (sec, off));
                    words.push(None);
                }
            }
        }
        plan.insert(sec, words);
    }
    plan
}

/// A linked module plus the layout that produced it.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The `.mpy` contents.
    pub image: MpyImage,
    /// Layout facts for `--map` and tests.
    pub map: LinkMap,
}

/// Where a section or symbol landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Area {
    /// The text region.
    Text,
    /// The separate rodata region.
    Rodata,
    /// The bss region.
    Bss,
}

impl Area {
    fn dest(self) -> Dest {
        match self {
            Area::Text => Dest::Text,
            Area::Rodata => Dest::Rodata,
            Area::Bss => Dest::Bss,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Area::Text => "text",
            Area::Rodata => "rodata",
            Area::Bss => "bss",
        }
    }
}

/// A kept section in the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSection {
    /// Input file.
    pub file: String,
    /// Section name.
    pub name: String,
    /// Region.
    pub area: Area,
    /// Offset in the region.
    pub addr: u64,
    /// Size.
    pub size: u64,
    /// Alignment.
    pub align: u64,
}

/// A dropped section in the map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedSection {
    /// Input file.
    pub file: String,
    /// Section name.
    pub name: String,
    /// Size.
    pub size: u64,
}

/// One GOT word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GotEntry {
    /// Offset of the word in the text.
    pub addr: u64,
    /// What it points at, for people.
    pub target: String,
    /// Link-time value of the word.
    pub value: u64,
    /// What the loader adds (None for an absolute value).
    pub dest: Option<Dest>,
}

/// Layout facts of one link.
#[derive(Debug, Clone, Default)]
pub struct LinkMap {
    /// Entry jump at offset 0, and its target, if one was emitted.
    pub entry_jump: Option<u64>,
    /// Entry address in the text.
    pub entry_addr: u64,
    /// Kept sections in layout order.
    pub sections: Vec<MapSection>,
    /// Dropped sections (unreachable from the entry).
    pub dropped: Vec<DroppedSection>,
    /// Named symbols in kept sections: (name, area, address).
    pub symbols: Vec<(String, Area, u64)>,
    /// GOT words.
    pub got: Vec<GotEntry>,
    /// Offset of the GOT in the text.
    pub got_addr: u64,
    /// Module qstrs (index 1 onwards).
    pub qstrs: Vec<Vec<u8>>,
    /// The ROM table used, if any.
    pub rom_table: Option<String>,
    /// Symbols resolved to ROM, sorted by name.
    pub rom: Vec<RomUse>,
    /// ROM names that an input defines strongly, so its definition was used: (name, file).
    pub rom_overridden: Vec<(String, String)>,
}

/// A symbol the link resolved to a ROM address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RomUse {
    /// The symbol.
    pub name: String,
    /// Its ROM address.
    pub addr: u32,
    /// Text offset of its veneer, when direct calls reach it.
    pub veneer: Option<u64>,
    /// Kept references: literal/absolute words (the ROM address stored as a constant).
    pub words: usize,
    /// Kept references: calls and jumps sent through the veneer.
    pub calls: usize,
}

impl LinkMap {
    /// Renders the map; `verbose` lists every dropped section instead of a summary.
    pub fn render(&self, image: &MpyImage, verbose: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "text {} bytes, rodata {} bytes, bss {} bytes, {} GOT words, {} runtime relocations",
            image.text.len(),
            image.rodata.len(),
            image.bss_size,
            self.got.len(),
            image.relocs.len()
        );
        match self.entry_jump {
            Some(t) => {
                let _ = writeln!(s, "entry: jump at 0 to {t:#x}");
            }
            None => {
                let _ = writeln!(s, "entry: at {:#x} (no jump needed)", self.entry_addr);
            }
        }
        let _ = writeln!(s, "kept sections ({}):", self.sections.len());
        for m in &self.sections {
            let _ = writeln!(
                s,
                "  {:<6} {:#08x} {:6} align {:<4} {} ({})",
                m.area.name(),
                m.addr,
                m.size,
                m.align,
                m.name,
                m.file
            );
        }
        let dropped_bytes: u64 = self.dropped.iter().map(|d| d.size).sum();
        let _ = writeln!(
            s,
            "dropped sections: {} ({} bytes)",
            self.dropped.len(),
            dropped_bytes
        );
        if verbose {
            for d in &self.dropped {
                let _ = writeln!(s, "  {:6} {} ({})", d.size, d.name, d.file);
            }
        }
        let _ = writeln!(s, "symbols:");
        for (name, area, addr) in &self.symbols {
            let _ = writeln!(s, "  {:<6} {:#08x} {}", area.name(), addr, name);
        }
        if self.got.is_empty() {
            let _ = writeln!(s, "GOT: none");
        } else {
            let _ = writeln!(s, "GOT at text {:#x}:", self.got_addr);
        }
        for g in &self.got {
            let dest = g.dest.map_or("absolute".to_string(), |d| format!("+= {d}"));
            let _ = writeln!(
                s,
                "  {:#08x} = {:#x} {:<24} {}",
                g.addr, g.value, dest, g.target
            );
        }
        let _ = writeln!(s, "qstrs:");
        for (i, q) in self.qstrs.iter().enumerate() {
            let _ = writeln!(s, "  {:4} {:?}", i + 1, String::from_utf8_lossy(q));
        }
        match &self.rom_table {
            None => {
                let _ = writeln!(s, "ROM: none");
            }
            Some(t) => {
                let _ = writeln!(s, "ROM {t}: {} symbols resolved to ROM", self.rom.len());
                for r in &self.rom {
                    let via = match r.veneer {
                        Some(v) => format!(", veneer at text {v:#x}"),
                        None => String::new(),
                    };
                    let _ = writeln!(
                        s,
                        "  rom    {:#010x} {:<16} {} calls, {} words{via}",
                        r.addr, r.name, r.calls, r.words
                    );
                }
                for (name, file) in &self.rom_overridden {
                    let _ = writeln!(s, "  not from ROM: {name} (defined strongly in {file})");
                }
            }
        }
        s
    }
}

type SecId = (usize, usize);

/// What a relocation's symbol resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Target {
    Section {
        sec: SecId,
        off: u64,
    },
    FunTable,
    Qstr(Vec<u8>),
    Abs(u64),
    /// A function in ROM (name; the address is in the ROM table).
    Rom(Vec<u8>),
    Undefined(Vec<u8>),
    Common(Vec<u8>),
}

/// A resolved location after layout.
#[derive(Debug, Clone, Copy)]
enum Loc {
    In(Area, u64),
    Qstr(u64),
    FunTable,
    Abs(u64),
}

/// Readable symbol name: demangled when it is a Rust symbol.
pub fn pretty(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    match rustc_demangle::try_demangle(&s) {
        Ok(d) => format!("{d:#}"),
        Err(_) => s.into_owned(),
    }
}

struct Resolver<'a> {
    objs: &'a [InputObject],
    globals: HashMap<&'a [u8], (usize, usize)>,
    rom: Option<&'a RomTable>,
}

impl<'a> Resolver<'a> {
    fn new(objs: &'a [InputObject], rom: Option<&'a RomTable>) -> Result<Self, LinkError> {
        let mut globals: HashMap<&[u8], (usize, usize)> = HashMap::new();
        let mut errors = Vec::new();
        for (oi, obj) in objs.iter().enumerate() {
            for (si, sym) in obj.symbols.iter().enumerate() {
                if sym.binding == Binding::Local || sym.def == SymDef::Undefined || si == 0 {
                    continue;
                }
                if sym.name == FUN_TABLE_SYMBOL.as_bytes()
                    || sym.name.starts_with(QSTR_PREFIX.as_bytes())
                {
                    errors.push(LinkError::ReservedSymbol {
                        file: obj.name.clone(),
                        symbol: sym.name_lossy(),
                    });
                    continue;
                }
                match globals.get(sym.name.as_slice()) {
                    None => {
                        globals.insert(&sym.name, (oi, si));
                    }
                    Some(&(po, ps)) => {
                        let prev_weak = objs[po].symbols[ps].binding == Binding::Weak;
                        let new_weak = sym.binding == Binding::Weak;
                        if prev_weak && !new_weak {
                            globals.insert(&sym.name, (oi, si));
                        } else if !prev_weak && !new_weak {
                            errors.push(LinkError::DuplicateSymbol {
                                symbol: sym.name_lossy(),
                                first: objs[po].name.clone(),
                                second: obj.name.clone(),
                            });
                        }
                    }
                }
            }
        }
        LinkError::collect(errors)?;
        Ok(Resolver { objs, globals, rom })
    }

    /// The ROM address `name` resolves to, if it does: it is in the ROM table and no input
    /// defines it strongly.
    fn rom_addr(&self, name: &[u8]) -> Option<u32> {
        let addr = self.rom?.get(name)?;
        match self.globals.get(name) {
            Some(&(o, i)) if self.objs[o].symbols[i].binding != Binding::Weak => None,
            _ => Some(addr),
        }
    }

    fn def_target(&self, obj: usize, sym: usize) -> Target {
        let s = &self.objs[obj].symbols[sym];
        match s.def {
            SymDef::Section { section, value } => Target::Section {
                sec: (obj, section),
                off: value,
            },
            SymDef::Absolute(v) => Target::Abs(v),
            SymDef::Common => Target::Common(s.name.clone()),
            SymDef::Undefined => Target::Undefined(s.name.clone()),
        }
    }

    fn target(&self, obj: usize, sym: usize) -> Target {
        if sym == 0 {
            return Target::Abs(0);
        }
        let s = &self.objs[obj].symbols[sym];
        if s.binding == Binding::Local {
            return self.def_target(obj, sym);
        }
        if s.name == FUN_TABLE_SYMBOL.as_bytes() {
            return Target::FunTable;
        }
        if let Some(q) = s.name.strip_prefix(QSTR_PREFIX.as_bytes()) {
            return Target::Qstr(q.to_vec());
        }
        if self.rom_addr(&s.name).is_some() {
            return Target::Rom(s.name.clone());
        }
        match self.globals.get(s.name.as_slice()) {
            Some(&(o, i)) => self.def_target(o, i),
            None => Target::Undefined(s.name.clone()),
        }
    }

    /// Name for messages: the symbol's own, or the named symbol at that spot of a section.
    fn describe(&self, obj: usize, sym: usize, target: &Target) -> String {
        let s = &self.objs[obj].symbols[sym];
        if !s.is_section {
            return pretty(&s.name);
        }
        if let Target::Section { sec: (o, si), off } = *target {
            for cand in &self.objs[o].symbols {
                if !cand.is_section
                    && !cand.name.is_empty()
                    && cand.def
                        == (SymDef::Section {
                            section: si,
                            value: off,
                        })
                {
                    return pretty(&cand.name);
                }
            }
        }
        pretty(&s.name)
    }
}

/// Name of the input object holding the ROM veneers (in maps and messages).
pub const VENEER_OBJECT: &str = "<rom-veneers>";

/// An input object with, for each ROM name, a literal section `.literal.rom.NAME` (one word,
/// the ROM address) and a veneer `.text.rom.NAME` loading it and jumping there. Returns it
/// with each name's veneer section index.
fn veneer_object(v: &Veneer, names: &BTreeSet<Vec<u8>>) -> (InputObject, Vec<(Vec<u8>, usize)>) {
    use crate::input::{Reloc as InReloc, Section, Symbol};
    let sym = |name: Vec<u8>, binding, def, is_section| Symbol {
        name,
        binding,
        def,
        is_section,
        is_tls: false,
    };
    let mut sections = vec![Section::placeholder()];
    let mut symbols = vec![sym(Vec::new(), Binding::Local, SymDef::Undefined, false)];
    let mut out = Vec::new();
    for name in names {
        let n = String::from_utf8_lossy(name);
        let (lit, text) = (sections.len(), sections.len() + 1);
        let (undef, lit_sym) = (symbols.len(), symbols.len() + 1);
        symbols.push(sym(name.clone(), Binding::Global, SymDef::Undefined, false));
        symbols.push(sym(
            format!(".literal.rom.{n}").into_bytes(),
            Binding::Local,
            SymDef::Section {
                section: lit,
                value: 0,
            },
            true,
        ));
        symbols.push(sym(
            format!("rom:{n}").into_bytes(),
            Binding::Local,
            SymDef::Section {
                section: text,
                value: 0,
            },
            false,
        ));
        sections.push(Section {
            name: format!(".literal.rom.{n}"),
            kind: SectionKind::Text,
            align: 4,
            size: 4,
            data: vec![0; 4],
            relocs: vec![InReloc {
                offset: 0,
                r_type: v.word_reloc,
                symbol: undef,
                addend: 0,
            }],
        });
        sections.push(Section {
            name: format!(".text.rom.{n}"),
            kind: SectionKind::Text,
            align: v.align,
            size: v.code.len() as u64,
            data: v.code.to_vec(),
            relocs: vec![InReloc {
                offset: 0,
                r_type: v.load_reloc,
                symbol: lit_sym,
                addend: 0,
            }],
        });
        out.push((name.clone(), text));
    }
    let obj = InputObject {
        name: VENEER_OBJECT.into(),
        sections,
        symbols,
    };
    (obj, out)
}

fn place(obj: &InputObject, sec: usize, offset: u64) -> Place {
    Place {
        file: obj.name.clone(),
        section: obj.sections[sec].name.clone(),
        offset,
    }
}

fn align_to(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Links the inputs into a module image.
pub fn link(objs: &[InputObject], opts: &LinkOptions) -> Result<Linked, LinkError> {
    let arch = opts.arch;
    arch.check_implemented()?;
    if objs.is_empty() {
        return Err(LinkError::NoInputs);
    }
    let ws = u64::from(arch.word_size);
    let rom = opts.rom.as_ref();
    if let Some(t) = rom {
        t.check_arch(arch)?;
    }

    // A ROM function that code calls directly (`call0`) is out of the call's range: each
    // gets a veneer, laid out from an extra input object like any other section (GC drops
    // the veneers nobody reaches). That object defines no global, so the resolver built for
    // the inputs serves the extended list as well.
    let with_veneers: Vec<InputObject>;
    let mut res = Resolver::new(objs, rom)?;
    let mut veneers: HashMap<Vec<u8>, SecId> = HashMap::new();
    if let (Some(_), Some(v)) = (rom, arch.veneer) {
        let mut names = BTreeSet::new();
        for (o, obj) in objs.iter().enumerate() {
            for s in &obj.sections {
                for r in &s.relocs {
                    if (arch.classify)(r.r_type) == RelocAction::Insn {
                        if let Target::Rom(name) = res.target(o, r.symbol) {
                            names.insert(name);
                        }
                    }
                }
            }
        }
        if !names.is_empty() {
            let (obj, secs) = veneer_object(v, &names);
            let oi = objs.len();
            veneers = secs.into_iter().map(|(n, si)| (n, (oi, si))).collect();
            let mut all = objs.to_vec();
            all.push(obj);
            with_veneers = all;
            res.objs = &with_veneers;
        }
    }
    let objs = res.objs;

    // What a relocation's symbol resolves to, with direct calls to ROM sent to the veneer.
    let target_of = |o: usize, si: usize, r: &input::Reloc| -> Result<Target, LinkError> {
        let t = res.target(o, r.symbol);
        let Target::Rom(name) = &t else {
            return Ok(t);
        };
        if (arch.classify)(r.r_type) != RelocAction::Insn {
            return Ok(t);
        }
        let code = objs[o].sections[si]
            .data
            .get(r.offset as usize..)
            .unwrap_or(&[]);
        match (veneers.get(name), arch.veneer) {
            (Some(&sec), Some(v)) if (v.can_redirect)(code) => Ok(Target::Section { sec, off: 0 }),
            _ => Err(LinkError::RomInsn {
                symbol: pretty(name),
                addr: res.rom_addr(name).unwrap_or(0),
                place: place(&objs[o], si, r.offset),
            }),
        }
    };

    // The entry.
    let (entry_sec, entry_off) = match res.globals.get(opts.entry.as_bytes()) {
        Some(&(o, i)) => match objs[o].symbols[i].def {
            SymDef::Section { section, value }
                if objs[o].sections[section].kind == SectionKind::Text =>
            {
                ((o, section), value)
            }
            SymDef::Section { section, .. } => {
                return Err(LinkError::EntryNotText {
                    symbol: opts.entry.clone(),
                    section: objs[o].sections[section].name.clone(),
                })
            }
            _ => return Err(LinkError::MissingEntry(opts.entry.clone())),
        },
        None => return Err(LinkError::MissingEntry(opts.entry.clone())),
    };

    // Section GC: everything reachable from the entry through relocations.
    let mut reached: HashSet<SecId> = HashSet::new();
    let mut queue: VecDeque<SecId> = VecDeque::new();
    reached.insert(entry_sec);
    queue.push_back(entry_sec);
    let mut undefined: BTreeMap<Vec<u8>, Vec<Place>> = BTreeMap::new();
    let mut qstr_set: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut errors = Vec::new();
    let mut refused: HashSet<SecId> = HashSet::new();
    let mut bad_qstrs: BTreeMap<Vec<u8>, Vec<Place>> = BTreeMap::new();
    while let Some((o, si)) = queue.pop_front() {
        let obj = &objs[o];
        for r in &obj.sections[si].relocs {
            if (arch.classify)(r.r_type) == RelocAction::Ignore {
                continue;
            }
            let from = || place(obj, si, r.offset);
            let t = match target_of(o, si, r) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            if obj.symbols[r.symbol].is_tls {
                errors.push(LinkError::Tls {
                    file: obj.name.clone(),
                    section: res.describe(o, r.symbol, &t),
                    from: from(),
                });
                continue;
            }
            match t {
                // Report a refused section once, at its first reference.
                Target::Section { sec, .. } if refused.contains(&sec) => {}
                Target::Section { sec, .. } => {
                    let ts = &objs[sec.0].sections[sec.1];
                    if matches!(
                        ts.kind,
                        SectionKind::Tls | SectionKind::Other | SectionKind::NotAlloc
                    ) || (ts.kind == SectionKind::Data && ts.size > 0)
                    {
                        refused.insert(sec);
                    }
                    let tfile = objs[sec.0].name.clone();
                    match ts.kind {
                        SectionKind::Text | SectionKind::Rodata | SectionKind::Bss => {}
                        SectionKind::Data if ts.size == 0 => {}
                        SectionKind::Data => {
                            errors.push(LinkError::DataSection {
                                file: tfile,
                                section: ts.name.clone(),
                                size: ts.size,
                                from: from(),
                            });
                            continue;
                        }
                        SectionKind::Tls => {
                            errors.push(LinkError::Tls {
                                file: tfile,
                                section: ts.name.clone(),
                                from: from(),
                            });
                            continue;
                        }
                        SectionKind::Other | SectionKind::NotAlloc => {
                            errors.push(LinkError::UnsupportedSection {
                                file: tfile,
                                section: ts.name.clone(),
                                from: from(),
                            });
                            continue;
                        }
                    }
                    if reached.insert(sec) {
                        queue.push_back(sec);
                    }
                }
                Target::Qstr(q) => {
                    if !is_qstr_name(&q) {
                        bad_qstrs.entry(q.clone()).or_default().push(from());
                    }
                    qstr_set.insert(q);
                }
                Target::Undefined(name) => undefined.entry(name).or_default().push(from()),
                Target::Common(name) => errors.push(LinkError::UnsupportedSymbol {
                    symbol: pretty(&name),
                    from: from(),
                    msg: "common symbols are not supported",
                }),
                Target::FunTable | Target::Abs(_) | Target::Rom(_) => {}
            }
        }
    }
    // Constructors of an object that takes part would silently never run.
    let contributing: BTreeSet<usize> = reached.iter().map(|&(o, _)| o).collect();
    for &o in &contributing {
        for s in &objs[o].sections {
            if s.kind != SectionKind::NotAlloc && s.size > 0 && is_init_array(&s.name) {
                errors.push(LinkError::InitArray {
                    file: objs[o].name.clone(),
                    section: s.name.clone(),
                });
            }
        }
    }
    for (name, refs) in bad_qstrs {
        errors.push(LinkError::BadQstrName {
            name: String::from_utf8_lossy(&name).into_owned(),
            refs,
        });
    }
    for (name, refs) in undefined {
        errors.push(LinkError::Undefined {
            symbol: String::from_utf8_lossy(&name).into_owned(),
            refs,
        });
    }
    LinkError::collect(errors)?;

    let qstrs: Vec<Vec<u8>> = qstr_set.into_iter().collect();
    let qstr_index: HashMap<&[u8], u64> = qstrs
        .iter()
        .enumerate()
        .map(|(i, q)| (q.as_slice(), i as u64 + 1))
        .collect();

    // Layout order: inputs in order, the entry's section first.
    let mut kept: Vec<SecId> = reached.iter().copied().collect();
    kept.sort();
    let kind = |s: SecId| objs[s.0].sections[s.1].kind;
    // Xtensa literal pools go before all code: `l32r` only reaches backwards.
    let is_literal = |s: SecId| objs[s.0].sections[s.1].name.starts_with(".literal");
    let mut text_secs: Vec<SecId> = kept
        .iter()
        .copied()
        .filter(|&s| kind(s) == SectionKind::Text && is_literal(s))
        .collect();
    let n_literal_secs = text_secs.len();
    let literal_plan = if opts.merge_literals && arch.name == "xtensa" {
        plan_literal_merge(objs, &res, arch, &text_secs)
    } else {
        LiteralPlan::new()
    };
    text_secs.push(entry_sec);
    text_secs.extend(
        kept.iter()
            .copied()
            .filter(|&s| s != entry_sec && kind(s) == SectionKind::Text && !is_literal(s)),
    );
    let rodata_secs: Vec<SecId> = kept
        .iter()
        .copied()
        .filter(|&s| matches!(kind(s), SectionKind::Rodata | SectionKind::Data))
        .collect();
    let bss_secs: Vec<SecId> = kept
        .iter()
        .copied()
        .filter(|&s| kind(s) == SectionKind::Bss)
        .collect();

    // GOT keys in order of first use.
    let mut got_keys: Vec<Target> = Vec::new();
    let mut got_seen: HashSet<Target> = HashSet::new();
    for &(o, si) in text_secs.iter().chain(rodata_secs.iter()) {
        for r in &objs[o].sections[si].relocs {
            if (arch.classify)(r.r_type) == RelocAction::GotPcRel32 {
                let t = res.target(o, r.symbol);
                if got_seen.insert(t.clone()) {
                    got_keys.push(t);
                }
            }
        }
    }

    let mut map = LinkMap {
        qstrs: qstrs.clone(),
        rom_table: rom.map(|t| t.name.clone()),
        ..LinkMap::default()
    };
    let mut addrs: HashMap<SecId, (Area, u64)> = HashMap::new();
    let mut text: Vec<u8> = Vec::new();
    let mut rodata: Vec<u8> = Vec::new();
    let mut bss_size: u64 = 0;

    // Anything laid out before the entry needs a jump over it at offset 0.
    let literal_bytes: u64 = text_secs[..n_literal_secs]
        .iter()
        .map(|&(o, si)| objs[o].sections[si].size)
        .sum();
    let needs_jump =
        entry_off != 0 || literal_bytes != 0 || (arch.got_first && !got_keys.is_empty());
    let jump_len = if needs_jump {
        (arch.entry_jump)(0)?.len() as u64
    } else {
        0
    };
    text.resize(jump_len as usize, 0);
    let got_size = got_keys.len() as u64 * ws;
    let place_got = |text: &mut Vec<u8>| -> u64 {
        if got_size == 0 {
            return text.len() as u64;
        }
        let at = align_to(text.len() as u64, ws);
        text.resize((at + got_size) as usize, 0);
        at
    };
    let mut got_addr = 0;
    if arch.got_first {
        got_addr = place_got(&mut text);
    }
    // bss and rodata share one GC allocation (bss first), so both start GC-block aligned
    // at best; rodata beyond word alignment is kept by padding bss (below).
    let max_bss_align = 4 * ws;
    let mut put = |sec: SecId,
                   area: Area,
                   text: &mut Vec<u8>,
                   rodata: &mut Vec<u8>,
                   bss_size: &mut u64|
     -> Result<(), LinkError> {
        let s = &objs[sec.0].sections[sec.1];
        let (max, region_name) = match area {
            Area::Text => (arch.max_text_align, "text"),
            Area::Rodata => (max_bss_align, "rodata"),
            Area::Bss => (max_bss_align, "bss"),
        };
        if s.align > max {
            return Err(LinkError::Alignment {
                file: objs[sec.0].name.clone(),
                section: s.name.clone(),
                align: s.align,
                max,
                region: region_name,
            });
        }
        let mut size = s.size;
        let addr = match area {
            Area::Text | Area::Rodata => {
                let buf = if area == Area::Text { text } else { rodata };
                let at = align_to(buf.len() as u64, s.align);
                buf.resize(at as usize, 0);
                match literal_plan.get(&sec) {
                    // Merged literal pool: only the words not seen before.
                    Some(words) => {
                        for (i, w) in words.iter().enumerate() {
                            if w.is_none() {
                                buf.extend_from_slice(&s.data[i * 4..i * 4 + 4]);
                            }
                        }
                        size = buf.len() as u64 - at;
                    }
                    None => buf.extend_from_slice(&s.data),
                }
                at
            }
            Area::Bss => {
                let at = align_to(*bss_size, s.align);
                *bss_size = at + s.size;
                at
            }
        };
        addrs.insert(sec, (area, addr));
        map.sections.push(MapSection {
            file: objs[sec.0].name.clone(),
            name: s.name.clone(),
            area,
            addr,
            size,
            align: s.align,
        });
        Ok(())
    };
    for &s in &text_secs {
        put(s, Area::Text, &mut text, &mut rodata, &mut bss_size)?;
    }
    let rodata_area = if arch.separate_rodata {
        Area::Rodata
    } else {
        Area::Text
    };
    for &s in &rodata_secs {
        put(s, rodata_area, &mut text, &mut rodata, &mut bss_size)?;
    }
    for &s in &bss_secs {
        put(s, Area::Bss, &mut text, &mut rodata, &mut bss_size)?;
    }
    // The loader puts rodata at `bss + align(bss_size, word)`; pad bss so that offset keeps
    // the rodata's strongest alignment.
    let rodata_align = rodata_secs
        .iter()
        .filter(|&&s| addrs.get(&s).is_some_and(|&(a, _)| a == Area::Rodata))
        .map(|&(o, si)| objs[o].sections[si].align)
        .max()
        .unwrap_or(1);
    if !rodata.is_empty() && bss_size > 0 {
        bss_size = align_to(bss_size, rodata_align.max(ws));
    }
    if !arch.got_first {
        got_addr = place_got(&mut text);
    }
    map.got_addr = got_addr;

    // Address of each word of a merged literal section (a duplicate: its kept copy's).
    let mut literal_addr: HashMap<SecId, Vec<u64>> = HashMap::new();
    for &sec in &text_secs[..n_literal_secs] {
        let Some(words) = literal_plan.get(&sec) else {
            continue;
        };
        let mut next = addrs[&sec].1;
        let mut v = Vec::with_capacity(words.len());
        for w in words {
            v.push(match *w {
                None => {
                    next += 4;
                    next - 4
                }
                Some((first, off)) if first == sec => v[(off / 4) as usize],
                Some((first, off)) => literal_addr[&first][(off / 4) as usize],
            });
        }
        literal_addr.insert(sec, v);
    }
    // Where byte `off` of section `sec` landed.
    let sec_addr = |sec: SecId, off: u64| -> (Area, u64) {
        let (area, base) = addrs[&sec];
        match literal_addr.get(&sec) {
            Some(words) if off < 4 * words.len() as u64 => {
                (area, words[(off / 4) as usize] + off % 4)
            }
            _ => (area, base + off),
        }
    };

    let entry_addr = addrs[&entry_sec].1 + entry_off;
    map.entry_addr = entry_addr;
    if needs_jump {
        let jump = (arch.entry_jump)(entry_addr)?;
        debug_assert_eq!(jump.len() as u64, jump_len);
        text[..jump.len()].copy_from_slice(&jump);
        map.entry_jump = Some(entry_addr);
    } else {
        debug_assert_eq!(entry_addr, 0);
    }

    for (o, obj) in objs.iter().enumerate() {
        for (si, s) in obj.sections.iter().enumerate() {
            if matches!(
                s.kind,
                SectionKind::Text | SectionKind::Rodata | SectionKind::Bss
            ) && !addrs.contains_key(&(o, si))
            {
                map.dropped.push(DroppedSection {
                    file: obj.name.clone(),
                    name: s.name.clone(),
                    size: s.size,
                });
            }
        }
        for sym in &obj.symbols {
            if sym.is_section || sym.name.is_empty() {
                continue;
            }
            if let SymDef::Section { section, value } = sym.def {
                if addrs.contains_key(&(o, section)) {
                    let (area, a) = sec_addr((o, section), value);
                    map.symbols.push((pretty(&sym.name), area, a));
                }
            }
        }
    }
    map.symbols
        .sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));

    let loc = |t: &Target| -> Loc {
        match t {
            Target::Section { sec, off } => {
                let (area, a) = sec_addr(*sec, *off);
                Loc::In(area, a)
            }
            Target::Qstr(q) => Loc::Qstr(qstr_index[q.as_slice()]),
            Target::FunTable => Loc::FunTable,
            Target::Abs(v) => Loc::Abs(*v),
            Target::Rom(name) => Loc::Abs(u64::from(
                res.rom_addr(name).expect("a ROM target has a ROM address"),
            )),
            // Rejected during GC.
            Target::Undefined(_) | Target::Common(_) => {
                unreachable!("unresolved target survived GC")
            }
        }
    };
    // `loc` of a target plus addend, folding the addend in when it lands in a merged literal
    // pool (GNU as refers to literals as section + offset).
    let loc_add = |t: &Target, addend: i64| -> (Loc, i64) {
        if let Target::Section { sec, off } = t {
            if let Ok(o) = u64::try_from(*off as i64 + addend) {
                if literal_addr.contains_key(sec) {
                    let (area, a) = sec_addr(*sec, o);
                    return (Loc::In(area, a), 0);
                }
            }
        }
        (loc(t), addend)
    };
    // Link-time word and runtime dest for a location plus addend.
    let word_for = |l: Loc, addend: i64| -> (i64, Option<Dest>) {
        match l {
            Loc::In(area, a) => (a as i64 + addend, Some(area.dest())),
            Loc::Qstr(i) => (2 * i as i64 + addend, Some(Dest::QstrTable)),
            Loc::FunTable => (addend, Some(Dest::FunTable)),
            Loc::Abs(v) => (v as i64 + addend, None),
        }
    };

    // GOT slots grouped by what the loader adds, so runs of words share one op.
    got_keys.sort_by_key(|t| word_for(loc(t), 0).1);
    let got_index: HashMap<&Target, u64> = got_keys
        .iter()
        .enumerate()
        .map(|(i, t)| (t, i as u64))
        .collect();

    let mut relocs: Vec<Reloc> = Vec::new();
    let mut errors = Vec::new();
    // ROM name -> (words, calls) among the kept references.
    let mut rom_words: BTreeMap<Vec<u8>, (usize, usize)> = BTreeMap::new();
    let veneer_of: HashMap<SecId, &[u8]> =
        veneers.iter().map(|(n, &s)| (s, n.as_slice())).collect();

    for &sec in text_secs.iter().chain(rodata_secs.iter()) {
        let (o, si) = sec;
        let obj = &objs[o];
        let s = &obj.sections[si];
        let (area, base) = addrs[&sec];
        let words = literal_plan.get(&sec);
        for r in &s.relocs {
            let action = (arch.classify)(r.r_type);
            // A merged-away literal word: its kept copy carries the relocation.
            if words.is_some_and(|w| w.get((r.offset / 4) as usize).is_some_and(|w| w.is_some())) {
                continue;
            }
            let here = || place(obj, si, r.offset);
            let t = match target_of(o, si, r) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            // Count what reaches ROM (the veneers' own literal words aside).
            let in_veneer_object = !veneers.is_empty() && o == objs.len() - 1;
            match &t {
                Target::Rom(n) if !in_veneer_object => {
                    rom_words.entry(n.clone()).or_insert((0, 0)).0 += 1;
                }
                Target::Section { sec, .. } => {
                    if let Some(n) = veneer_of.get(sec) {
                        rom_words.entry(n.to_vec()).or_insert((0, 0)).1 += 1;
                    }
                }
                _ => {}
            }
            let name = || res.describe(o, r.symbol, &t);
            let width = match action {
                RelocAction::Ignore => continue,
                RelocAction::Unsupported => {
                    errors.push(LinkError::UnsupportedRelocation {
                        r_type: (arch.reloc_name)(r.r_type),
                        symbol: name(),
                        place: here(),
                    });
                    continue;
                }
                RelocAction::PcRel { width } => u64::from(width),
                // The shortest instruction; the patcher checks its own length.
                RelocAction::Insn => 2,
                RelocAction::GotPcRel32 => 4,
                RelocAction::AbsWord => ws,
            };
            if r.offset.checked_add(width).is_none_or(|end| end > s.size) {
                errors.push(LinkError::Corrupt {
                    file: obj.name.clone(),
                    what: "ELF object",
                    msg: format!(
                        "relocation at {:#x} runs past the end of `{}` ({} bytes)",
                        r.offset, s.name, s.size
                    ),
                });
                continue;
            }
            let p = sec_addr(sec, r.offset).1;
            let (buf, region) = match area {
                Area::Text => (&mut text, Region::Text),
                Area::Rodata => (&mut rodata, Region::Rodata),
                Area::Bss => unreachable!("bss sections carry no data"),
            };
            // A PC-relative target must sit in the same region as the place.
            let same_area_target = || -> Result<i64, LinkError> {
                match loc_add(&t, r.addend) {
                    (Loc::In(ta, a), addend) if ta == area => Ok(a as i64 + addend),
                    (Loc::In(Area::Bss, _), _) => Err(LinkError::PcRelToBss {
                        symbol: name(),
                        place: here(),
                        arch: arch.name,
                    }),
                    (Loc::In(ta, _), _) => Err(LinkError::PcRelOutsideText {
                        symbol: name(),
                        what: if ta == Area::Rodata {
                            "in the separate rodata region"
                        } else {
                            "in the text region"
                        },
                        place: here(),
                    }),
                    (Loc::Qstr(_) | Loc::FunTable, _) => Err(LinkError::PcRelOutsideText {
                        symbol: name(),
                        what: "provided by the runtime",
                        place: here(),
                    }),
                    (Loc::Abs(_), _) => Err(LinkError::UnsupportedSymbol {
                        symbol: name(),
                        from: here(),
                        msg: "absolute symbol referenced PC-relative",
                    }),
                }
            };
            let value: i64 = match action {
                RelocAction::PcRel { .. } => match same_area_target() {
                    Ok(target) => target - p as i64,
                    Err(e) => {
                        errors.push(e);
                        continue;
                    }
                },
                RelocAction::Insn => {
                    let target = match same_area_target() {
                        Ok(target) => target,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    let end = (base + s.size) as usize;
                    if let Err(msg) = (arch.patch_insn)(&mut buf[p as usize..end], p, target as u64)
                    {
                        errors.push(LinkError::Insn {
                            symbol: name(),
                            place: here(),
                            msg,
                        });
                    }
                    continue;
                }
                RelocAction::GotPcRel32 => {
                    if area != Area::Text {
                        errors.push(LinkError::PcRelOutsideText {
                            symbol: "GOT".into(),
                            what: "in the text region",
                            place: here(),
                        });
                        continue;
                    }
                    let g = got_addr + got_index[&t] * ws;
                    g as i64 + r.addend - p as i64
                }
                RelocAction::AbsWord => {
                    if p % ws != 0 {
                        errors.push(LinkError::UnalignedAbsolute {
                            symbol: name(),
                            place: here(),
                            word_size: arch.word_size,
                        });
                        continue;
                    }
                    let mut addend = r.addend;
                    if arch.abs_inplace {
                        let at = p as usize;
                        let mut w = [0u8; 8];
                        w[..ws as usize].copy_from_slice(&buf[at..at + ws as usize]);
                        let existing = u64::from_le_bytes(w);
                        // Sign-extend a 32-bit word so negative offsets stay negative.
                        addend += if ws == 4 {
                            i64::from(existing as u32 as i32)
                        } else {
                            existing as i64
                        };
                    }
                    let (l, addend) = loc_add(&t, addend);
                    let (v, dest) = word_for(l, addend);
                    if let Some(dest) = dest {
                        relocs.push(Reloc {
                            region,
                            word: p / ws,
                            dest,
                        });
                    }
                    v
                }
                RelocAction::Ignore | RelocAction::Unsupported => unreachable!(),
            };
            let fits = match width {
                4 => {
                    i32::try_from(value).is_ok()
                        || (action == RelocAction::AbsWord && u32::try_from(value).is_ok())
                }
                _ => true,
            };
            if !fits {
                errors.push(LinkError::Overflow {
                    symbol: name(),
                    place: here(),
                    value,
                });
                continue;
            }
            let bytes = value.to_le_bytes();
            buf[p as usize..(p + width) as usize].copy_from_slice(&bytes[..width as usize]);
        }
    }
    LinkError::collect(errors)?;

    if let Some(table) = rom {
        for (name, (words, calls)) in &rom_words {
            map.rom.push(RomUse {
                name: pretty(name),
                addr: res.rom_addr(name).expect("ROM target"),
                veneer: veneers
                    .get(name)
                    .and_then(|s| addrs.get(s))
                    .map(|&(_, a)| a),
                words: *words,
                calls: *calls,
            });
        }
        for (name, _) in &table.entries {
            if let Some(&(o, i)) = res.globals.get(name.as_bytes()) {
                let sym = &objs[o].symbols[i];
                if sym.binding != Binding::Weak {
                    if let SymDef::Section { section, .. } = sym.def {
                        if addrs.contains_key(&(o, section)) {
                            map.rom_overridden
                                .push((name.clone(), objs[o].name.clone()));
                        }
                    }
                }
            }
        }
    }

    for (i, t) in got_keys.iter().enumerate() {
        let addr = got_addr + i as u64 * ws;
        let (v, dest) = word_for(loc(t), 0);
        text[addr as usize..(addr + ws) as usize].copy_from_slice(&v.to_le_bytes()[..ws as usize]);
        if let Some(dest) = dest {
            relocs.push(Reloc {
                region: Region::Text,
                word: addr / ws,
                dest,
            });
        }
        let target = match t {
            Target::Section { sec, off } => {
                let named = objs[sec.0].symbols.iter().find(|s| {
                    !s.is_section
                        && !s.name.is_empty()
                        && s.def
                            == (SymDef::Section {
                                section: sec.1,
                                value: *off,
                            })
                });
                match named {
                    Some(s) => pretty(&s.name),
                    None => format!("{}+{:#x}", objs[sec.0].sections[sec.1].name, off),
                }
            }
            Target::Qstr(q) => format!("{QSTR_PREFIX}{}", String::from_utf8_lossy(q)),
            Target::FunTable => FUN_TABLE_SYMBOL.to_string(),
            Target::Abs(v) => format!("absolute {v:#x}"),
            Target::Rom(n) => format!("{} (ROM)", pretty(n)),
            Target::Undefined(_) | Target::Common(_) => unreachable!(),
        };
        map.got.push(GotEntry {
            addr,
            target,
            value: v as u64,
            dest,
        });
    }
    relocs.sort();

    let mut qstr_entries = vec![QstrEntry::Bytes(opts.source_name.as_bytes().to_vec())];
    qstr_entries.extend(qstrs.into_iter().map(QstrEntry::Bytes));
    let image = MpyImage {
        arch: arch.mpy_arch,
        arch_flags: 0,
        small_int_bits: arch.small_int_bits,
        qstrs: qstr_entries,
        text,
        rodata,
        bss_size,
        relocs,
        word_size: arch.word_size,
    };
    Ok(Linked { image, map })
}
