# Start-up code for running a linked native module (the guest .mpy, relocated by
# tests/qemu.rs as MicroPython's loader would) on `qemu-system-xtensa -M sim -cpu lx106`.
# call0 ABI: arguments in a2..a7, return value in a2, return address in a0.
# QEMU semihosting (`simcall`): a2 = call number (1 exit, 4 write), a3.. = its arguments.
# ROM functions the module calls (0x4000xxxx) are stubs from `mpy-ld rom-stubs` (see start.ld).

    .section .text.start, "ax", @progbits
    .literal_position
    .literal .Lstack, __stack_top
    .literal .Lmodule, module_text
    .global _start
    .align 4
_start:
    l32r    a1, .Lstack
    # The loader calls byte 0 of the text as a viper function (self, n_args, n_kw, args);
    # the guest checks it gets (3, 5) in a3/a4.
    movi    a2, 0
    movi    a3, 3
    movi    a4, 5
    movi    a5, 0
    l32r    a8, .Lmodule
    callx0  a8
    # Exit status = the module's return value.
    mov     a3, a2
    movi    a2, 1
    simcall
1:  j       1b

# host_write(buf, len): semihosting write to stdout.
    .global host_write
    .align 4
host_write:
    mov     a5, a3
    mov     a4, a2
    movi    a3, 1
    movi    a2, 4
    simcall
    ret

# host_exit(code): never returns.
    .global host_exit
    .align 4
host_exit:
    mov     a3, a2
    movi    a2, 1
    simcall
1:  j       1b

# What the guest sees as `mp_fun_table` (relocation op 8 adds this address).
    .section .data.fun_table, "aw", @progbits
    .global fun_table
    .align 4
fun_table:
    .word   host_write
    .word   host_exit
