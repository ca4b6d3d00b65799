# Start-up of the esp8266-sim port on `qemu-system-xtensa -M sim -cpu lx106` (call0 ABI:
# arguments a2..a7, result a2, return address a0, callee-saved a12..a15).

    .section .text.start, "ax", @progbits
    .literal_position
    .literal .Lstack_top, _stack_top
    .literal .Lbss_start, _bss_start
    .literal .Lbss_end, _bss_end
    .literal .Lmain, esp_sim_main
    .global _start
    .align 4
_start:
    l32r    a1, .Lstack_top
    # Zero .bss (the loader zero-fills it too; this keeps a re-run honest).
    l32r    a2, .Lbss_start
    l32r    a3, .Lbss_end
    movi    a4, 0
1:  bgeu    a2, a3, 2f
    s32i    a4, a2, 0
    addi    a2, a2, 4
    j       1b
2:  l32r    a0, .Lmain
    callx0  a0
    # esp_sim_main's result is the exit code.
    mov     a3, a2
    movi    a2, 1
    simcall
3:  j       3b

# uint32_t esp_sim_gc_regs(uint32_t regs[4]): stores the call0 callee-saved registers
# a12..a15 (which may hold the only reference to a heap object) and returns the stack pointer.
    .section .text.esp_sim_gc_regs, "ax", @progbits
    .global esp_sim_gc_regs
    .align 4
esp_sim_gc_regs:
    s32i    a12, a2, 0
    s32i    a13, a2, 4
    s32i    a14, a2, 8
    s32i    a15, a2, 12
    mov     a2, a1
    ret
    .section .note.GNU-stack, "", @progbits
