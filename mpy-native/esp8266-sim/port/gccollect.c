// GC root scan of the esp8266-sim port: the call0 callee-saved registers a12..a15, then the
// whole C stack from the current stack pointer to its top.
#include <stdint.h>
#include "py/gc.h"
#include "py/mpstate.h"

uint32_t esp_sim_gc_regs(uint32_t regs[4]);

void gc_collect(void) {
    gc_collect_start();
    uint32_t regs[4];
    uint32_t sp = esp_sim_gc_regs(regs);
    gc_collect_root((void **)regs, 4);
    gc_collect_root((void **)sp, ((uint32_t)MP_STATE_THREAD(stack_top) - sp) / sizeof(uint32_t));
    gc_collect_end();
}
