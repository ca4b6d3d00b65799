/*
 * lumen-link: the MicroPython native-module ABI (".mpy" v6.3, mp_fun_table of 87 slots),
 * written by us from the documented facts in shared/reference/natmod-abi.md and checked slot
 * by slot against the runtime we test with (mpy-native/abi-check). Not MicroPython's header.
 *
 * Only word-sized fields, pointers, u16 and u8 appear here, so the same header describes
 * 64-bit (x64, object representation A) and 32-bit (ESP8266, representation C) ports.
 * Object representation details (small-int / qstr / float encodings) are deliberately absent:
 * native code must go through the table slots (native_to_obj, obj_new_float_from_d, ...).
 */
#ifndef LUMEN_MP_NATMOD_ABI_H
#define LUMEN_MP_NATMOD_ABI_H

/* Freestanding: fixed-width types come from the compiler's predefined macros (GCC and clang
   both have them), so neither libclang generating 32-bit bindings nor xtensa-lx106-elf-gcc
   needs a C library's headers. */
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINTPTR_TYPE__ uintptr_t;
typedef __INTPTR_TYPE__ intptr_t;
typedef __SIZE_TYPE__ size_t;
typedef __builtin_va_list va_list;
#ifndef __cplusplus
#define bool _Bool
#endif

/* A Python object: an opaque machine word. */
typedef void *mp_obj_t;
typedef uintptr_t mp_uint_t;
typedef intptr_t mp_int_t;
/* A qstr number as the runtime passes it (size_t in the runtime). */
typedef size_t qstr;

/* Sentinels (word values, identical on representations A and C). */
#define MP_ABI_OBJ_NULL 0
#define MP_ABI_OBJ_SENTINEL 4

/* Native types for native_to_obj / native_from_obj. */
enum mp_abi_native_type {
    MP_ABI_NATIVE_TYPE_OBJ = 0,
    MP_ABI_NATIVE_TYPE_BOOL = 1,
    MP_ABI_NATIVE_TYPE_INT = 2,
    MP_ABI_NATIVE_TYPE_UINT = 3,
    MP_ABI_NATIVE_TYPE_PTR = 4,
    MP_ABI_NATIVE_TYPE_QSTR = 8, /* only valid with native_to_obj */
};

/* get_buffer flags */
enum mp_abi_buffer_flags {
    MP_ABI_BUFFER_READ = 1,
    MP_ABI_BUFFER_WRITE = 2,
    MP_ABI_BUFFER_RW = 3,
    MP_ABI_BUFFER_RAISE_IF_UNSUPPORTED = 4,
};

struct mp_abi_type;

/* Every heap object starts with its type. */
typedef struct mp_abi_obj_base {
    const struct mp_abi_type *type;
} mp_abi_obj_base_t;

typedef struct mp_abi_print {
    void *data;
    void (*print_strn)(void *data, const char *str, size_t len);
} mp_abi_print_t;

typedef struct mp_abi_buffer_info {
    void *buf;
    size_t len;
    int typecode; /* a C int in the runtime (4 bytes on x64) */
} mp_abi_buffer_info_t;

/* The stream protocol (what get_stream_raise returns). MP_ABI_STREAM_ERROR is returned on error. */
#define MP_ABI_STREAM_ERROR (~(mp_uint_t)0) /* all ones */
enum mp_abi_stream_ops { MP_ABI_STREAM_OP_READ = 1, MP_ABI_STREAM_OP_WRITE = 2, MP_ABI_STREAM_OP_IOCTL = 4 };
typedef struct mp_abi_stream_p {
    mp_uint_t (*read)(mp_obj_t obj, void *buf, mp_uint_t size, int *errcode);
    mp_uint_t (*write)(mp_obj_t obj, const void *buf, mp_uint_t size, int *errcode);
    mp_uint_t (*ioctl)(mp_obj_t obj, mp_uint_t request, uintptr_t arg, int *errcode);
    mp_uint_t is_text;
} mp_abi_stream_p_t;

/*
 * Non-local return buffer (nlr_push/nlr_pop). The runtime writes prev, ret_val and its
 * callee-saved registers (x64: 8 words, xtensa lx106: 10, rv32: 14, thumb+fp: 16) and, on
 * ports with a Python stack, one more word. We reserve 20 words of registers so one layout is
 * large enough on every port.
 */
#define MP_ABI_NLR_MAX_REGS 20
typedef struct mp_abi_nlr_buf {
    struct mp_abi_nlr_buf *prev;
    mp_obj_t ret_val; /* the exception object after a raise */
    void *regs[MP_ABI_NLR_MAX_REGS];
    void *pystack;
} mp_abi_nlr_buf_t;

/* Builtin function objects (types come from slots 77-81). */
typedef struct mp_abi_fun_builtin_fixed {
    mp_abi_obj_base_t base;
    void *fun; /* mp_obj_t (*)(void) ... mp_obj_t (*)(mp_obj_t, mp_obj_t, mp_obj_t) */
} mp_abi_fun_builtin_fixed_t;

/* sig = n_args_min << 17 | n_args_max << 1 | takes_kw */
#define MP_ABI_FUN_MAKE_SIG(min, max, kw) ((uint32_t)((((uint32_t)(min)) << 17) | (((uint32_t)(max)) << 1) | ((kw) ? 1 : 0)))
typedef struct mp_abi_fun_builtin_var {
    mp_abi_obj_base_t base;
    uint32_t sig;
    mp_obj_t (*fun)(size_t n_args, const mp_obj_t *args);
} mp_abi_fun_builtin_var_t;

/*
 * A type object: base (slot 73, type_type), flags, name qstr, 12 one-byte slot indices, then
 * the slots. Setting slot f to v: slot_index_f = n + 1 and slots[n] = v.
 */
#define MP_ABI_TYPE_NUM_SLOTS 11
typedef struct mp_abi_type {
    mp_abi_obj_base_t base;
    uint16_t flags;
    uint16_t name;
    uint8_t slot_index_make_new;
    uint8_t slot_index_print;
    uint8_t slot_index_call;
    uint8_t slot_index_unary_op;
    uint8_t slot_index_binary_op;
    uint8_t slot_index_attr;
    uint8_t slot_index_subscr;
    uint8_t slot_index_iter;
    uint8_t slot_index_buffer;
    uint8_t slot_index_protocol;
    uint8_t slot_index_parent;
    uint8_t slot_index_locals_dict;
    const void *slots[MP_ABI_TYPE_NUM_SLOTS];
} mp_abi_type_t;

/* Slot signatures. */
typedef mp_obj_t (*mp_abi_make_new_fun_t)(const mp_abi_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args);
typedef void (*mp_abi_print_fun_t)(const mp_abi_print_t *print, mp_obj_t o, int kind);
/* attr: load when dest[0] == NULL (set dest[0]; or dest[1] = SENTINEL to continue to locals_dict);
   store when dest[0] == SENTINEL and dest[1] != NULL; delete when dest[1] == NULL. Set dest[0] = NULL on success. */
typedef void (*mp_abi_attr_fun_t)(mp_obj_t self_in, qstr attr, mp_obj_t *dest);

/* The prefix of a module (mp_obj_module_t) and of a bytecode/viper function object: the entry
   point receives the latter as `self` and must install its module's globals. */
typedef struct mp_abi_module {
    mp_abi_obj_base_t base;
    mp_obj_t globals; /* a dict */
} mp_abi_module_t;

typedef struct mp_abi_fun_bc_prefix {
    mp_abi_obj_base_t base;
    const mp_abi_module_t *context; /* the module context starts with the module object */
} mp_abi_fun_bc_prefix_t;

/* The table itself: 87 word-sized slots, in this order. */
typedef struct mp_fun_table_t {
    /* 0 */ mp_obj_t const_none;
    /* 1 */ mp_obj_t const_false;
    /* 2 */ mp_obj_t const_true;
    /* 3 */ mp_uint_t (*native_from_obj)(mp_obj_t obj, mp_uint_t type);
    /* 4 */ mp_obj_t (*native_to_obj)(mp_uint_t val, mp_uint_t type);
    /* 5 */ mp_obj_t (*swap_globals)(mp_obj_t new_globals);
    /* 6 */ mp_obj_t (*load_name)(qstr qst);
    /* 7 */ mp_obj_t (*load_global)(qstr qst);
    /* 8 */ mp_obj_t (*load_build_class)(void);
    /* 9 */ mp_obj_t (*load_attr)(mp_obj_t base, qstr attr);
    /* 10 */ void (*load_method)(mp_obj_t base, qstr attr, mp_obj_t *dest);
    /* 11 */ void (*load_super_method)(qstr attr, mp_obj_t *dest);
    /* 12 */ void (*store_name)(qstr qst, mp_obj_t obj);
    /* 13 */ void (*store_global)(qstr qst, mp_obj_t obj);
    /* 14 */ void (*store_attr)(mp_obj_t base, qstr attr, mp_obj_t val);
    /* 15 */ mp_obj_t (*obj_subscr)(mp_obj_t base, mp_obj_t index, mp_obj_t val);
    /* 16 */ bool (*obj_is_true)(mp_obj_t arg);
    /* 17 */ mp_obj_t (*unary_op)(int op, mp_obj_t arg);
    /* 18 */ mp_obj_t (*binary_op)(int op, mp_obj_t lhs, mp_obj_t rhs);
    /* 19 */ mp_obj_t (*new_tuple)(size_t n, const mp_obj_t *items);
    /* 20 */ mp_obj_t (*new_list)(size_t n, mp_obj_t *items);
    /* 21 */ mp_obj_t (*new_dict)(size_t n_args);
    /* 22 */ mp_obj_t (*new_set)(size_t n_args, mp_obj_t *items);
    /* 23 */ void (*set_store)(mp_obj_t self_in, mp_obj_t item);
    /* 24 */ mp_obj_t (*list_append)(mp_obj_t self_in, mp_obj_t arg);
    /* 25 */ mp_obj_t (*dict_store)(mp_obj_t self_in, mp_obj_t key, mp_obj_t value);
    /* 26 */ mp_obj_t (*make_function_from_proto_fun)(const void *proto_fun, const void *context, const mp_obj_t *def_args);
    /* 27 */ mp_obj_t (*call_function_n_kw)(mp_obj_t fun_in, size_t n_args_kw, const mp_obj_t *args);
    /* 28 */ mp_obj_t (*call_method_n_kw)(size_t n_args, size_t n_kw, const mp_obj_t *args);
    /* 29 */ mp_obj_t (*call_method_n_kw_var)(bool have_self, size_t n_args_n_kw, const mp_obj_t *args);
    /* 30 */ mp_obj_t (*getiter)(mp_obj_t obj, void *iter_buf);
    /* 31 */ mp_obj_t (*iternext)(void *iter_buf);
    /* 32 */ unsigned int (*nlr_push)(mp_abi_nlr_buf_t *buf);
    /* 33 */ void (*nlr_pop)(void);
    /* 34 */ void (*raise)(mp_obj_t o);
    /* 35 */ mp_obj_t (*import_name)(qstr name, mp_obj_t fromlist, mp_obj_t level);
    /* 36 */ mp_obj_t (*import_from)(mp_obj_t module, qstr name);
    /* 37 */ void (*import_all)(mp_obj_t module);
    /* 38 */ mp_obj_t (*new_slice)(mp_obj_t start, mp_obj_t stop, mp_obj_t step);
    /* 39 */ void (*unpack_sequence)(mp_obj_t seq, size_t num, mp_obj_t *items);
    /* 40 */ void (*unpack_ex)(mp_obj_t seq, size_t num, mp_obj_t *items);
    /* 41 */ void (*delete_name)(qstr qst);
    /* 42 */ void (*delete_global)(qstr qst);
    /* 43 */ mp_obj_t (*new_closure)(mp_obj_t fun, size_t n_closed_over, const mp_obj_t *closed);
    /* 44 */ void (*arg_check_num_sig)(size_t n_args, size_t n_kw, uint32_t sig);
    /* 45 */ void (*setup_code_state_native)(void *code_state, size_t n_args, size_t n_kw, const mp_obj_t *args);
    /* 46 */ mp_int_t (*small_int_floor_divide)(mp_int_t num, mp_int_t denom);
    /* 47 */ mp_int_t (*small_int_modulo)(mp_int_t dividend, mp_int_t divisor);
    /* 48 */ bool (*yield_from)(mp_obj_t gen, mp_obj_t send_value, mp_obj_t *ret_value);
    /* 49 */ void *setjmp_;
    /* 50 */ void *(*memset_)(void *s, int c, size_t n);
    /* 51 */ void *(*memmove_)(void *dest, const void *src, size_t n);
    /* 52 */ void *(*realloc_)(void *ptr, size_t n_bytes, bool allow_move);
    /* 53 */ int (*printf_)(const mp_abi_print_t *print, const char *fmt, ...);
    /* 54 */ int (*vprintf_)(const mp_abi_print_t *print, const char *fmt, va_list args);
    /* 55 */ void (*raise_msg)(const mp_abi_type_t *exc_type, const char *msg);
    /* 56 */ const mp_abi_type_t *(*obj_get_type)(mp_obj_t o);
    /* 57 */ mp_obj_t (*obj_new_str)(const char *data, size_t len);
    /* 58 */ mp_obj_t (*obj_new_bytes)(const uint8_t *data, size_t len);
    /* 59 */ mp_obj_t (*obj_new_bytearray_by_ref)(size_t n, void *items);
    /* 60 */ mp_obj_t (*obj_new_float_from_f)(float f);
    /* 61 */ mp_obj_t (*obj_new_float_from_d)(double d);
    /* 62 */ float (*obj_get_float_to_f)(mp_obj_t o);
    /* 63 */ double (*obj_get_float_to_d)(mp_obj_t o);
    /* 64 */ void (*load_method_maybe)(mp_obj_t base, qstr attr, mp_obj_t *dest);
    /* 65 */ bool (*get_buffer)(mp_obj_t obj, mp_abi_buffer_info_t *bufinfo, mp_uint_t flags);
    /* 66 */ const mp_abi_stream_p_t *(*get_stream_raise)(mp_obj_t self_in, int flags);
    /* 67 */ void *arg_parse_all;
    /* 68 */ void *arg_parse_all_kw_array;
    /* 69 */ size_t (*binary_get_size)(char struct_type, char val_type, size_t *palign);
    /* 70 */ mp_obj_t (*binary_get_val_array)(char typecode, void *p, size_t index);
    /* 71 */ void (*binary_set_val_array)(char typecode, void *p, size_t index, mp_obj_t val_in);
    /* 72 */ const mp_abi_print_t *plat_print;
    /* 73 */ const mp_abi_type_t *type_type;
    /* 74 */ const mp_abi_type_t *type_str;
    /* 75 */ const mp_abi_type_t *type_list;
    /* 76 */ const mp_abi_type_t *type_dict;
    /* 77 */ const mp_abi_type_t *type_fun_builtin_0;
    /* 78 */ const mp_abi_type_t *type_fun_builtin_1;
    /* 79 */ const mp_abi_type_t *type_fun_builtin_2;
    /* 80 */ const mp_abi_type_t *type_fun_builtin_3;
    /* 81 */ const mp_abi_type_t *type_fun_builtin_var;
    /* 82 */ const mp_abi_type_t *type_Exception;
    /* 83 */ const void *stream_read_obj;
    /* 84 */ const void *stream_readinto_obj;
    /* 85 */ const void *stream_unbuffered_readline_obj;
    /* 86 */ const void *stream_write_obj;
} mp_fun_table_t;

#define MP_ABI_FUN_TABLE_SLOTS 87

/* Resolved by mpy-ld to the runtime's table (relocation op 8). */
extern const mp_fun_table_t mp_fun_table;

/*
 * C glue (glue/protect.c): one runtime call with word arguments a..d, under nlr_push (nlr_push
 * returns twice, like setjmp, which Rust cannot express; this is the one place that does it).
 * Returns 0 and stores the call's result word in out[0], or returns 1 and stores the raised
 * exception object in out[0]. `op` is an mp_fun_table slot number (< MP_ABI_FUN_TABLE_SLOTS:
 * that slot is called), or else the address of a function to call (a stream protocol's
 * read/write/ioctl, one of the composite calls below, or a Rust callback `mp_obj_t f(void *ctx)`
 * run as a whole under the one nlr_push: micropython-rt's dispatcher).
 *
 * Plain calls go through one word-argument function type, `uintptr_t f(a, b, c, d)`, whatever
 * the slot's declared signature, so the glue is a few instructions instead of a case per slot.
 * This relies on the calling conventions of the ports we build for (x86-64 SysV, Xtensa call0;
 * also ARM AAPCS and RISC-V): the first four integer/pointer arguments travel in registers
 * whatever their C type (an `int` or `qstr` is the low part of its register), a callee ignores
 * the argument registers it does not declare, and an integer, pointer or bool result comes back
 * in the first result register (callers mask a bool's low byte; a void result is ignored).
 * Doubles do not pass that way, hence lumen_mp_op_float_to_d.
 */
typedef uintptr_t (*lumen_word_fn)(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);
/* The slot number of an mp_fun_table field. */
#define LUMEN_SLOT(field) (__builtin_offsetof(mp_fun_table_t, field) / sizeof(void *))
enum lumen_mp_op {
    LUMEN_OP_FROM_OBJ = LUMEN_SLOT(native_from_obj),    /* native_from_obj(a, b) */
    LUMEN_OP_LOAD_GLOBAL = LUMEN_SLOT(load_global),     /* load_global(qstr a) */
    LUMEN_OP_LOAD_ATTR = LUMEN_SLOT(load_attr),         /* load_attr(a, qstr b) */
    LUMEN_OP_STORE_ATTR = LUMEN_SLOT(store_attr),       /* store_attr(a, qstr b, c) */
    LUMEN_OP_SUBSCR = LUMEN_SLOT(obj_subscr),           /* obj_subscr(a, b, c) */
    LUMEN_OP_IS_TRUE = LUMEN_SLOT(obj_is_true),         /* obj_is_true(a) (a bool: low byte) */
    LUMEN_OP_BINARY_OP = LUMEN_SLOT(binary_op),         /* binary_op(a, b, c) */
    LUMEN_OP_LIST_APPEND = LUMEN_SLOT(list_append),     /* list_append(a, b) */
    LUMEN_OP_DICT_STORE = LUMEN_SLOT(dict_store),       /* dict_store(a, b, c) */
    LUMEN_OP_CALL = LUMEN_SLOT(call_function_n_kw),     /* call_function_n_kw(a, b = n | n_kw << 8, (mp_obj_t *)c) */
    LUMEN_OP_IMPORT = LUMEN_SLOT(import_name),          /* import_name(qstr a, b = None, c = level 0 as a small int) */
    LUMEN_OP_UNPACK = LUMEN_SLOT(unpack_sequence),      /* unpack_sequence(a, b, (mp_obj_t *)c) */
    LUMEN_OP_GET_STREAM = LUMEN_SLOT(get_stream_raise), /* get_stream_raise(a, b) */
};
/* Composite calls, passed to lumen_mp_call as a function address (a module links only those
 * it uses). */
/* load_method(a, qstr b, frame = (mp_obj_t *)d); call_method_n_kw(c, 0, frame) */
uintptr_t lumen_mp_op_call_method(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);
/* print object b with kind c to (mp_abi_print_t *)a, as mp_obj_print_helper does */
uintptr_t lumen_mp_op_print(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);
/* obj_get_float_to_d(a), stored as a double at (void *)b (8 bytes) */
uintptr_t lumen_mp_op_float_to_d(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);
/* The runtime's argument parser: arg_parse_all_kw_array(a & 0xFFFF positional, a >> 16
 * keyword, args b, c allowed, ((void **)d)[0] = the mp_arg_t array, ((void **)d)[1] = out) */
uintptr_t lumen_mp_op_arg_parse(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d);
int lumen_mp_call(uintptr_t op, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d, uintptr_t *out);

#endif
