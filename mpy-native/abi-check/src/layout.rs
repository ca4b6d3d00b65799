//! Header-side layouts and the comparisons against DWARF layouts. Every function here returns
//! the full list of mismatches (empty = match), so one run reports everything that moved.

use crate::dwarf::StructLayout;

/// One field of one of our structs, as the compiled Rust bindings lay it out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub size: usize,
}

/// A struct of ours: fields sorted by offset, i.e. in declaration order.
#[derive(Clone, Debug)]
pub struct HeaderLayout {
    pub name: &'static str,
    pub size: usize,
    pub fields: Vec<Field>,
}

impl HeaderLayout {
    pub fn new(name: &'static str, size: usize, mut fields: Vec<Field>) -> Self {
        fields.sort_by_key(|f| f.offset);
        HeaderLayout { name, size, fields }
    }

    /// The same layout restricted to the named fields (kept in offset order).
    pub fn only(&self, names: &[&str]) -> HeaderLayout {
        HeaderLayout {
            name: self.name,
            size: self.size,
            fields: self
                .fields
                .iter()
                .filter(|f| names.contains(&f.name))
                .cloned()
                .collect(),
        }
    }

    /// Renames a field (bindgen escapes Rust keywords: the runtime's `type` is our `type_`).
    pub fn renamed(mut self, from: &str, to: &'static str) -> HeaderLayout {
        for f in &mut self.fields {
            if f.name == from {
                f.name = to;
            }
        }
        self
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Table check: the runtime struct has `expected_slots` members, each one word wide, and member i
/// has the name and offset of our field i (and our field i is one word). Messages name the slot.
pub fn compare_fun_table(
    header: &HeaderLayout,
    runtime: &StructLayout,
    expected_slots: usize,
    word: usize,
) -> Vec<String> {
    let mut errs = Vec::new();
    if runtime.members.len() != expected_slots {
        errs.push(format!(
            "runtime struct {} has {} members, expected {expected_slots}",
            runtime.name,
            runtime.members.len()
        ));
    }
    if header.fields.len() != expected_slots {
        errs.push(format!(
            "header struct {} has {} fields, expected {expected_slots}",
            header.name,
            header.fields.len()
        ));
    }
    if runtime.byte_size != Some((expected_slots * word) as u64) {
        errs.push(format!(
            "runtime struct {} is {:?} bytes, expected {} ({expected_slots} words)",
            runtime.name,
            runtime.byte_size,
            expected_slots * word
        ));
    }
    if header.size != expected_slots * word {
        errs.push(format!(
            "header struct {} is {} bytes, expected {}",
            header.name,
            header.size,
            expected_slots * word
        ));
    }
    let n = header.fields.len().max(runtime.members.len());
    for i in 0..n {
        match (header.fields.get(i), runtime.members.get(i)) {
            (Some(h), Some(r)) => {
                if h.name != r.name || h.offset as u64 != r.offset {
                    errs.push(format!(
                        "slot {i}: header says {} at {}, runtime says {} at {}",
                        h.name, h.offset, r.name, r.offset
                    ));
                }
                if r.offset != (i * word) as u64 {
                    errs.push(format!(
                        "slot {i}: runtime member {} is at {}, not at word {i} ({})",
                        r.name,
                        r.offset,
                        i * word
                    ));
                }
                if r.size != Some(word as u64) {
                    errs.push(format!(
                        "slot {i}: runtime member {} is {:?} bytes, not one word ({word})",
                        r.name, r.size
                    ));
                }
                if h.size != word {
                    errs.push(format!(
                        "slot {i}: header field {} is {} bytes, not one word ({word})",
                        h.name, h.size
                    ));
                }
            }
            (Some(h), None) => errs.push(format!(
                "slot {i}: header says {} at {}, runtime has no member {i}",
                h.name, h.offset
            )),
            (None, Some(r)) => errs.push(format!(
                "slot {i}: header has no field {i}, runtime says {} at {}",
                r.name, r.offset
            )),
            (None, None) => unreachable!(),
        }
    }
    errs
}

/// Prefix check: our fields are the runtime's first members, in order, with the same names,
/// offsets and sizes (sizes skipped for names in `size_exempt`). With `exact` the member
/// counts and struct sizes must be equal too.
pub fn compare_prefix(
    header: &HeaderLayout,
    runtime: &StructLayout,
    exact: bool,
    size_exempt: &[&str],
) -> Vec<String> {
    let label = format!("{} vs runtime {}", header.name, runtime.name);
    let mut errs = Vec::new();
    for (i, h) in header.fields.iter().enumerate() {
        let Some(r) = runtime.members.get(i) else {
            errs.push(format!(
                "{label}: member {i}: header has {} at {}, runtime has none",
                h.name, h.offset
            ));
            continue;
        };
        if h.name != r.name || h.offset as u64 != r.offset {
            errs.push(format!(
                "{label}: member {i}: header says {} at {}, runtime says {} at {}",
                h.name, h.offset, r.name, r.offset
            ));
        } else if !size_exempt.contains(&h.name) && r.size != Some(h.size as u64) {
            errs.push(format!(
                "{label}: member {i} ({}): header size {}, runtime size {:?}",
                h.name, h.size, r.size
            ));
        }
    }
    if exact {
        if runtime.members.len() != header.fields.len() {
            let names: Vec<_> = runtime.members.iter().map(|m| m.name.as_str()).collect();
            errs.push(format!(
                "{label}: header has {} members, runtime has {} ({names:?})",
                header.fields.len(),
                runtime.members.len()
            ));
        }
        if runtime.byte_size != Some(header.size as u64) {
            errs.push(format!(
                "{label}: header size {}, runtime size {:?}",
                header.size, runtime.byte_size
            ));
        }
    }
    errs
}

/// Panics with every message, one per line, if there are any.
pub fn assert_none(what: &str, errs: &[String]) {
    if !errs.is_empty() {
        panic!(
            "{what}: {} mismatch(es):\n  {}",
            errs.len(),
            errs.join("\n  ")
        );
    }
}
