//! Struct layouts read from the runtime's DWARF (gimli over the sections `object` finds).

use std::collections::BTreeMap;

use gimli::{AttributeValue, EndianSlice, RunTimeEndian, Section, UnitOffset};
use object::{Object, ObjectSection};

type R<'a> = EndianSlice<'a, RunTimeEndian>;
/// (element size, element count; `None` count = flexible array member).
pub type ArrayShape = (Option<u64>, Option<u64>);

/// One data member of a DWARF struct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    /// Byte offset (for a bit-field: of the byte holding its first bit).
    pub offset: u64,
    /// Byte size of the member's type; `Some(0)` for a flexible array, `None` if unknown.
    pub size: Option<u64>,
    /// For arrays: their shape.
    pub array: Option<ArrayShape>,
    /// For bit-fields: width in bits.
    pub bit_size: Option<u64>,
    /// For bit-fields: position of the lowest bit, counted from bit 0 of the byte at `offset`.
    pub bit_pos: Option<u64>,
    /// Name of the member's declared type (typedef or tag), if it has one.
    pub type_name: Option<String>,
}

/// A struct as the runtime was compiled: name, size and members in declaration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    pub name: String,
    pub byte_size: Option<u64>,
    pub members: Vec<Member>,
}

impl StructLayout {
    pub fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }
}

/// Reads the definitions (not declarations) of the named structs (DWARF struct tags such as
/// `_mp_fun_table_t`) from every compile unit. A struct defined differently in two units is an
/// error: the runtime would not have one layout. Structs not found are simply absent.
pub fn read_struct_layouts(
    file: &object::File<'_>,
    wanted: &[&str],
) -> Result<BTreeMap<String, StructLayout>, String> {
    let endian = if file.is_little_endian() {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let load = |id: gimli::SectionId| -> Result<R<'_>, gimli::Error> {
        let data = file
            .section_by_name(id.name())
            .and_then(|s| s.uncompressed_data().ok())
            .map(|d| match d {
                std::borrow::Cow::Borrowed(b) => b,
                // Compressed debug sections: decompressed once per test process, kept for its life.
                std::borrow::Cow::Owned(v) => &*Box::leak(v.into_boxed_slice()),
            })
            .unwrap_or(&[]);
        Ok(EndianSlice::new(data, endian))
    };
    let dwarf = gimli::Dwarf::load(load).map_err(|e| format!("loading DWARF: {e}"))?;
    if dwarf.debug_info.reader().is_empty() {
        return Err("the runtime has no .debug_info (stripped build?)".into());
    }

    let mut found: BTreeMap<String, StructLayout> = BTreeMap::new();
    let mut errors = Vec::new();
    let mut units = dwarf.units();
    while let Some(header) = units
        .next()
        .map_err(|e| format!("DWARF unit header: {e}"))?
    {
        let unit = dwarf.unit(header).map_err(|e| format!("DWARF unit: {e}"))?;
        let mut hits = Vec::new();
        let mut cursor = unit.entries();
        while let Some((_, entry)) = cursor.next_dfs().map_err(|e| format!("DWARF entry: {e}"))? {
            if entry.tag() != gimli::DW_TAG_structure_type {
                continue;
            }
            if matches!(entry.attr_value(gimli::DW_AT_declaration), Ok(Some(_))) {
                continue;
            }
            let Some(name) = entry_name(&dwarf, &unit, entry) else {
                continue;
            };
            if wanted.contains(&name.as_str()) {
                hits.push((name, entry.offset()));
            }
        }
        for (name, offset) in hits {
            let layout = read_struct(&dwarf, &unit, offset, &name)?;
            match found.get(&name) {
                Some(prev) if *prev != layout => errors.push(format!(
                    "struct {name} is defined differently in two compile units:\n    {prev:?}\n    {layout:?}"
                )),
                Some(_) => {}
                None => {
                    found.insert(name, layout);
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(errors.join("\n"))
    }
}

fn entry_name(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>,
) -> Option<String> {
    let value = entry.attr_value(gimli::DW_AT_name).ok()??;
    let s = dwarf.attr_string(unit, value).ok()?;
    Some(s.to_string_lossy().into_owned())
}

fn read_struct(
    dwarf: &gimli::Dwarf<R<'_>>,
    unit: &gimli::Unit<R<'_>>,
    offset: UnitOffset,
    name: &str,
) -> Result<StructLayout, String> {
    let err = |e: gimli::Error| format!("DWARF struct {name}: {e}");
    let mut tree = unit.entries_tree(Some(offset)).map_err(err)?;
    let root = tree.root().map_err(err)?;
    let byte_size = root
        .entry()
        .attr_value(gimli::DW_AT_byte_size)
        .map_err(err)?
        .and_then(|v| v.udata_value());
    let mut members = Vec::new();
    let mut children = root.children();
    while let Some(child) = children.next().map_err(err)? {
        let e = child.entry();
        if e.tag() != gimli::DW_TAG_member {
            continue;
        }
        let mname = entry_name(dwarf, unit, e).unwrap_or_default();
        let udata = |at| -> Result<Option<u64>, String> {
            Ok(e.attr_value(at).map_err(err)?.and_then(|v| v.udata_value()))
        };
        let bit_size = udata(gimli::DW_AT_bit_size)?;
        let data_bit_offset = udata(gimli::DW_AT_data_bit_offset)?;
        let offset = match e
            .attr_value(gimli::DW_AT_data_member_location)
            .map_err(err)?
        {
            Some(v) => v.udata_value().ok_or_else(|| {
                format!("DWARF struct {name}.{mname}: non-constant member location")
            })?,
            // DWARF 4+ bit-fields may carry only a bit offset.
            None => data_bit_offset.map_or(0, |b| b / 8),
        };
        let ty = type_of(e);
        let (size, array) = match ty {
            Some(t) => type_size(unit, t, 0),
            None => (None, None),
        };
        let type_name = ty
            .and_then(|t| unit.entry(t).ok())
            .and_then(|t| entry_name(dwarf, unit, &t));
        let bit_pos = match (bit_size, data_bit_offset, udata(gimli::DW_AT_bit_offset)?) {
            (None, _, _) => None,
            (Some(_), Some(dbo), _) => Some(dbo - offset * 8),
            // DWARF 2/3 style: counted from the most significant bit of the storage unit
            // (little-endian hosts only; this check runs on x64).
            (Some(bs), None, Some(bo)) => size.map(|sz| sz * 8 - bo - bs),
            (Some(_), None, None) => Some(0),
        };
        members.push(Member {
            name: mname,
            offset,
            size,
            array,
            bit_size,
            bit_pos,
            type_name,
        });
    }
    Ok(StructLayout {
        name: name.to_string(),
        byte_size,
        members,
    })
}

fn type_of(entry: &gimli::DebuggingInformationEntry<'_, '_, R<'_>>) -> Option<UnitOffset> {
    match entry.attr_value(gimli::DW_AT_type).ok()?? {
        AttributeValue::UnitRef(o) => Some(o),
        _ => None, // cross-unit references are not used by GCC for these structs
    }
}

/// (byte size, array shape) of the type at `offset`, following typedef/const/volatile.
fn type_size(
    unit: &gimli::Unit<R<'_>>,
    offset: UnitOffset,
    depth: u32,
) -> (Option<u64>, Option<ArrayShape>) {
    if depth > 32 {
        return (None, None);
    }
    let Ok(entry) = unit.entry(offset) else {
        return (None, None);
    };
    let byte_size = entry
        .attr_value(gimli::DW_AT_byte_size)
        .ok()
        .flatten()
        .and_then(|v| v.udata_value());
    let inner = || match entry.attr_value(gimli::DW_AT_type).ok().flatten() {
        Some(AttributeValue::UnitRef(o)) => Some(o),
        _ => None,
    };
    match entry.tag() {
        gimli::DW_TAG_typedef
        | gimli::DW_TAG_const_type
        | gimli::DW_TAG_volatile_type
        | gimli::DW_TAG_restrict_type => match inner() {
            Some(o) => type_size(unit, o, depth + 1),
            None => (None, None),
        },
        gimli::DW_TAG_pointer_type | gimli::DW_TAG_reference_type => (
            Some(byte_size.unwrap_or(u64::from(unit.encoding().address_size))),
            None,
        ),
        gimli::DW_TAG_array_type => {
            let elem = inner().and_then(|o| type_size(unit, o, depth + 1).0);
            let mut count: Option<u64> = Some(1);
            let mut any = false;
            if let Ok(mut tree) = unit.entries_tree(Some(offset)) {
                if let Ok(root) = tree.root() {
                    let mut ch = root.children();
                    while let Ok(Some(c)) = ch.next() {
                        let e = c.entry();
                        if e.tag() != gimli::DW_TAG_subrange_type {
                            continue;
                        }
                        any = true;
                        let n = e
                            .attr_value(gimli::DW_AT_count)
                            .ok()
                            .flatten()
                            .and_then(|v| v.udata_value())
                            .or_else(|| {
                                e.attr_value(gimli::DW_AT_upper_bound)
                                    .ok()
                                    .flatten()
                                    .and_then(|v| v.udata_value())
                                    .map(|u| u + 1)
                            });
                        count = match (count, n) {
                            (Some(a), Some(b)) => Some(a * b),
                            _ => None,
                        };
                    }
                }
            }
            if !any {
                count = None;
            }
            let size = match (elem, count) {
                (Some(e), Some(c)) => Some(e * c),
                (_, None) => Some(0), // flexible array member
                _ => None,
            };
            (size, Some((elem, count)))
        }
        _ => (byte_size, None),
    }
}
