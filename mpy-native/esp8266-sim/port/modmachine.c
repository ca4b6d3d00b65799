// The `machine` module of the esp8266-sim port: Pin (minimal) and I2C, with a simulated
// TSL2591 light sensor at 0x29 on every I2C bus, all in C, as a board's machine.I2C is a C
// type. Our own code, written from the documented behaviour of MicroPython's machine.I2C
// (extmod/machine_i2c.c: arguments, return values, errors) and of the TSL2591 (its
// datasheet, as mpy-scripts/sim/sim_tsl2591.py models it); nothing is copied.
//
// machine.I2C([id=-1,] scl, sda, *, freq=400000, timeout=255): scl and sda must be Pin objects
// (ValueError "expecting a pin"), an id other than -1 is ValueError "invalid I2C peripheral",
// as on the ESP8266, whose machine.I2C is the software I2C. Methods, as the board's:
//   scan()                                          -> [0x29] (the sensor), or []
//   writeto(addr, buf, stop=True)                   -> number of bytes acknowledged
//   readfrom_into(addr, buf, stop=True)             -> None
//   readfrom(addr, nbytes, stop=True)               -> bytes
//   writeto_mem(addr, memaddr, buf, *, addrsize=8)  -> None (one transfer: memaddr, then buf)
//   readfrom_mem_into(addr, memaddr, buf, *, addrsize=8) -> None (memaddr written, repeated
//                                                      start, len(buf) bytes read)
//   readfrom_mem(addr, memaddr, nbytes, *, addrsize=8)   -> bytes
// An address nobody acknowledges raises OSError(ENODEV), as the board's I2C does on an
// address NACK; memaddr goes out most significant byte first, addrsize // 8 bytes (8, 16, 24
// or 32). Every byte the sensor receives is acknowledged.
//
// The sensor behaves as mpy-scripts/sim/sim_tsl2591.py (its strict mode), byte for byte: the
// command byte (CMD bit 0x80 required, TRANSACTION 01 normal = register pointer with
// auto-increment, 11 special function = clear interrupt flags, 00/10 reserved: ValueError
// "sim TSL2591: ..."), the pointer kept between transfers, registers 0x00..0x1F, ID (0x12)
// reads 0x50, PID/ID/STATUS/data read-only, CONTROL bit 7 (SRESET) resets, ENABLE with PON and
// AEN starts an integration that completes at the first read after `not_ready_reads` reads
// (STATUS.AVALID set, C0DATAL..C1DATAH little-endian), PON or AEN off clears AVALID. One
// difference from the Python model: a zero-length writeto is an address probe (returns 0, as
// on a board; scan() does that), not the model's "empty write" ValueError. Time is not
// modelled: an integration is ready as soon as it is read (the drivers still call
// time.sleep_ms, which advances the port's clock without executing anything: modtime.c).
//
// Simulation-only functions (no board has them; the names say so):
//   machine.sim_tsl2591(full=None, ir=None, *, present=None, fail_bus=None, device_id=None,
//       not_ready_reads=None): the raw channel counts the next integration yields (0..65535,
//       default 0, 0) and the faults: present=False (no acknowledge: ENODEV), fail_bus=True
//       (every transfer OSError(EIO)), device_id (what ID reads), not_ready_reads;
//   machine.sim_tsl2591_state() -> (bytes of the 32 registers, pointer, writes, reads);
//   machine.sim_i2c_log(list or None): append one tuple per transfer, in the Python model's
//       format (("writeto", addr, bytes), ("readfrom_into", addr, bytes), ("writeto_mem",
//       addr, memaddr, bytes), ("readfrom_mem_into", addr, memaddr, bytes));
//   machine.sim_meter(reset=False, into=None) and machine.sim_meter_calibrate(): the metering
//       of the bus methods and time.sleep_ms (below); machine.SimI2CUnmetered(...): the same
//       bus without the metering (its method table holds the plain bodies), to check it.
//
// Metering. Each transfer method (and time.sleep_ms, modtime.c) is registered as a thunk that
// calls the method's plain C function through sim_meter_<kind>(), which reads CCOUNT just
// before and just after the call and adds the difference (x 25: QEMU -icount shift=0 and the
// sim core's 40 MHz CCOUNT) and one call to the method's meter: plain static words, so
// reading them from Python (sim_meter(), after the measured loop) allocates nothing inside the
// loop. A call that raises is not counted. sim_meter_calibrate() measures, per calling
// convention (fun_1, var, kw), in C: (1) the metering inside the window: K calls of a metered
// do-nothing function (sim_meter_nop, two instructions: movi, ret), the window sum / K minus
// those two; the loop's length is made prime to 5 (one nop more if needed) and K is a
// multiple of 25, so the windows start at every CCOUNT phase equally often and the average
// is exact; (2) the whole metering cost per call: the loop calling the metered do-nothing
// thunk minus the same loop calling sim_meter_nop directly, over K calls (exact to 25 / K).
// The bench subtracts (1) from each window (the bodies) and (2) from the total per call.
#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "simmeter.h"

// -- metering -------------------------------------------------------------------------------

typedef struct {
    uint32_t ticks;   // CCOUNT ticks (25 instructions each) inside the windows
    uint32_t calls;
} sim_meter_t;

static sim_meter_t sim_meters[SIM_METER_N];

static inline uint32_t meter_ccount(void) {
    uint32_t c;
    __asm__ volatile ("rsr %0, ccount" : "=a" (c) : : "memory");
    return c;
}

__attribute__((noinline)) mp_obj_t sim_meter_1(unsigned idx, mp_fun_1_t f, mp_obj_t a) {
    uint32_t t0 = meter_ccount();
    mp_obj_t r = f(a);
    uint32_t t1 = meter_ccount();
    sim_meters[idx].ticks += t1 - t0;
    sim_meters[idx].calls += 1;
    return r;
}

__attribute__((noinline)) mp_obj_t sim_meter_var(unsigned idx, mp_fun_var_t f, size_t n_args, const mp_obj_t *args) {
    uint32_t t0 = meter_ccount();
    mp_obj_t r = f(n_args, args);
    uint32_t t1 = meter_ccount();
    sim_meters[idx].ticks += t1 - t0;
    sim_meters[idx].calls += 1;
    return r;
}

__attribute__((noinline)) mp_obj_t sim_meter_kw(unsigned idx, mp_fun_kw_t f, size_t n_args, const mp_obj_t *args, mp_map_t *kw) {
    uint32_t t0 = meter_ccount();
    mp_obj_t r = f(n_args, args, kw);
    uint32_t t1 = meter_ccount();
    sim_meters[idx].ticks += t1 - t0;
    sim_meters[idx].calls += 1;
    return r;
}

// The do-nothing function of the calibration: exactly two instructions (returns MP_OBJ_NULL;
// only the calibration loops see its result).
#define SIM_METER_NOP_INSNS 2
__asm__ (
    "    .section .text.sim_meter_nop, \"ax\", @progbits\n"
    "    .align 4\n"
    "    .global sim_meter_nop\n"
    "    .type sim_meter_nop, @function\n"
    "sim_meter_nop:\n"
    "    movi a2, 0\n"
    "    ret\n"
    "    .size sim_meter_nop, . - sim_meter_nop\n"
    "    .previous\n");
mp_obj_t sim_meter_nop(void);

// Metered do-nothing thunks: the same shape as the methods' thunks.
static mp_obj_t cal_thunk_1(mp_obj_t a) {
    return sim_meter_1(SIM_METER_CAL_1, (mp_fun_1_t)(void *)sim_meter_nop, a);
}
static mp_obj_t cal_thunk_var(size_t n_args, const mp_obj_t *args) {
    return sim_meter_var(SIM_METER_CAL_VAR, (mp_fun_var_t)(void *)sim_meter_nop, n_args, args);
}
static mp_obj_t cal_thunk_kw(size_t n_args, const mp_obj_t *args, mp_map_t *kw) {
    return sim_meter_kw(SIM_METER_CAL_KW, (mp_fun_kw_t)(void *)sim_meter_nop, n_args, args, kw);
}

#define CAL_K 1000   // a multiple of 25
static const mp_obj_t cal_args[4];

// Instructions of CAL_K calls of f (CCOUNT x 25, exact to 25 over the whole loop); `extra`
// adds one instruction per iteration.
static __attribute__((noinline)) uint32_t cal_loop_1(mp_fun_1_t f, int extra) {
    uint32_t c0 = meter_ccount();
    for (unsigned k = CAL_K; k; k--) {
        f(cal_args[0]);
        if (extra) {
            __asm__ volatile ("nop");
        }
    }
    return (meter_ccount() - c0) * 25;
}

static __attribute__((noinline)) uint32_t cal_loop_var(mp_fun_var_t f, int extra) {
    uint32_t c0 = meter_ccount();
    for (unsigned k = CAL_K; k; k--) {
        f(3, cal_args);
        if (extra) {
            __asm__ volatile ("nop");
        }
    }
    return (meter_ccount() - c0) * 25;
}

static __attribute__((noinline)) uint32_t cal_loop_kw(mp_fun_kw_t f, int extra) {
    uint32_t c0 = meter_ccount();
    for (unsigned k = CAL_K; k; k--) {
        f(4, cal_args, NULL);
        if (extra) {
            __asm__ volatile ("nop");
        }
    }
    return (meter_ccount() - c0) * 25;
}

static uint32_t cal_run(int kind, int extra) {
    switch (kind) {
        case 0:
            return cal_loop_1(cal_thunk_1, extra);
        case 1:
            return cal_loop_var(cal_thunk_var, extra);
        default:
            return cal_loop_kw(cal_thunk_kw, extra);
    }
}

static uint32_t cal_run_nop(int kind, int extra) {
    switch (kind) {
        case 0:
            return cal_loop_1((mp_fun_1_t)(void *)sim_meter_nop, extra);
        case 1:
            return cal_loop_var((mp_fun_var_t)(void *)sim_meter_nop, extra);
        default:
            return cal_loop_kw((mp_fun_kw_t)(void *)sim_meter_nop, extra);
    }
}

static const qstr sim_meter_kinds[3] = { MP_QSTR_fun_1, MP_QSTR_var, MP_QSTR_kw };

// machine.sim_meter_calibrate() -> ((kind, window_insns, whole_insns, K, nop_insns), ...) for
// the kinds "fun_1", "var", "kw": over K calls, window_insns = the windows' sum around the
// do-nothing function (its nop_insns instructions each included), whole_insns = what the
// metering adds to K calls (metered thunk minus a direct call of the do-nothing function).
static mp_obj_t machine_sim_meter_calibrate(void) {
    mp_obj_t out[3];
    for (int kind = 0; kind < 3; kind++) {
        sim_meter_t *m = &sim_meters[SIM_METER_CAL_1 + kind];
        int extra = 0;
        uint32_t window, metered;
        for (;;) {
            m->ticks = m->calls = 0;
            metered = cal_run(kind, extra);
            window = m->ticks * 25;
            uint32_t per_iter = (metered + CAL_K / 2) / CAL_K;
            if (per_iter % 5 != 0 || extra) {
                break;
            }
            extra = 1;  // an iteration of a multiple of 5 instructions: start phases not uniform
        }
        uint32_t plain = cal_run_nop(kind, extra);
        mp_obj_t t[5] = {
            MP_OBJ_NEW_QSTR(sim_meter_kinds[kind]),
            mp_obj_new_int_from_uint(window),
            mp_obj_new_int((mp_int_t)(metered - plain)),
            MP_OBJ_NEW_SMALL_INT(CAL_K),
            MP_OBJ_NEW_SMALL_INT(SIM_METER_NOP_INSNS),
        };
        out[kind] = mp_obj_new_tuple(5, t);
        m->ticks = m->calls = 0;
    }
    return mp_obj_new_tuple(3, out);
}
static MP_DEFINE_CONST_FUN_OBJ_0(machine_sim_meter_calibrate_obj, machine_sim_meter_calibrate);

static const qstr sim_meter_names[SIM_METER_N_FUNCS] = {
    MP_QSTR_writeto, MP_QSTR_readfrom_into, MP_QSTR_readfrom, MP_QSTR_writeto_mem,
    MP_QSTR_readfrom_mem_into, MP_QSTR_readfrom_mem, MP_QSTR_sleep_ms,
};
static const uint8_t sim_meter_kind_of[SIM_METER_N_FUNCS] = { 1, 1, 1, 2, 2, 2, 0 };

// machine.sim_meter(reset=False, into=None) -> ((name, kind, insns, calls), ...) for
// I2C.writeto, readfrom_into, readfrom, writeto_mem, readfrom_mem_into, readfrom_mem and
// time.sleep_ms: the sums since the last reset (then reset if asked). With `into`, a list of
// 2 x 7 items, the sums go there instead (insns, calls, in that order; small ints): nothing is
// allocated, so reading between measured loops leaves the heap as it was (allocations of
// bytecode frames cost more on a fuller heap).
static mp_obj_t machine_sim_meter(size_t n_args, const mp_obj_t *args) {
    mp_obj_t ret;
    if (n_args == 2 && args[1] != mp_const_none) {
        size_t len;
        mp_obj_t *items;
        if (!mp_obj_is_type(args[1], &mp_type_list)) {
            mp_raise_TypeError(MP_ERROR_TEXT("sim_meter: into must be a list"));
        }
        mp_obj_list_get(args[1], &len, &items);
        if (len != 2 * SIM_METER_N_FUNCS) {
            mp_raise_ValueError(MP_ERROR_TEXT("sim_meter: into must have 14 items"));
        }
        for (int i = 0; i < SIM_METER_N_FUNCS; i++) {
            items[2 * i] = mp_obj_new_int_from_uint(sim_meters[i].ticks * 25);
            items[2 * i + 1] = mp_obj_new_int_from_uint(sim_meters[i].calls);
        }
        ret = args[1];
    } else {
        mp_obj_t out[SIM_METER_N_FUNCS];
        for (int i = 0; i < SIM_METER_N_FUNCS; i++) {
            mp_obj_t t[4] = {
                MP_OBJ_NEW_QSTR(sim_meter_names[i]),
                MP_OBJ_NEW_QSTR(sim_meter_kinds[sim_meter_kind_of[i]]),
                mp_obj_new_int_from_uint(sim_meters[i].ticks * 25),
                mp_obj_new_int_from_uint(sim_meters[i].calls),
            };
            out[i] = mp_obj_new_tuple(4, t);
        }
        ret = mp_obj_new_tuple(SIM_METER_N_FUNCS, out);
    }
    if (n_args > 0 && mp_obj_is_true(args[0])) {
        memset(sim_meters, 0, sizeof(sim_meters));
    }
    return ret;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_sim_meter_obj, 0, 2, machine_sim_meter);

// -- Pin ------------------------------------------------------------------------------------

typedef struct {
    mp_obj_base_t base;
    uint8_t id;
    uint8_t mode;
    uint8_t value;
} machine_pin_obj_t;

extern const mp_obj_type_t machine_pin_type;

// The ESP8266's GPIOs (6..11 drive the flash: not available), one object each, as a board's
// Pin objects are static: Pin(5) allocates nothing.
#define PIN(n) { { &machine_pin_type }, n, 0, 0 }
static machine_pin_obj_t machine_pins[] = {
    PIN(0), PIN(1), PIN(2), PIN(3), PIN(4), PIN(5), PIN(12), PIN(13), PIN(14), PIN(15), PIN(16),
};

static machine_pin_obj_t *pin_get(mp_obj_t id_in) {
    mp_int_t id = mp_obj_get_int(id_in);
    for (size_t i = 0; i < MP_ARRAY_SIZE(machine_pins); i++) {
        if (machine_pins[i].id == id) {
            return &machine_pins[i];
        }
    }
    mp_raise_ValueError(MP_ERROR_TEXT("invalid pin"));
}

static void machine_pin_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "Pin(%u)", self->id);
}

// Pin(id, mode=-1, pull=-1, *, value=None): mode and value are remembered; nothing is driven.
static mp_obj_t machine_pin_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    (void)type;
    enum { ARG_id, ARG_mode, ARG_pull, ARG_value };
    static const mp_arg_t allowed[] = {
        { MP_QSTR_id, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_mode, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_pull, MP_ARG_INT, {.u_int = -1} },
        { MP_QSTR_value, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all_kw_array(n_args, n_kw, args, MP_ARRAY_SIZE(allowed), allowed, a);
    machine_pin_obj_t *self = pin_get(a[ARG_id].u_obj);
    if (a[ARG_mode].u_int != -1) {
        self->mode = a[ARG_mode].u_int;
    }
    if (a[ARG_value].u_obj != mp_const_none) {
        self->value = mp_obj_is_true(a[ARG_value].u_obj);
    }
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t machine_pin_value(size_t n_args, const mp_obj_t *args) {
    machine_pin_obj_t *self = MP_OBJ_TO_PTR(args[0]);
    if (n_args == 1) {
        return MP_OBJ_NEW_SMALL_INT(self->value);
    }
    self->value = mp_obj_is_true(args[1]);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_pin_value_obj, 1, 2, machine_pin_value);

static mp_obj_t machine_pin_on(mp_obj_t self_in) {
    ((machine_pin_obj_t *)MP_OBJ_TO_PTR(self_in))->value = 1;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_pin_on_obj, machine_pin_on);

static mp_obj_t machine_pin_off(mp_obj_t self_in) {
    ((machine_pin_obj_t *)MP_OBJ_TO_PTR(self_in))->value = 0;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_pin_off_obj, machine_pin_off);

static const mp_rom_map_elem_t machine_pin_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_value), MP_ROM_PTR(&machine_pin_value_obj) },
    { MP_ROM_QSTR(MP_QSTR_on), MP_ROM_PTR(&machine_pin_on_obj) },
    { MP_ROM_QSTR(MP_QSTR_off), MP_ROM_PTR(&machine_pin_off_obj) },
    { MP_ROM_QSTR(MP_QSTR_IN), MP_ROM_INT(0) },
    { MP_ROM_QSTR(MP_QSTR_OUT), MP_ROM_INT(1) },
    { MP_ROM_QSTR(MP_QSTR_OPEN_DRAIN), MP_ROM_INT(2) },
    { MP_ROM_QSTR(MP_QSTR_PULL_UP), MP_ROM_INT(1) },
};
static MP_DEFINE_CONST_DICT(machine_pin_locals, machine_pin_locals_table);

MP_DEFINE_CONST_OBJ_TYPE(
    machine_pin_type,
    MP_QSTR_Pin,
    MP_TYPE_FLAG_NONE,
    make_new, machine_pin_make_new,
    print, machine_pin_print,
    locals_dict, &machine_pin_locals
    );

// -- the simulated TSL2591 ------------------------------------------------------------------

#define TSL_ADDR 0x29
#define TSL_ENABLE 0x00
#define TSL_CONTROL 0x01
#define TSL_READ_ONLY_FIRST 0x11   // PID; 0x11..0x17 read-only, 0x18.. reserved
#define TSL_ID 0x12
#define TSL_STATUS 0x13
#define TSL_C0DATAL 0x14
#define TSL_ON 0x03                // PON | AEN
#define TSL_AVALID 0x01
#define TSL_AINT 0x10
#define TSL_NPINTR 0x20
#define TSL_SRESET 0x80

static struct {
    uint8_t regs[32];
    uint8_t ptr;
    uint8_t device_id;
    bool absent;
    bool fail_bus;
    uint16_t ch0, ch1;
    mp_uint_t not_ready_reads, pending;
    mp_uint_t writes, reads;
} tsl = { .device_id = 0x50 };

MP_REGISTER_ROOT_POINTER(mp_obj_t sim_i2c_log);

static NORETURN void tsl_bad(mp_rom_error_text_t fmt, mp_uint_t v) {
    mp_raise_msg_varg(&mp_type_ValueError, fmt, (unsigned)v);
}

// The address phase: a failed bus, or nobody acknowledging the address.
static void tsl_check(mp_int_t addr) {
    if (tsl.fail_bus) {
        mp_raise_OSError(MP_EIO);
    }
    if (tsl.absent || addr != TSL_ADDR) {
        mp_raise_OSError(MP_ENODEV);
    }
}

static void tsl_reset(void) {
    memset(tsl.regs, 0, sizeof(tsl.regs));
    tsl.ptr = 0;
}

// A command byte: true if data bytes may follow (normal transaction).
static bool tsl_command(mp_uint_t cmd) {
    if (!(cmd & 0x80)) {
        tsl_bad(MP_ERROR_TEXT("sim TSL2591: command byte 0x%02x lacks the CMD bit (0x80)"), cmd);
    }
    switch (cmd & 0x60) {
        case 0x20:
            tsl.ptr = cmd & 0x1F;
            return true;
        case 0x60:
            tsl.regs[TSL_STATUS] &= 0xFF ^ (TSL_AINT | TSL_NPINTR);
            return false;
    }
    tsl_bad(MP_ERROR_TEXT("sim TSL2591: reserved transaction type in command byte 0x%02x"), cmd);
}

static void tsl_store(uint8_t value) {
    uint8_t reg = tsl.ptr;
    if (reg < TSL_READ_ONLY_FIRST) {
        if (reg == TSL_CONTROL && (value & TSL_SRESET)) {
            tsl_reset();
            return;
        }
        if (reg == TSL_ENABLE) {
            bool was_on = (tsl.regs[TSL_ENABLE] & TSL_ON) == TSL_ON;
            tsl.regs[TSL_ENABLE] = value;
            if ((value & TSL_ON) != TSL_ON) {
                tsl.regs[TSL_STATUS] &= 0xFF ^ TSL_AVALID;
            } else if (!was_on) {
                // A new integration starts.
                tsl.regs[TSL_STATUS] &= 0xFF ^ TSL_AVALID;
                tsl.pending = tsl.not_ready_reads;
            }
        } else {
            tsl.regs[reg] = value;
        }
    }
    tsl.ptr = (reg + 1) & 0x1F;
}

// Complete an integration if the ALS is on and one is due.
static void tsl_integrate(void) {
    uint8_t *regs = tsl.regs;
    if ((regs[TSL_STATUS] & TSL_AVALID) || (regs[TSL_ENABLE] & TSL_ON) != TSL_ON) {
        return;
    }
    if (tsl.pending) {
        tsl.pending--;
        return;
    }
    regs[TSL_C0DATAL] = tsl.ch0 & 0xFF;
    regs[TSL_C0DATAL + 1] = tsl.ch0 >> 8;
    regs[TSL_C0DATAL + 2] = tsl.ch1 & 0xFF;
    regs[TSL_C0DATAL + 3] = tsl.ch1 >> 8;
    regs[TSL_STATUS] |= TSL_AVALID;
}

// A read transfer of n bytes from the register pointer.
static void tsl_load(uint8_t *buf, size_t n) {
    tsl_integrate();
    tsl.regs[TSL_ID] = tsl.device_id;
    uint8_t ptr = tsl.ptr;
    for (size_t i = 0; i < n; i++) {
        buf[i] = tsl.regs[ptr];
        ptr = (ptr + 1) & 0x1F;
    }
    tsl.ptr = ptr;
    tsl.reads++;
}

static bool log_on(void) {
    return MP_STATE_VM(sim_i2c_log) != MP_OBJ_NULL && MP_STATE_VM(sim_i2c_log) != mp_const_none;
}

static void log_append(qstr what, mp_int_t addr, mp_int_t memaddr, bool mem, const void *buf, size_t len) {
    mp_obj_t t[4];
    size_t n = 0;
    t[n++] = MP_OBJ_NEW_QSTR(what);
    t[n++] = MP_OBJ_NEW_SMALL_INT(addr);
    if (mem) {
        t[n++] = mp_obj_new_int(memaddr);
    }
    t[n++] = mp_obj_new_bytes(buf, len);
    mp_obj_list_append(MP_STATE_VM(sim_i2c_log), mp_obj_new_tuple(n, t));
}

// The memaddr bytes (most significant first) of a *_mem transfer.
static size_t mem_bytes(mp_int_t memaddr, mp_int_t addrsize, uint8_t *out) {
    if (addrsize != 8 && addrsize != 16 && addrsize != 24 && addrsize != 32) {
        mp_raise_ValueError(MP_ERROR_TEXT("addrsize must be 8, 16, 24 or 32"));
    }
    size_t n = 0;
    for (int shift = addrsize - 8; shift >= 0; shift -= 8) {
        out[n++] = (mp_uint_t)memaddr >> shift;
    }
    return n;
}

// -- I2C ------------------------------------------------------------------------------------

typedef struct {
    mp_obj_base_t base;
    uint8_t scl, sda;
    uint32_t freq;
} machine_i2c_obj_t;

static const mp_obj_type_t machine_i2c_type;
static const mp_obj_type_t machine_sim_unmetered_i2c_type;

static void machine_i2c_print(const mp_print_t *print, mp_obj_t self_in, mp_print_kind_t kind) {
    (void)kind;
    machine_i2c_obj_t *self = MP_OBJ_TO_PTR(self_in);
    mp_printf(print, "I2C(scl=%u, sda=%u, freq=%u)", self->scl, self->sda, (unsigned)self->freq);
}

static uint8_t pin_arg(mp_obj_t o) {
    if (!mp_obj_is_type(o, &machine_pin_type)) {
        mp_raise_ValueError(MP_ERROR_TEXT("expecting a pin"));
    }
    return ((machine_pin_obj_t *)MP_OBJ_TO_PTR(o))->id;
}

static mp_obj_t machine_i2c_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    if (n_args > 0) {
        if (args[0] != MP_OBJ_NEW_SMALL_INT(-1)) {
            mp_raise_ValueError(MP_ERROR_TEXT("invalid I2C peripheral"));
        }
        n_args--;
        args++;
    }
    enum { ARG_scl, ARG_sda, ARG_freq, ARG_timeout };
    static const mp_arg_t allowed[] = {
        { MP_QSTR_scl, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_sda, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
        { MP_QSTR_freq, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 400000} },
        { MP_QSTR_timeout, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 255} },
    };
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all_kw_array(n_args, n_kw, args, MP_ARRAY_SIZE(allowed), allowed, a);
    machine_i2c_obj_t *self = mp_obj_malloc(machine_i2c_obj_t, type);
    self->scl = pin_arg(a[ARG_scl].u_obj);
    self->sda = pin_arg(a[ARG_sda].u_obj);
    self->freq = a[ARG_freq].u_int;
    return MP_OBJ_FROM_PTR(self);
}

static mp_obj_t machine_i2c_scan(mp_obj_t self_in) {
    (void)self_in;
    mp_obj_t list = mp_obj_new_list(0, NULL);
    if (!tsl.absent && !tsl.fail_bus) {
        mp_obj_list_append(list, MP_OBJ_NEW_SMALL_INT(TSL_ADDR));
    }
    return list;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_i2c_scan_obj, machine_i2c_scan);

// The methods' plain bodies (what a board's methods are, less the bit-banging); the method
// table holds the metered thunks (METERED_*, below).

static mp_obj_t i2c_writeto(size_t n_args, const mp_obj_t *args) {
    mp_int_t addr = mp_obj_get_int(args[1]);
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[2], &b, MP_BUFFER_READ);
    bool stop = n_args < 4 || mp_obj_is_true(args[3]);
    (void)stop;
    tsl_check(addr);
    if (log_on()) {
        log_append(MP_QSTR_writeto, addr, 0, false, b.buf, b.len);
    }
    const uint8_t *p = b.buf;
    if (b.len) {
        if (tsl_command(p[0])) {
            for (size_t i = 1; i < b.len; i++) {
                tsl_store(p[i]);
            }
        } else if (b.len > 1) {
            mp_raise_ValueError(MP_ERROR_TEXT("sim TSL2591: data after a special-function command"));
        }
    }
    tsl.writes++;
    return MP_OBJ_NEW_SMALL_INT(b.len);
}

static mp_obj_t i2c_readfrom_into(size_t n_args, const mp_obj_t *args) {
    mp_int_t addr = mp_obj_get_int(args[1]);
    mp_buffer_info_t b;
    mp_get_buffer_raise(args[2], &b, MP_BUFFER_WRITE);
    bool stop = n_args < 4 || mp_obj_is_true(args[3]);
    (void)stop;
    tsl_check(addr);
    tsl_load(b.buf, b.len);
    if (log_on()) {
        log_append(MP_QSTR_readfrom_into, addr, 0, false, b.buf, b.len);
    }
    return mp_const_none;
}

static mp_obj_t i2c_readfrom(size_t n_args, const mp_obj_t *args) {
    mp_int_t addr = mp_obj_get_int(args[1]);
    vstr_t v;
    vstr_init_len(&v, mp_obj_get_int(args[2]));
    bool stop = n_args < 4 || mp_obj_is_true(args[3]);
    (void)stop;
    tsl_check(addr);
    tsl_load((uint8_t *)v.buf, v.len);
    if (log_on()) {
        log_append(MP_QSTR_readfrom_into, addr, 0, false, v.buf, v.len);
    }
    return mp_obj_new_bytes_from_vstr(&v);
}

// addr, memaddr, the buffer (or nbytes), addrsize (keyword-only), as the board's.
static const mp_arg_t i2c_mem_args[] = {
    { MP_QSTR_addr, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
    { MP_QSTR_memaddr, MP_ARG_REQUIRED | MP_ARG_INT, {.u_int = 0} },
    { MP_QSTR_arg, MP_ARG_REQUIRED | MP_ARG_OBJ, {.u_obj = MP_OBJ_NULL} },
    { MP_QSTR_addrsize, MP_ARG_KW_ONLY | MP_ARG_INT, {.u_int = 8} },
};

static mp_obj_t i2c_writeto_mem(size_t n_args, const mp_obj_t *args, mp_map_t *kw) {
    mp_arg_val_t a[4];
    mp_arg_parse_all(n_args - 1, args + 1, kw, 4, i2c_mem_args, a);
    mp_buffer_info_t b;
    mp_get_buffer_raise(a[2].u_obj, &b, MP_BUFFER_READ);
    uint8_t ma[4];
    size_t n_ma = mem_bytes(a[1].u_int, a[3].u_int, ma);
    mp_int_t addr = a[0].u_int;
    tsl_check(addr);
    if (log_on()) {
        log_append(MP_QSTR_writeto_mem, addr, a[1].u_int, true, b.buf, b.len);
    }
    // After a special-function command the data is ignored (as the Python model does).
    if (tsl_command(ma[0])) {
        for (size_t i = 1; i < n_ma; i++) {
            tsl_store(ma[i]);
        }
        const uint8_t *p = b.buf;
        for (size_t i = 0; i < b.len; i++) {
            tsl_store(p[i]);
        }
    }
    tsl.writes++;
    return mp_const_none;
}

// memaddr written (no stop), then n bytes read into buf.
static void read_mem(mp_int_t addr, mp_int_t memaddr, mp_int_t addrsize, uint8_t *buf, size_t n) {
    uint8_t ma[4];
    size_t n_ma = mem_bytes(memaddr, addrsize, ma);
    tsl_check(addr);
    if (!tsl_command(ma[0])) {
        tsl_bad(MP_ERROR_TEXT("sim TSL2591: read after a special-function command 0x%02x"), ma[0]);
    }
    for (size_t i = 1; i < n_ma; i++) {
        tsl_store(ma[i]);
    }
    tsl_load(buf, n);
    if (log_on()) {
        log_append(MP_QSTR_readfrom_mem_into, addr, memaddr, true, buf, n);
    }
}

static mp_obj_t i2c_readfrom_mem_into(size_t n_args, const mp_obj_t *args, mp_map_t *kw) {
    mp_arg_val_t a[4];
    mp_arg_parse_all(n_args - 1, args + 1, kw, 4, i2c_mem_args, a);
    mp_buffer_info_t b;
    mp_get_buffer_raise(a[2].u_obj, &b, MP_BUFFER_WRITE);
    read_mem(a[0].u_int, a[1].u_int, a[3].u_int, b.buf, b.len);
    return mp_const_none;
}

static mp_obj_t i2c_readfrom_mem(size_t n_args, const mp_obj_t *args, mp_map_t *kw) {
    mp_arg_val_t a[4];
    mp_arg_parse_all(n_args - 1, args + 1, kw, 4, i2c_mem_args, a);
    vstr_t v;
    vstr_init_len(&v, mp_obj_get_int(a[2].u_obj));
    read_mem(a[0].u_int, a[1].u_int, a[3].u_int, (uint8_t *)v.buf, v.len);
    return mp_obj_new_bytes_from_vstr(&v);
}

#define METERED_VAR(name, idx) \
    static mp_obj_t name##_m(size_t n_args, const mp_obj_t *args) { \
        return sim_meter_var(idx, name, n_args, args); \
    }
#define METERED_KW(name, idx) \
    static mp_obj_t name##_m(size_t n_args, const mp_obj_t *args, mp_map_t *kw) { \
        return sim_meter_kw(idx, name, n_args, args, kw); \
    }
METERED_VAR(i2c_writeto, SIM_METER_WRITETO)
METERED_VAR(i2c_readfrom_into, SIM_METER_READFROM_INTO)
METERED_VAR(i2c_readfrom, SIM_METER_READFROM)
METERED_KW(i2c_writeto_mem, SIM_METER_WRITETO_MEM)
METERED_KW(i2c_readfrom_mem_into, SIM_METER_READFROM_MEM_INTO)
METERED_KW(i2c_readfrom_mem, SIM_METER_READFROM_MEM)

static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_i2c_writeto_obj, 3, 4, i2c_writeto_m);
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_i2c_readfrom_into_obj, 3, 4, i2c_readfrom_into_m);
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(machine_i2c_readfrom_obj, 3, 4, i2c_readfrom_m);
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_i2c_writeto_mem_obj, 1, i2c_writeto_mem_m);
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_i2c_readfrom_mem_into_obj, 1, i2c_readfrom_mem_into_m);
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_i2c_readfrom_mem_obj, 1, i2c_readfrom_mem_m);

static const mp_rom_map_elem_t machine_i2c_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_scan), MP_ROM_PTR(&machine_i2c_scan_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeto), MP_ROM_PTR(&machine_i2c_writeto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_into), MP_ROM_PTR(&machine_i2c_readfrom_into_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom), MP_ROM_PTR(&machine_i2c_readfrom_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeto_mem), MP_ROM_PTR(&machine_i2c_writeto_mem_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_mem_into), MP_ROM_PTR(&machine_i2c_readfrom_mem_into_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_mem), MP_ROM_PTR(&machine_i2c_readfrom_mem_obj) },
};
static MP_DEFINE_CONST_DICT(machine_i2c_locals, machine_i2c_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    machine_i2c_type,
    MP_QSTR_I2C,
    MP_TYPE_FLAG_NONE,
    make_new, machine_i2c_make_new,
    print, machine_i2c_print,
    locals_dict, &machine_i2c_locals
    );

// machine.SimI2CUnmetered: the same bus with the plain bodies in its method table (no
// metering), for checking the metering's calibration (the bench's check column).
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(plain_writeto_obj, 3, 4, i2c_writeto);
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(plain_readfrom_into_obj, 3, 4, i2c_readfrom_into);
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(plain_readfrom_obj, 3, 4, i2c_readfrom);
static MP_DEFINE_CONST_FUN_OBJ_KW(plain_writeto_mem_obj, 1, i2c_writeto_mem);
static MP_DEFINE_CONST_FUN_OBJ_KW(plain_readfrom_mem_into_obj, 1, i2c_readfrom_mem_into);
static MP_DEFINE_CONST_FUN_OBJ_KW(plain_readfrom_mem_obj, 1, i2c_readfrom_mem);

static const mp_rom_map_elem_t machine_sim_unmetered_i2c_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_scan), MP_ROM_PTR(&machine_i2c_scan_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeto), MP_ROM_PTR(&plain_writeto_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_into), MP_ROM_PTR(&plain_readfrom_into_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom), MP_ROM_PTR(&plain_readfrom_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeto_mem), MP_ROM_PTR(&plain_writeto_mem_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_mem_into), MP_ROM_PTR(&plain_readfrom_mem_into_obj) },
    { MP_ROM_QSTR(MP_QSTR_readfrom_mem), MP_ROM_PTR(&plain_readfrom_mem_obj) },
};
static MP_DEFINE_CONST_DICT(machine_sim_unmetered_i2c_locals, machine_sim_unmetered_i2c_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(
    machine_sim_unmetered_i2c_type,
    MP_QSTR_I2C,
    MP_TYPE_FLAG_NONE,
    make_new, machine_i2c_make_new,
    print, machine_i2c_print,
    locals_dict, &machine_sim_unmetered_i2c_locals
    );

// -- simulation-only hooks ------------------------------------------------------------------

static mp_obj_t machine_sim_tsl2591(size_t n_args, const mp_obj_t *pos, mp_map_t *kw) {
    enum { ARG_full, ARG_ir, ARG_present, ARG_fail_bus, ARG_device_id, ARG_not_ready_reads };
    static const mp_arg_t allowed[] = {
        { MP_QSTR_full, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_ir, MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_present, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_fail_bus, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_device_id, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
        { MP_QSTR_not_ready_reads, MP_ARG_KW_ONLY | MP_ARG_OBJ, {.u_obj = mp_const_none} },
    };
    mp_arg_val_t a[MP_ARRAY_SIZE(allowed)];
    mp_arg_parse_all(n_args, pos, kw, MP_ARRAY_SIZE(allowed), allowed, a);
    if ((a[ARG_full].u_obj == mp_const_none) != (a[ARG_ir].u_obj == mp_const_none)) {
        mp_raise_TypeError(MP_ERROR_TEXT("sim_tsl2591: give both full and ir, or neither"));
    }
    if (a[ARG_full].u_obj != mp_const_none) {
        mp_int_t full = mp_obj_get_int(a[ARG_full].u_obj);
        mp_int_t ir = mp_obj_get_int(a[ARG_ir].u_obj);
        if (full < 0 || full > 0xFFFF || ir < 0 || ir > 0xFFFF) {
            mp_raise_ValueError(MP_ERROR_TEXT("channel counts must be 0..65535"));
        }
        tsl.ch0 = full;
        tsl.ch1 = ir;
    }
    if (a[ARG_present].u_obj != mp_const_none) {
        tsl.absent = !mp_obj_is_true(a[ARG_present].u_obj);
    }
    if (a[ARG_fail_bus].u_obj != mp_const_none) {
        tsl.fail_bus = mp_obj_is_true(a[ARG_fail_bus].u_obj);
    }
    if (a[ARG_device_id].u_obj != mp_const_none) {
        tsl.device_id = mp_obj_get_int(a[ARG_device_id].u_obj);
    }
    if (a[ARG_not_ready_reads].u_obj != mp_const_none) {
        mp_int_t n = mp_obj_get_int(a[ARG_not_ready_reads].u_obj);
        if (n < 0) {
            mp_raise_ValueError(MP_ERROR_TEXT("not_ready_reads must be >= 0"));
        }
        tsl.not_ready_reads = n;
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_KW(machine_sim_tsl2591_obj, 0, machine_sim_tsl2591);

static mp_obj_t machine_sim_tsl2591_state(void) {
    mp_obj_t t[4] = {
        mp_obj_new_bytes(tsl.regs, sizeof(tsl.regs)),
        MP_OBJ_NEW_SMALL_INT(tsl.ptr),
        mp_obj_new_int_from_uint(tsl.writes),
        mp_obj_new_int_from_uint(tsl.reads),
    };
    return mp_obj_new_tuple(4, t);
}
static MP_DEFINE_CONST_FUN_OBJ_0(machine_sim_tsl2591_state_obj, machine_sim_tsl2591_state);

static mp_obj_t machine_sim_i2c_log(mp_obj_t log) {
    if (log != mp_const_none && !mp_obj_is_type(log, &mp_type_list)) {
        mp_raise_TypeError(MP_ERROR_TEXT("sim_i2c_log: a list or None"));
    }
    MP_STATE_VM(sim_i2c_log) = log;
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(machine_sim_i2c_log_obj, machine_sim_i2c_log);

static const mp_rom_map_elem_t machine_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_machine) },
    { MP_ROM_QSTR(MP_QSTR_Pin), MP_ROM_PTR(&machine_pin_type) },
    { MP_ROM_QSTR(MP_QSTR_I2C), MP_ROM_PTR(&machine_i2c_type) },
    { MP_ROM_QSTR(MP_QSTR_SoftI2C), MP_ROM_PTR(&machine_i2c_type) },
    { MP_ROM_QSTR(MP_QSTR_SimI2CUnmetered), MP_ROM_PTR(&machine_sim_unmetered_i2c_type) },
    { MP_ROM_QSTR(MP_QSTR_sim_tsl2591), MP_ROM_PTR(&machine_sim_tsl2591_obj) },
    { MP_ROM_QSTR(MP_QSTR_sim_tsl2591_state), MP_ROM_PTR(&machine_sim_tsl2591_state_obj) },
    { MP_ROM_QSTR(MP_QSTR_sim_i2c_log), MP_ROM_PTR(&machine_sim_i2c_log_obj) },
    { MP_ROM_QSTR(MP_QSTR_sim_meter), MP_ROM_PTR(&machine_sim_meter_obj) },
    { MP_ROM_QSTR(MP_QSTR_sim_meter_calibrate), MP_ROM_PTR(&machine_sim_meter_calibrate_obj) },
};
static MP_DEFINE_CONST_DICT(machine_module_globals, machine_module_globals_table);

const mp_obj_module_t machine_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&machine_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_machine, machine_module);
