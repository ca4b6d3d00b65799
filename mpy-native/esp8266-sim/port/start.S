# Start-up of the esp8266-sim port on `qemu-system-xtensa -M sim -cpu lx106` (call0 ABI:
# arguments a2..a7, result a2, return address a0, callee-saved a12..a15).

    .section .text.start, "ax", @progbits
    .literal_position
    .literal .Lstack_top, _stack_top
    .literal .Lbss_start, _bss_start
    .literal .Lbss_end, _bss_end
    .literal .Lmain, esp_sim_main
    .literal .Lvecbase, esp_sim_vectors
    .global _start
    .align 4
_start:
    l32r    a1, .Lstack_top
    # Exceptions go to our vectors (below), which report them and exit: the ROM area at
    # 0x40000000, the reset VECBASE, holds the ROM function stubs instead.
    l32r    a2, .Lvecbase
    wsr     a2, vecbase
    isync
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

# Exception vectors (VECBASE + 0x10 debug, 0x20 NMI, 0x30 kernel, 0x50 user, 0x70 double):
# each reports EXCCAUSE, EPC1 and EXCVADDR through esp_sim_fault (main.c), which exits.
    .section .vectors, "ax", @progbits
    .align 256
    .global esp_sim_vectors
esp_sim_vectors:
    .word   esp_sim_fault_entry
    .org    0x10
    l32r    a0, esp_sim_vectors
    jx      a0
    .org    0x20
    l32r    a0, esp_sim_vectors
    jx      a0
    .org    0x30
    l32r    a0, esp_sim_vectors
    jx      a0
    .org    0x50
    l32r    a0, esp_sim_vectors
    jx      a0
    .org    0x70
    l32r    a0, esp_sim_vectors
    jx      a0

    .section .text.esp_sim_fault_entry, "ax", @progbits
    .literal_position
    .literal .Lfault, esp_sim_fault
    .literal .Lfault_stack, _stack_top
    .align 4
esp_sim_fault_entry:
    rsr     a2, exccause
    rsr     a3, epc1
    rsr     a4, excvaddr
    l32r    a1, .Lfault_stack
    l32r    a0, .Lfault
    callx0  a0
1:  j       1b
