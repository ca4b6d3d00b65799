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

int lumen_mp_protect(mp_abi_protected_fn fn, void *ctx, mp_obj_t *out) {
    mp_abi_nlr_buf_t nlr;
    if (mp_fun_table.nlr_push(&nlr) == 0) {
        mp_obj_t ret = fn(ctx);
        mp_fun_table.nlr_pop();
        *out = ret;
        return 0;
    }
    // Second return from nlr_push: an exception was raised; nlr_push already unlinked `nlr`.
    *out = nlr.ret_val;
    return 1;
}

// One protected runtime call, each slot called with its own signature (see the header).
int lumen_mp_call(unsigned op, uintptr_t a, uintptr_t b, uintptr_t c, uintptr_t d, uintptr_t *out) {
    mp_abi_nlr_buf_t nlr;
    if (mp_fun_table.nlr_push(&nlr) != 0) {
        *out = (uintptr_t)nlr.ret_val;
        return 1;
    }
    uintptr_t r = 0;
    const mp_abi_stream_p_t *s = (const mp_abi_stream_p_t *)a;
    int err = 0;
    switch (op) {
        case LUMEN_OP_LOAD_ATTR:
            r = (uintptr_t)mp_fun_table.load_attr((mp_obj_t)a, b);
            break;
        case LUMEN_OP_STORE_ATTR:
            mp_fun_table.store_attr((mp_obj_t)a, b, (mp_obj_t)c);
            break;
        case LUMEN_OP_SUBSCR:
            r = (uintptr_t)mp_fun_table.obj_subscr((mp_obj_t)a, (mp_obj_t)b, (mp_obj_t)c);
            break;
        case LUMEN_OP_CALL:
            r = (uintptr_t)mp_fun_table.call_function_n_kw((mp_obj_t)a, b, (const mp_obj_t *)c);
            break;
        case LUMEN_OP_CALL_METHOD:
            mp_fun_table.load_method((mp_obj_t)a, b, (mp_obj_t *)d);
            r = (uintptr_t)mp_fun_table.call_method_n_kw(c, 0, (const mp_obj_t *)d);
            break;
        case LUMEN_OP_UNPACK:
            mp_fun_table.unpack_sequence((mp_obj_t)a, b, (mp_obj_t *)c);
            break;
        case LUMEN_OP_LIST_APPEND:
            r = (uintptr_t)mp_fun_table.list_append((mp_obj_t)a, (mp_obj_t)b);
            break;
        case LUMEN_OP_DICT_STORE:
            r = (uintptr_t)mp_fun_table.dict_store((mp_obj_t)a, (mp_obj_t)b, (mp_obj_t)c);
            break;
        case LUMEN_OP_BINARY_OP:
            r = (uintptr_t)mp_fun_table.binary_op((int)a, (mp_obj_t)b, (mp_obj_t)c);
            break;
        case LUMEN_OP_IS_TRUE:
            r = mp_fun_table.obj_is_true((mp_obj_t)a);
            break;
        case LUMEN_OP_FROM_OBJ:
            r = mp_fun_table.native_from_obj((mp_obj_t)a, b);
            break;
        case LUMEN_OP_LOAD_GLOBAL:
            r = (uintptr_t)mp_fun_table.load_global(a);
            break;
        case LUMEN_OP_IMPORT:
            r = (uintptr_t)mp_fun_table.import_name(a, mp_fun_table.const_none, (mp_obj_t)b);
            break;
        case LUMEN_OP_STREAM_READ:
            r = s->read((mp_obj_t)b, (void *)c, d, &err);
            out[1] = (uintptr_t)err;
            break;
        case LUMEN_OP_STREAM_WRITE:
            r = s->write((mp_obj_t)b, (const void *)c, d, &err);
            out[1] = (uintptr_t)err;
            break;
        case LUMEN_OP_STREAM_IOCTL:
            r = s->ioctl((mp_obj_t)b, c, d, &err);
            out[1] = (uintptr_t)err;
            break;
        case LUMEN_OP_PRINT: {
            // What mp_obj_print_helper does: the type's print slot, else "<type name>".
            const mp_abi_type_t *t = mp_fun_table.obj_get_type((mp_obj_t)b);
            if (t->slot_index_print) {
                ((mp_abi_print_fun_t)t->slots[t->slot_index_print - 1])((const mp_abi_print_t *)a, (mp_obj_t)b, (int)c);
            } else {
                mp_fun_table.printf_((const mp_abi_print_t *)a, "<%q>", (qstr)t->name);
            }
            break;
        }
        case LUMEN_OP_GET_STREAM:
            r = (uintptr_t)mp_fun_table.get_stream_raise((mp_obj_t)a, (int)b);
            break;
        case LUMEN_OP_FLOAT_TO_D: {
            double v = mp_fun_table.obj_get_float_to_d((mp_obj_t)a);
            __builtin_memcpy(out, &v, sizeof v);
            mp_fun_table.nlr_pop();
            return 0;
        }
        case LUMEN_OP_NEW_STR:
            r = (uintptr_t)mp_fun_table.obj_new_str((const char *)a, b);
            break;
    }
    mp_fun_table.nlr_pop();
    out[0] = r;
    return 0;
}
