//! What each `mp_fun_table` slot must hold in the unix x64 runtime, written from the facts in
//! natmod-abi.md and the initialiser order of MicroPython's py/nativeglue.c (read, not copied).

/// The expected content of one slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// An immediate object word (object representation A: None/False/True).
    Immediate(usize),
    /// The address of this `.symtab` symbol (function or data object) of the runtime.
    Symbol(&'static str),
    /// The address the dynamic linker gives for this libc function (`dlsym`).
    Libc(&'static str),
    /// `nlr_push`, or `nlr_push_tail` when the runtime uses setjmp NLR (slot 49 non-null).
    NlrPush,
    /// libc `setjmp` with setjmp NLR, else NULL.
    SetjmpOrNull,
}

use Expect::*;

/// Slot name (our header's field name) and expectation, in table order.
pub const EXPECTED: [(&str, Expect); 87] = [
    ("const_none", Immediate(0x06)),
    ("const_false", Immediate(0x0E)),
    ("const_true", Immediate(0x1E)),
    ("native_from_obj", Symbol("mp_native_from_obj")),
    ("native_to_obj", Symbol("mp_native_to_obj")),
    ("swap_globals", Symbol("mp_native_swap_globals")),
    ("load_name", Symbol("mp_load_name")),
    ("load_global", Symbol("mp_load_global")),
    ("load_build_class", Symbol("mp_load_build_class")),
    ("load_attr", Symbol("mp_load_attr")),
    ("load_method", Symbol("mp_load_method")),
    ("load_super_method", Symbol("mp_load_super_method")),
    ("store_name", Symbol("mp_store_name")),
    ("store_global", Symbol("mp_store_global")),
    ("store_attr", Symbol("mp_store_attr")),
    ("obj_subscr", Symbol("mp_obj_subscr")),
    ("obj_is_true", Symbol("mp_obj_is_true")),
    ("unary_op", Symbol("mp_unary_op")),
    ("binary_op", Symbol("mp_binary_op")),
    ("new_tuple", Symbol("mp_obj_new_tuple")),
    ("new_list", Symbol("mp_obj_new_list")),
    ("new_dict", Symbol("mp_obj_new_dict")),
    ("new_set", Symbol("mp_obj_new_set")),
    ("set_store", Symbol("mp_obj_set_store")),
    ("list_append", Symbol("mp_obj_list_append")),
    ("dict_store", Symbol("mp_obj_dict_store")),
    (
        "make_function_from_proto_fun",
        Symbol("mp_make_function_from_proto_fun"),
    ),
    ("call_function_n_kw", Symbol("mp_native_call_function_n_kw")),
    ("call_method_n_kw", Symbol("mp_call_method_n_kw")),
    ("call_method_n_kw_var", Symbol("mp_call_method_n_kw_var")),
    ("getiter", Symbol("mp_native_getiter")),
    ("iternext", Symbol("mp_native_iternext")),
    ("nlr_push", NlrPush),
    ("nlr_pop", Symbol("nlr_pop")),
    ("raise", Symbol("mp_native_raise")),
    ("import_name", Symbol("mp_import_name")),
    ("import_from", Symbol("mp_import_from")),
    ("import_all", Symbol("mp_import_all")),
    ("new_slice", Symbol("mp_obj_new_slice")),
    ("unpack_sequence", Symbol("mp_unpack_sequence")),
    ("unpack_ex", Symbol("mp_unpack_ex")),
    ("delete_name", Symbol("mp_delete_name")),
    ("delete_global", Symbol("mp_delete_global")),
    ("new_closure", Symbol("mp_obj_new_closure")),
    ("arg_check_num_sig", Symbol("mp_arg_check_num_sig")),
    (
        "setup_code_state_native",
        Symbol("mp_setup_code_state_native"),
    ),
    (
        "small_int_floor_divide",
        Symbol("mp_small_int_floor_divide"),
    ),
    ("small_int_modulo", Symbol("mp_small_int_modulo")),
    ("yield_from", Symbol("mp_native_yield_from")),
    ("setjmp_", SetjmpOrNull),
    ("memset_", Libc("memset")),
    ("memmove_", Libc("memmove")),
    ("realloc_", Symbol("gc_realloc")),
    ("printf_", Symbol("mp_printf")),
    ("vprintf_", Symbol("mp_vprintf")),
    ("raise_msg", Symbol("mp_raise_msg")),
    ("obj_get_type", Symbol("mp_obj_get_type")),
    ("obj_new_str", Symbol("mp_obj_new_str")),
    ("obj_new_bytes", Symbol("mp_obj_new_bytes")),
    (
        "obj_new_bytearray_by_ref",
        Symbol("mp_obj_new_bytearray_by_ref"),
    ),
    ("obj_new_float_from_f", Symbol("mp_obj_new_float_from_f")),
    ("obj_new_float_from_d", Symbol("mp_obj_new_float_from_d")),
    ("obj_get_float_to_f", Symbol("mp_obj_get_float_to_f")),
    ("obj_get_float_to_d", Symbol("mp_obj_get_float_to_d")),
    ("load_method_maybe", Symbol("mp_load_method_maybe")),
    ("get_buffer", Symbol("mp_get_buffer")),
    ("get_stream_raise", Symbol("mp_get_stream_raise")),
    ("arg_parse_all", Symbol("mp_arg_parse_all")),
    (
        "arg_parse_all_kw_array",
        Symbol("mp_arg_parse_all_kw_array"),
    ),
    ("binary_get_size", Symbol("mp_binary_get_size")),
    ("binary_get_val_array", Symbol("mp_binary_get_val_array")),
    ("binary_set_val_array", Symbol("mp_binary_set_val_array")),
    ("plat_print", Symbol("mp_plat_print")),
    ("type_type", Symbol("mp_type_type")),
    ("type_str", Symbol("mp_type_str")),
    ("type_list", Symbol("mp_type_list")),
    ("type_dict", Symbol("mp_type_dict")),
    ("type_fun_builtin_0", Symbol("mp_type_fun_builtin_0")),
    ("type_fun_builtin_1", Symbol("mp_type_fun_builtin_1")),
    ("type_fun_builtin_2", Symbol("mp_type_fun_builtin_2")),
    ("type_fun_builtin_3", Symbol("mp_type_fun_builtin_3")),
    ("type_fun_builtin_var", Symbol("mp_type_fun_builtin_var")),
    ("type_Exception", Symbol("mp_type_Exception")),
    ("stream_read_obj", Symbol("mp_stream_read_obj")),
    ("stream_readinto_obj", Symbol("mp_stream_readinto_obj")),
    (
        "stream_unbuffered_readline_obj",
        Symbol("mp_stream_unbuffered_readline_obj"),
    ),
    ("stream_write_obj", Symbol("mp_stream_write_obj")),
];

/// Runtime facts the slot check needs, abstracted so the logic can be fed a broken table.
pub trait SymbolSource {
    /// Values of every `.symtab` symbol with this name (functions and data objects).
    fn symtab(&self, name: &str) -> Vec<u64>;
    /// The loaded address of a libc function.
    fn libc(&self, name: &str) -> Option<usize>;
    /// Names of `.symtab` symbols whose value is `value` (for messages).
    fn names_at(&self, value: u64) -> Vec<String>;
}

/// Outcome of the live-table check.
#[derive(Debug, Default)]
pub struct SlotReport {
    /// Non-null, non-immediate slots proven equal to bias + their symbol (or libc's function).
    pub confirmed: usize,
    pub immediates: usize,
    pub nulls: Vec<usize>,
    pub errors: Vec<String>,
}

/// Checks each live slot word against its expectation. `names` are the header's slot names in
/// table order (they must agree with [`EXPECTED`], so a renamed or moved slot is caught too).
pub fn check_slots(
    names: &[&str],
    words: &[usize],
    bias: usize,
    syms: &dyn SymbolSource,
) -> SlotReport {
    let mut rep = SlotReport::default();
    if words.len() != EXPECTED.len() || names.len() != EXPECTED.len() {
        rep.errors.push(format!(
            "table length: header names {}, live words {}, expectations {}",
            names.len(),
            words.len(),
            EXPECTED.len()
        ));
    }
    let setjmp_nlr = EXPECTED
        .iter()
        .position(|(_, e)| *e == SetjmpOrNull)
        .and_then(|i| words.get(i))
        .is_some_and(|w| *w != 0);
    let describe = |w: usize| -> String {
        let names = w
            .checked_sub(bias)
            .map(|v| syms.names_at(v as u64))
            .unwrap_or_default();
        if names.is_empty() {
            format!("{w:#x}")
        } else {
            format!("{w:#x} (= bias + {})", names.join("/"))
        }
    };
    for (i, ((exp_name, exp), (&name, &word))) in
        EXPECTED.iter().zip(names.iter().zip(words)).enumerate()
    {
        if name != *exp_name {
            rep.errors.push(format!(
                "slot {i}: header names it {name}, expected {exp_name} here"
            ));
            continue;
        }
        let want_symbol = |sym: &str, rep: &mut SlotReport| {
            let vals = syms.symtab(sym);
            if vals.is_empty() {
                rep.errors
                    .push(format!("slot {i} ({name}): runtime has no symbol {sym}"));
            } else if vals.iter().any(|v| bias.wrapping_add(*v as usize) == word) {
                rep.confirmed += 1;
            } else {
                rep.errors.push(format!(
                    "slot {i} ({name}): expected bias + {sym} = {:#x}, runtime table holds {}",
                    bias.wrapping_add(vals[0] as usize),
                    describe(word)
                ));
            }
        };
        match *exp {
            Immediate(v) => {
                if word == v {
                    rep.immediates += 1;
                } else {
                    rep.errors.push(format!(
                        "slot {i} ({name}): expected immediate {v:#x}, runtime holds {}",
                        describe(word)
                    ));
                }
            }
            Symbol(sym) => want_symbol(sym, &mut rep),
            NlrPush => want_symbol(
                if setjmp_nlr {
                    "nlr_push_tail"
                } else {
                    "nlr_push"
                },
                &mut rep,
            ),
            Libc(f) => match syms.libc(f) {
                Some(addr) if addr == word => rep.confirmed += 1,
                Some(addr) => rep.errors.push(format!(
                    "slot {i} ({name}): expected libc {f} at {addr:#x}, runtime holds {}",
                    describe(word)
                )),
                None => rep
                    .errors
                    .push(format!("slot {i} ({name}): dlsym cannot find libc {f}")),
            },
            SetjmpOrNull => {
                if word == 0 {
                    rep.nulls.push(i);
                } else {
                    let libc: Vec<usize> = ["setjmp", "_setjmp"]
                        .iter()
                        .filter_map(|f| syms.libc(f))
                        .collect();
                    if libc.contains(&word) {
                        rep.confirmed += 1;
                    } else {
                        rep.errors.push(format!(
                            "slot {i} ({name}): neither NULL nor libc setjmp, runtime holds {}",
                            describe(word)
                        ));
                    }
                }
            }
        }
    }
    rep
}
