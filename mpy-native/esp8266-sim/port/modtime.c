// A small `time` module for the esp8266-sim port (extmod's is not in the core sdist).
//
// The clock is the core's CCOUNT: QEMU runs with -icount shift=0 (one instruction per virtual
// nanosecond) and the sim core's CCOUNT then advances once per 25 instructions, i.e. at
// 40 MHz of virtual time. Sleeping does not execute anything: it advances the clock by the
// time asked for (a simulator need not burn 10^8 instructions to wait 100 ms), so time-outs
// and schedules behave as on a board and tests stay fast and repeatable.
// time.time() counts seconds from 2000-01-01 (the ESP8266's epoch) as the board's RTC does
// after power-up, starting at 0.
#include "py/runtime.h"
#include "py/mphal.h"
#include "py/smallint.h"
#include "simmeter.h"

#define CCOUNT_HZ 40000000u
#define TICKS_PERIOD (MICROPY_PY_TIME_TICKS_PERIOD)

static uint64_t clock_cycles;   // CCOUNT extended to 64 bits, plus slept time
static uint32_t last_ccount;

static uint64_t now_cycles(void) {
    uint32_t c = esp_sim_ccount();
    clock_cycles += (uint32_t)(c - last_ccount);
    last_ccount = c;
    return clock_cycles;
}

mp_uint_t mp_hal_ticks_ms(void) {
    return now_cycles() / (CCOUNT_HZ / 1000);
}

mp_uint_t mp_hal_ticks_us(void) {
    return now_cycles() / (CCOUNT_HZ / 1000000);
}

void mp_hal_delay_us(mp_uint_t us) {
    now_cycles();
    clock_cycles += (uint64_t)us * (CCOUNT_HZ / 1000000);
}

void mp_hal_delay_ms(mp_uint_t ms) {
    mp_hal_delay_us(ms * 1000);
}

static mp_obj_t time_ticks_ms(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_ms() & (TICKS_PERIOD - 1));
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_ms_obj, time_ticks_ms);

static mp_obj_t time_ticks_us(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_us() & (TICKS_PERIOD - 1));
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_us_obj, time_ticks_us);

static mp_obj_t time_ticks_cpu(void) {
    return MP_OBJ_NEW_SMALL_INT(mp_hal_ticks_cpu() & (TICKS_PERIOD - 1));
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_ticks_cpu_obj, time_ticks_cpu);

static mp_obj_t time_ticks_diff(mp_obj_t end_in, mp_obj_t start_in) {
    mp_uint_t start = MP_OBJ_SMALL_INT_VALUE(start_in);
    mp_uint_t end = MP_OBJ_SMALL_INT_VALUE(end_in);
    mp_int_t diff = ((end - start + TICKS_PERIOD / 2) & (TICKS_PERIOD - 1)) - TICKS_PERIOD / 2;
    return MP_OBJ_NEW_SMALL_INT(diff);
}
static MP_DEFINE_CONST_FUN_OBJ_2(time_ticks_diff_obj, time_ticks_diff);

static mp_obj_t time_ticks_add(mp_obj_t ticks_in, mp_obj_t delta_in) {
    mp_uint_t ticks = MP_OBJ_SMALL_INT_VALUE(ticks_in);
    mp_uint_t delta = mp_obj_get_int(delta_in);
    return MP_OBJ_NEW_SMALL_INT((ticks + delta) & (TICKS_PERIOD - 1));
}
static MP_DEFINE_CONST_FUN_OBJ_2(time_ticks_add_obj, time_ticks_add);

static mp_obj_t time_sleep(mp_obj_t s_in) {
    mp_hal_delay_us((mp_uint_t)(mp_obj_get_float(s_in) * 1000000));
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_obj, time_sleep);

static mp_obj_t time_sleep_ms(mp_obj_t ms_in) {
    mp_int_t ms = mp_obj_get_int(ms_in);
    if (ms > 0) {
        mp_hal_delay_ms(ms);
    }
    return mp_const_none;
}
// Registered through the port's instruction metering (modmachine.c: machine.sim_meter()), so a
// benchmark can tell the simulator's sleep_ms body from the caller's work.
static mp_obj_t time_sleep_ms_metered(mp_obj_t ms_in) {
    return sim_meter_1(SIM_METER_SLEEP_MS, time_sleep_ms, ms_in);
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_ms_obj, time_sleep_ms_metered);

static mp_obj_t time_sleep_us(mp_obj_t us_in) {
    mp_int_t us = mp_obj_get_int(us_in);
    if (us > 0) {
        mp_hal_delay_us(us);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_1(time_sleep_us_obj, time_sleep_us);

static mp_obj_t time_time(void) {
    return mp_obj_new_int_from_uint(mp_hal_ticks_ms() / 1000);
}
static MP_DEFINE_CONST_FUN_OBJ_0(time_time_obj, time_time);

static const mp_rom_map_elem_t time_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_time) },
    { MP_ROM_QSTR(MP_QSTR_ticks_ms), MP_ROM_PTR(&time_ticks_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_us), MP_ROM_PTR(&time_ticks_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_cpu), MP_ROM_PTR(&time_ticks_cpu_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_diff), MP_ROM_PTR(&time_ticks_diff_obj) },
    { MP_ROM_QSTR(MP_QSTR_ticks_add), MP_ROM_PTR(&time_ticks_add_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep), MP_ROM_PTR(&time_sleep_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_ms), MP_ROM_PTR(&time_sleep_ms_obj) },
    { MP_ROM_QSTR(MP_QSTR_sleep_us), MP_ROM_PTR(&time_sleep_us_obj) },
    { MP_ROM_QSTR(MP_QSTR_time), MP_ROM_PTR(&time_time_obj) },
};
static MP_DEFINE_CONST_DICT(time_module_globals, time_module_globals_table);

const mp_obj_module_t mp_module_time = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&time_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_time, mp_module_time);
