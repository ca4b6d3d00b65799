//! Object layouts our header gives vs the runtime's DWARF, plus live type objects read through
//! our header's offsets.

use core::mem::{offset_of, size_of};

use abi_check::layout::{assert_none, compare_prefix};
use abi_check::runtime::Runtime;
use abi_check::{header_layout, WORD};
use micropython_sys::*;

const TYPE_SLOT_FIELDS: [&str; 12] = [
    "make_new",
    "print",
    "call",
    "unary_op",
    "binary_op",
    "attr",
    "subscr",
    "iter",
    "buffer",
    "protocol",
    "parent",
    "locals_dict",
];

fn type_header() -> abi_check::HeaderLayout {
    header_layout!(mp_abi_type_t {
        base,
        flags,
        name,
        slot_index_make_new,
        slot_index_print,
        slot_index_call,
        slot_index_unary_op,
        slot_index_binary_op,
        slot_index_attr,
        slot_index_subscr,
        slot_index_iter,
        slot_index_buffer,
        slot_index_protocol,
        slot_index_parent,
        slot_index_locals_dict,
        slots,
    })
}

/// Offset of `slot_index_<f>` in our type object.
fn slot_index_offset(f: &str) -> usize {
    let name = format!("slot_index_{f}");
    type_header()
        .fields
        .iter()
        .find(|x| x.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .offset
}

#[test]
fn type_object_layout_matches() {
    let rt = Runtime::get();
    let runtime = rt.layout("_mp_obj_type_t");
    let header = type_header();
    let mut errs = compare_prefix(&header, runtime, false, &["slots"]);
    if runtime.members.len() != header.fields.len() {
        errs.push(format!(
            "runtime _mp_obj_type_t has {} members, header {}",
            runtime.members.len(),
            header.fields.len()
        ));
    }
    let slot_indices = runtime
        .members
        .iter()
        .filter(|m| m.name.starts_with("slot_index_"))
        .count();
    if slot_indices != TYPE_SLOT_FIELDS.len() {
        errs.push(format!(
            "runtime has {slot_indices} slot_index_* members, expected {}",
            TYPE_SLOT_FIELDS.len()
        ));
    }
    match runtime.member("slots") {
        // The runtime's slots are a flexible array of words; ours has a fixed capacity.
        Some(m) if m.array == Some((Some(WORD as u64), None)) => {
            let ours = header.field("slots").unwrap();
            if ours.size != MP_ABI_TYPE_NUM_SLOTS as usize * WORD {
                errs.push(format!(
                    "header slots is {} bytes, not {MP_ABI_TYPE_NUM_SLOTS} words",
                    ours.size
                ));
            }
            // mp_obj_full_type_t (not in this DWARF): the fixed part then 11 word slots.
            let full = m.offset as usize + MP_ABI_TYPE_NUM_SLOTS as usize * WORD;
            if header.size != full {
                errs.push(format!("header type size {}, runtime fixed part + {MP_ABI_TYPE_NUM_SLOTS} slots = {full}", header.size));
            }
        }
        other => errs.push(format!(
            "runtime slots member is not a flexible array of words: {other:?}"
        )),
    }
    assert_none(&format!("mp_abi_type_t vs {}", rt.describe()), &errs);
    // natmod-abi.md: 112 bytes on x64, slot indices right after base + flags + name.
    assert_eq!(size_of::<mp_abi_type_t>(), 112);
    assert_eq!(offset_of!(mp_abi_type_t, slot_index_make_new), WORD + 4);
}

/// Reads a real type object through our header's offsets: slot_index_f = n + 1 means
/// slots[n] holds f. Each expected slot must point at the named runtime symbol.
fn check_type_object(rt: &Runtime, ty: &str, expect: &[(&str, &str)]) -> Vec<String> {
    let bytes = rt.object_bytes(ty);
    let slots_off = offset_of!(mp_abi_type_t, slots);
    let n_slots = (bytes.len() - slots_off) / WORD;
    let mut errs = Vec::new();
    let base = usize::from_ne_bytes(bytes[..WORD].try_into().unwrap());
    if base != rt.addr_of("mp_type_type") {
        errs.push(format!("{ty}: base is not &mp_type_type"));
    }
    for f in TYPE_SLOT_FIELDS {
        let idx = bytes[slot_index_offset(f)] as usize;
        let want = expect.iter().find(|(g, _)| *g == f).map(|(_, s)| *s);
        match (idx, want) {
            (0, None) => {}
            (0, Some(sym)) => errs.push(format!(
                "{ty}: slot_index_{f} is 0, expected a slot holding {sym}"
            )),
            (i, _) if i > n_slots => errs.push(format!(
                "{ty}: slot_index_{f} = {i} but the object has {n_slots} slots"
            )),
            (i, want) => {
                let at = slots_off + (i - 1) * WORD;
                let got = usize::from_ne_bytes(bytes[at..at + WORD].try_into().unwrap());
                let got_names = got
                    .checked_sub(rt.bias)
                    .map(|v| rt.by_value.get(&(v as u64)).cloned().unwrap_or_default());
                match want {
                    Some(sym) if got != rt.addr_of(sym) => {
                        errs.push(format!("{ty}: slots[{}] (slot_index_{f}) holds {got:#x} {got_names:?}, expected {sym}", i - 1))
                    }
                    Some(_) => {}
                    None => errs.push(format!("{ty}: unexpected slot_index_{f} = {i} -> {got_names:?}")),
                }
            }
        }
    }
    errs
}

#[test]
fn live_type_objects_read_through_header_offsets() {
    let rt = Runtime::get();
    let mut errs = check_type_object(
        rt,
        "mp_type_str",
        &[
            ("make_new", "mp_obj_str_make_new"),
            ("print", "uni_print"),
            ("unary_op", "uni_unary_op"),
            ("binary_op", "mp_obj_str_binary_op"),
            ("subscr", "str_subscr"),
            ("iter", "mp_obj_new_str_iterator"),
            ("buffer", "mp_obj_str_get_buffer"),
            ("locals_dict", "mp_obj_str_locals_dict"),
        ],
    );
    errs.extend(check_type_object(
        rt,
        "mp_type_fun_builtin_var",
        &[("call", "fun_builtin_var_call")],
    ));
    assert_none("type objects", &errs);
}

/// Every builtin type of the runtime fits our fixed 11-slot type object.
#[test]
fn every_runtime_type_fits_our_slot_capacity() {
    let rt = Runtime::get();
    let type_type = rt.addr_of("mp_type_type");
    let slots_off = offset_of!(mp_abi_type_t, slots);
    let mut checked = 0;
    let mut errs = Vec::new();
    for (name, vals) in &rt.symtab {
        let size = rt.sizes.get(name).copied().unwrap_or(0) as usize;
        if !name.starts_with("mp_type_") || vals.len() != 1 || size < slots_off {
            continue;
        }
        let bytes = rt.object_bytes(name);
        if usize::from_ne_bytes(bytes[..WORD].try_into().unwrap()) != type_type {
            continue; // not a type object
        }
        checked += 1;
        let max_idx = TYPE_SLOT_FIELDS
            .iter()
            .map(|f| bytes[slot_index_offset(f)] as usize)
            .max()
            .unwrap();
        if max_idx > MP_ABI_TYPE_NUM_SLOTS as usize {
            errs.push(format!(
                "{name} uses slot index {max_idx} > {MP_ABI_TYPE_NUM_SLOTS}"
            ));
        }
        if !(size - slots_off).is_multiple_of(WORD) {
            errs.push(format!(
                "{name}: size {size} is not the fixed part plus whole slots"
            ));
        }
    }
    assert_none("runtime type objects vs our capacity", &errs);
    assert!(checked > 50, "only {checked} runtime type objects found");
}

#[test]
fn builtin_function_objects_match() {
    let rt = Runtime::get();
    let var = header_layout!(mp_abi_fun_builtin_var_t { base, sig, fun });
    let fixed = header_layout!(mp_abi_fun_builtin_fixed_t { base, fun });
    let base = header_layout!(mp_abi_obj_base_t { type_ }).renamed("type_", "type");
    let mut errs = compare_prefix(&var, rt.layout("_mp_obj_fun_builtin_var_t"), true, &[]);
    errs.extend(compare_prefix(
        &fixed,
        rt.layout("_mp_obj_fun_builtin_fixed_t"),
        true,
        &[],
    ));
    errs.extend(compare_prefix(
        &base,
        rt.layout("_mp_obj_base_t"),
        true,
        &[],
    ));
    assert_none("builtin function objects", &errs);
}

#[test]
fn nlr_buf_is_large_enough() {
    let rt = Runtime::get();
    let runtime = rt.layout("_nlr_buf_t");
    let ours = header_layout!(mp_abi_nlr_buf_t {
        prev,
        ret_val,
        regs,
        pystack
    });
    // prev and ret_val are read by our glue; the rest is the runtime's to fill.
    let mut errs = compare_prefix(&ours.only(&["prev", "ret_val"]), runtime, false, &[]);
    let theirs = runtime.byte_size.unwrap_or(u64::MAX);
    if (size_of::<mp_abi_nlr_buf_t>() as u64) < theirs {
        errs.push(format!(
            "our nlr buffer is {} bytes, the runtime writes {theirs}",
            size_of::<mp_abi_nlr_buf_t>()
        ));
    }
    assert_none("nlr_buf_t", &errs);
}

#[test]
fn stream_protocol_matches() {
    let rt = Runtime::get();
    let runtime = rt.layout("_mp_stream_p_t");
    let ours = header_layout!(mp_abi_stream_p_t {
        read,
        write,
        ioctl,
        is_text
    });
    let mut errs = compare_prefix(&ours, runtime, true, &[]);
    // is_text is a 1-bit field in a word there; our whole word is compatible only if it is bit 0.
    let m = runtime.member("is_text").expect("is_text");
    if m.bit_size.is_some() && m.bit_pos != Some(0) {
        errs.push(format!(
            "runtime is_text is a bit-field at bit {:?}, not bit 0",
            m.bit_pos
        ));
    }
    assert_none("mp_stream_p_t", &errs);
}

#[test]
fn module_and_function_prefixes_match() {
    let rt = Runtime::get();
    let module = header_layout!(mp_abi_module_t { base, globals });
    let fun_bc = header_layout!(mp_abi_fun_bc_prefix_t { base, context });
    let mut errs = compare_prefix(&module, rt.layout("_mp_obj_module_t"), true, &[]);
    errs.extend(compare_prefix(
        &fun_bc,
        rt.layout("_mp_obj_fun_bc_t"),
        false,
        &[],
    ));
    // context points at an mp_module_context_t, which starts with the module object itself.
    let ctx = rt.layout("_mp_module_context_t");
    match ctx.members.first() {
        Some(m)
            if m.name == "module"
                && m.offset == 0
                && m.type_name.as_deref() == Some("mp_obj_module_t") =>
        {
            if m.size != Some(size_of::<mp_abi_module_t>() as u64) {
                errs.push(format!(
                    "module context's module is {:?} bytes, ours {}",
                    m.size,
                    size_of::<mp_abi_module_t>()
                ));
            }
        }
        other => errs.push(format!(
            "mp_module_context_t does not start with an mp_obj_module_t: {other:?}"
        )),
    }
    assert_none("module / function prefixes", &errs);
    // natmod-abi.md: context at word 1 of the function, globals at word 1 of the module.
    assert_eq!(offset_of!(mp_abi_fun_bc_prefix_t, context), WORD);
    assert_eq!(offset_of!(mp_abi_module_t, globals), WORD);
}

#[test]
fn print_and_buffer_info_match() {
    let rt = Runtime::get();
    let print = header_layout!(mp_abi_print_t { data, print_strn });
    let buf = header_layout!(mp_abi_buffer_info_t { buf, len, typecode });
    let mut errs = compare_prefix(&print, rt.layout("_mp_print_t"), true, &[]);
    errs.extend(compare_prefix(
        &buf,
        rt.layout("_mp_buffer_info_t"),
        true,
        &[],
    ));
    assert_none("mp_print_t / mp_buffer_info_t", &errs);
}
