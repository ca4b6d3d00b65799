//! mp_fun_table: our header vs the runtime's DWARF, then vs the live table words.

use abi_check::layout::{assert_none, compare_fun_table};
use abi_check::runtime::Runtime;
use abi_check::slots::{check_slots, SymbolSource, EXPECTED};
use abi_check::{header_fun_table, WORD};
use micropython_sys::{FUN_TABLE_SLOT_NAMES, MP_ABI_FUN_TABLE_SLOTS};

const SLOTS: usize = MP_ABI_FUN_TABLE_SLOTS as usize;
/// natmod-abi.md, "Precisions", says 84 slots were confirmed on the wheel. 87 slots - 3 immediates
/// = 84 non-immediate slots: 83 hold bias + their symbol (or libc's function) and slot 49 is NULL.
/// (The doc's "84 non-null" cannot hold: 87 - 3 - 1 = 83.) Both numbers are asserted.
const NON_IMMEDIATE_ON_WHEEL: usize = 84;
const NON_NULL_CONFIRMED_ON_WHEEL: usize = 83;

#[test]
fn header_is_self_consistent() {
    let header = header_fun_table();
    let names: Vec<&str> = header.fields.iter().map(|f| f.name).collect();
    assert_eq!(SLOTS, 87, "MP_ABI_FUN_TABLE_SLOTS");
    assert_eq!(
        names, FUN_TABLE_SLOT_NAMES,
        "FUN_TABLE_SLOT_NAMES must list the struct's fields in order"
    );
    for (i, f) in header.fields.iter().enumerate() {
        assert_eq!(
            (f.offset, f.size),
            (i * WORD, WORD),
            "header slot {i} ({})",
            f.name
        );
    }
    let expected: Vec<&str> = EXPECTED.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        expected, FUN_TABLE_SLOT_NAMES,
        "slots::EXPECTED must follow the header's order"
    );
}

#[test]
fn dwarf_fun_table_matches_header_slot_by_slot() {
    let rt = Runtime::get();
    let runtime = rt.layout("_mp_fun_table_t");
    let errs = compare_fun_table(&header_fun_table(), runtime, SLOTS, WORD);
    assert_none(
        &format!("mp_fun_table_t layout vs DWARF of {}", rt.describe()),
        &errs,
    );
}

#[test]
fn live_table_slots_hold_the_documented_objects() {
    let rt = Runtime::get();
    assert_eq!(
        rt.table.len(),
        SLOTS,
        "mp_fun_table symbol size in {} is not {SLOTS} words",
        rt.describe()
    );

    // The bias from our symbol arithmetic must be where the dynamic linker mapped the file.
    let base = rt.dladdr_base().expect("dladdr on mp_fun_table");
    assert_eq!(
        rt.bias, base,
        "load bias (mp_fun_table - .symtab value) != dladdr base"
    );

    let rep = check_slots(&FUN_TABLE_SLOT_NAMES, &rt.table, rt.bias, rt);
    assert_none(
        &format!("live mp_fun_table of {}", rt.describe()),
        &rep.errors,
    );
    assert_eq!(rep.immediates, 3, "slots 0-2 (None/False/True immediates)");
    assert_eq!(
        rep.nulls,
        vec![49],
        "NULL slots (49 = setjmp, NULL without setjmp NLR)"
    );
    assert_eq!(
        rep.confirmed, NON_NULL_CONFIRMED_ON_WHEEL,
        "non-null, non-immediate slots confirmed equal to bias + their symbol"
    );
    assert_eq!(
        rep.confirmed + rep.nulls.len(),
        NON_IMMEDIATE_ON_WHEEL,
        "every non-immediate slot accounted for"
    );
    assert_eq!(rep.confirmed + rep.nulls.len() + rep.immediates, SLOTS);
    // Spot-check what the summary counts mean on two slots named in the brief.
    assert_eq!(
        rt.table[50],
        rt.libc("memset").unwrap(),
        "slot 50 = libc memset"
    );
    assert_eq!(
        rt.table[73],
        rt.addr_of("mp_type_type"),
        "slot 73 = &mp_type_type"
    );
}

/// The type objects in slots 73-82 are themselves types: their base is &mp_type_type.
#[test]
fn type_slots_point_at_type_objects() {
    let rt = Runtime::get();
    let type_type = rt.addr_of("mp_type_type");
    let mut errs = Vec::new();
    for (i, &word) in rt.table.iter().enumerate().take(83).skip(73) {
        let base = unsafe { Runtime::word_at(word) };
        if base != type_type {
            errs.push(format!(
                "slot {i} ({}): base is {base:#x}, not &mp_type_type {type_type:#x}",
                FUN_TABLE_SLOT_NAMES[i]
            ));
        }
    }
    assert_none("type slots", &errs);
}
