// The one piece of C in the native modules: catching a Python exception (an nlr jump) raised by
// a runtime call that Rust makes, so Rust gets a Result instead of having its frames jumped over.
//
// nlr_push returns twice, like setjmp, which Rust cannot express. This file supports ports
// whose nlr is native code (x64, xtensa, arm, riscv: `nlr_push` in slot 32 saves the callee-saved
// registers itself). Ports built with MICROPY_NLR_SETJMP put `nlr_push_tail` in slot 32 and
// `setjmp` in slot 49, and their nlr buffer holds a jmp_buf our buffer is not sized for:
// micropython-rt refuses to import on such a port (ImportError, slot 49 must be NULL), so this
// code never runs there.
#include "mp_natmod_abi.h"

// One protected runtime call (see the header): a table slot or a function address, called
// with four word arguments. Also how Rust runs a whole callback under nlr_push (the
// dispatcher): the callback's address as `op`, its context as `a`.
int lumen_mp_call(uintptr_t op, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d, uintptr_t *out) {
    mp_abi_nlr_buf_t nlr;
    if (mp_fun_table.nlr_push(&nlr) != 0) {
        *out = (uintptr_t)nlr.ret_val;
        return 1;
    }
    lumen_word_fn f = op < MP_ABI_FUN_TABLE_SLOTS ? ((const lumen_word_fn *)&mp_fun_table)[op] : (lumen_word_fn)op;
    uintptr_t r = f(a, b, c, d);
    mp_fun_table.nlr_pop();
    *out = r;
    return 0;
}

uintptr_t lumen_mp_op_call_method(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) {
    mp_fun_table.load_method((mp_obj_t)a, b, (mp_obj_t *)d);
    return (uintptr_t)mp_fun_table.call_method_n_kw(c, 0, (const mp_obj_t *)d);
}

uintptr_t lumen_mp_op_print(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) {
    (void)d;
    // What mp_obj_print_helper does: the type's print slot, else "<type name>".
    const mp_abi_type_t *t = mp_fun_table.obj_get_type((mp_obj_t)b);
    if (t->slot_index_print) {
        ((mp_abi_print_fun_t)t->slots[t->slot_index_print - 1])((const mp_abi_print_t *)a, (mp_obj_t)b, (int)c);
    } else {
        mp_fun_table.printf_((const mp_abi_print_t *)a, "<%q>", (qstr)t->name);
    }
    return 0;
}

uintptr_t lumen_mp_op_float_to_d(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) {
    (void)c;
    (void)d;
    double v = mp_fun_table.obj_get_float_to_d((mp_obj_t)a);
    __builtin_memcpy((void *)b, &v, sizeof v);
    return 0;
}

uintptr_t lumen_mp_op_arg_parse(uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d) {
    typedef void (*parse_fn)(size_t n_pos, size_t n_kw, const mp_obj_t *args, size_t n_allowed,
                             const void *allowed, void *out_vals);
    void *const *p = (void *const *)d;
    ((parse_fn)mp_fun_table.arg_parse_all_kw_array)(a & 0xFFFF, a >> 16, (const mp_obj_t *)b, c, p[0], p[1]);
    return 0;
}
