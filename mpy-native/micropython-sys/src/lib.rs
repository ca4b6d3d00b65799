//! Raw bindings to the MicroPython native-module ABI.
//!
//! Generated at build time by bindgen from `include/mp_natmod_abi.h`, our own description of
//! the `.mpy` v6.3 native ABI: the 87-slot `mp_fun_table`, the type-object layout, builtin
//! function objects, the nlr buffer. Everything here is `unsafe` and word-level; the safe API is
//! `micropython-rt`. Object representations differ per port (x64: repr A, ESP8266: repr C), so
//! nothing here encodes small ints, qstrs or floats: use the table's slots.
#![no_std]
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));

/// Slot names in table order, for diagnostics and the ABI check.
pub const FUN_TABLE_SLOT_NAMES: [&str; MP_ABI_FUN_TABLE_SLOTS as usize] = [
    "const_none", "const_false", "const_true", "native_from_obj", "native_to_obj",
    "swap_globals", "load_name", "load_global", "load_build_class", "load_attr", "load_method",
    "load_super_method", "store_name", "store_global", "store_attr", "obj_subscr", "obj_is_true",
    "unary_op", "binary_op", "new_tuple", "new_list", "new_dict", "new_set", "set_store",
    "list_append", "dict_store", "make_function_from_proto_fun", "call_function_n_kw",
    "call_method_n_kw", "call_method_n_kw_var", "getiter", "iternext", "nlr_push", "nlr_pop",
    "raise", "import_name", "import_from", "import_all", "new_slice", "unpack_sequence",
    "unpack_ex", "delete_name", "delete_global", "new_closure", "arg_check_num_sig",
    "setup_code_state_native", "small_int_floor_divide", "small_int_modulo", "yield_from",
    "setjmp_", "memset_", "memmove_", "realloc_", "printf_", "vprintf_", "raise_msg",
    "obj_get_type", "obj_new_str", "obj_new_bytes", "obj_new_bytearray_by_ref",
    "obj_new_float_from_f", "obj_new_float_from_d", "obj_get_float_to_f", "obj_get_float_to_d",
    "load_method_maybe", "get_buffer", "get_stream_raise", "arg_parse_all",
    "arg_parse_all_kw_array", "binary_get_size", "binary_get_val_array", "binary_set_val_array",
    "plat_print", "type_type", "type_str", "type_list", "type_dict", "type_fun_builtin_0",
    "type_fun_builtin_1", "type_fun_builtin_2", "type_fun_builtin_3", "type_fun_builtin_var",
    "type_Exception", "stream_read_obj", "stream_readinto_obj",
    "stream_unbuffered_readline_obj", "stream_write_obj",
];

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::mem::{offset_of, size_of};

    #[test]
    fn table_is_87_words_in_documented_order() {
        let w = size_of::<usize>();
        assert_eq!(size_of::<mp_fun_table_t>(), 87 * w);
        assert_eq!(offset_of!(mp_fun_table_t, nlr_push), 32 * w);
        assert_eq!(offset_of!(mp_fun_table_t, memset_), 50 * w);
        assert_eq!(offset_of!(mp_fun_table_t, obj_new_float_from_d), 61 * w);
        assert_eq!(offset_of!(mp_fun_table_t, type_type), 73 * w);
        assert_eq!(offset_of!(mp_fun_table_t, stream_write_obj), 86 * w);
    }

    #[test]
    fn type_object_is_112_bytes_on_64_bit() {
        // natmod-abi.md: 64 bytes on 32-bit, 112 on x64.
        assert_eq!(size_of::<mp_abi_type_t>(), if size_of::<usize>() == 8 { 112 } else { 64 });
        assert_eq!(offset_of!(mp_abi_type_t, slot_index_make_new), size_of::<usize>() + 4);
    }

    #[test]
    fn fun_sig_packs_like_the_runtime() {
        // 1..=3 positional args, no kw: (1 << 17) | (3 << 1)
        assert_eq!((1u32 << 17) | (3 << 1), 0x20006);
    }
}
