//! The checks must be able to fail: feed them a broken header-side table (and broken live words)
//! and require reports that name the slots involved.

use abi_check::layout::{compare_fun_table, compare_prefix};
use abi_check::runtime::Runtime;
use abi_check::slots::check_slots;
use abi_check::{header_fun_table, header_layout, WORD};
use micropython_sys::{mp_abi_type_t, FUN_TABLE_SLOT_NAMES};

#[test]
fn swapped_slots_are_reported_by_name() {
    let rt = Runtime::get();
    let mut header = header_fun_table();
    // Swap the names of slots 32 and 33, as if the header declared nlr_pop before nlr_push.
    let (a, b) = (header.fields[32].name, header.fields[33].name);
    header.fields[32].name = b;
    header.fields[33].name = a;
    let errs = compare_fun_table(&header, rt.layout("_mp_fun_table_t"), 87, WORD);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("slot 32: header says nlr_pop at 256, runtime says nlr_push at 256"),
        "{errs:#?}"
    );
    assert!(
        errs[1].starts_with("slot 33: header says nlr_push at 264, runtime says nlr_pop at 264"),
        "{errs:#?}"
    );
}

#[test]
fn shifted_offset_is_reported() {
    let rt = Runtime::get();
    let mut header = header_fun_table();
    // A header that lost slot 60: every later field sits one word early, 86 fields in all.
    header.fields.remove(60);
    for f in &mut header.fields[60..] {
        f.offset -= WORD;
    }
    header.size -= WORD;
    let errs = compare_fun_table(&header, rt.layout("_mp_fun_table_t"), 87, WORD);
    let text = errs.join("\n");
    assert!(
        text.contains("header struct mp_fun_table_t has 86 fields, expected 87"),
        "{text}"
    );
    assert!(
        text.contains("slot 60: header says obj_new_float_from_d at 480, runtime says obj_new_float_from_f at 480"),
        "{text}"
    );
    assert!(
        text.contains("slot 86: header has no field 86, runtime says stream_write_obj at 688"),
        "{text}"
    );
}

#[test]
fn live_check_catches_swapped_words_and_wrong_names() {
    let rt = Runtime::get();
    let mut words = rt.table.clone();
    words.swap(9, 10); // load_attr <-> load_method
    words[1] = 0x06; // False slot holding None
    let rep = check_slots(&FUN_TABLE_SLOT_NAMES, &words, rt.bias, rt);
    let text = rep.errors.join("\n");
    assert_eq!(rep.errors.len(), 3, "{text}");
    assert!(
        text.contains("slot 1 (const_false): expected immediate 0xe"),
        "{text}"
    );
    assert!(
        text.contains("slot 9 (load_attr): expected bias + mp_load_attr")
            && text.contains("mp_load_method)"),
        "{text}"
    );
    assert!(
        text.contains("slot 10 (load_method): expected bias + mp_load_method"),
        "{text}"
    );
    assert_eq!(rep.confirmed, 83 - 2);

    // A header whose name list is out of order is caught even if the words are right.
    let mut names = FUN_TABLE_SLOT_NAMES;
    names.swap(50, 51);
    let rep = check_slots(&names, &rt.table, rt.bias, rt);
    let text = rep.errors.join("\n");
    assert!(
        text.contains("slot 50: header names it memmove_, expected memset_ here"),
        "{text}"
    );
    assert!(
        text.contains("slot 51: header names it memset_, expected memmove_ here"),
        "{text}"
    );
}

#[test]
fn struct_prefix_check_catches_a_moved_member() {
    let rt = Runtime::get();
    let mut header = header_layout!(mp_abi_type_t {
        base,
        flags,
        name,
        slot_index_make_new
    });
    header.fields[3].offset += 1; // as if a padding byte crept in before the slot indices
    let errs = compare_prefix(&header, rt.layout("_mp_obj_type_t"), false, &[]);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].contains("member 3: header says slot_index_make_new at 13, runtime says slot_index_make_new at 12"), "{errs:#?}");
}
