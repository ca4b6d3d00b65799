//! Slot names of `mp_fun_table` (MicroPython 1.29, 87 word-sized slots), for `inspect`.

/// Number of slots in `mp_fun_table`.
pub const N_SLOTS: usize = SLOTS.len();

const SLOTS: [&str; 87] = [
    "const_none",
    "const_false",
    "const_true",
    "native_from_obj",
    "native_to_obj",
    "swap_globals",
    "load_name",
    "load_global",
    "load_build_class",
    "load_attr",
    "load_method",
    "load_super_method",
    "store_name",
    "store_global",
    "store_attr",
    "obj_subscr",
    "obj_is_true",
    "unary_op",
    "binary_op",
    "new_tuple",
    "new_list",
    "new_dict",
    "new_set",
    "set_store",
    "list_append",
    "dict_store",
    "make_function_from_proto_fun",
    "call_function_n_kw",
    "call_method_n_kw",
    "call_method_n_kw_var",
    "getiter",
    "iternext",
    "nlr_push",
    "nlr_pop",
    "raise",
    "import_name",
    "import_from",
    "import_all",
    "new_slice",
    "unpack_sequence",
    "unpack_ex",
    "delete_name",
    "delete_global",
    "new_closure",
    "arg_check_num_sig",
    "setup_code_state_native",
    "small_int_floor_divide",
    "small_int_modulo",
    "yield_from",
    "setjmp",
    "memset",
    "memmove",
    "realloc",
    "printf",
    "vprintf",
    "raise_msg",
    "obj_get_type",
    "obj_new_str",
    "obj_new_bytes",
    "obj_new_bytearray_by_ref",
    "obj_new_float_from_f",
    "obj_new_float_from_d",
    "obj_get_float_to_f",
    "obj_get_float_to_d",
    "load_method_maybe",
    "get_buffer",
    "get_stream_raise",
    "arg_parse_all",
    "arg_parse_all_kw_array",
    "binary_get_size",
    "binary_get_val_array",
    "binary_set_val_array",
    "plat_print",
    "type_type",
    "type_str",
    "type_list",
    "type_dict",
    "type_fun_builtin_0",
    "type_fun_builtin_1",
    "type_fun_builtin_2",
    "type_fun_builtin_3",
    "type_fun_builtin_var",
    "type_Exception",
    "stream_read_obj",
    "stream_readinto_obj",
    "stream_unbuffered_readline_obj",
    "stream_write_obj",
];

/// Name of slot `k`, if it exists.
pub fn slot_name(k: usize) -> Option<&'static str> {
    SLOTS.get(k).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn anchors() {
        assert_eq!(super::N_SLOTS, 87);
        assert_eq!(super::slot_name(50), Some("memset"));
        assert_eq!(super::slot_name(73), Some("type_type"));
        assert_eq!(super::slot_name(86), Some("stream_write_obj"));
        assert_eq!(super::slot_name(87), None);
    }
}
