// The one piece of C in the native modules: catching a Python exception (an nlr jump) raised by
// a runtime call that Rust makes, so Rust gets a Result instead of having its frames jumped over.
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
