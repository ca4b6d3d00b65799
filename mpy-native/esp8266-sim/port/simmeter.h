// Instruction metering of the esp8266-sim port's built-in C functions that drivers call (the
// simulated machine.I2C's transfer methods and time.sleep_ms): see modmachine.c. Simulator
// only: a board has none of this.
#ifndef ESP8266_SIM_SIMMETER_H
#define ESP8266_SIM_SIMMETER_H

#include "py/obj.h"

// Metered functions (index into the meter table; names in modmachine.c's sim_meter_names).
enum {
    SIM_METER_WRITETO,
    SIM_METER_READFROM_INTO,
    SIM_METER_READFROM,
    SIM_METER_WRITETO_MEM,
    SIM_METER_READFROM_MEM_INTO,
    SIM_METER_READFROM_MEM,
    SIM_METER_SLEEP_MS,
    SIM_METER_N_FUNCS,
    // Calibration slots, one per calling convention.
    SIM_METER_CAL_1 = SIM_METER_N_FUNCS,
    SIM_METER_CAL_VAR,
    SIM_METER_CAL_KW,
    SIM_METER_N,
};

// Call f with the arguments, adding the instructions from just before the call to just after
// it (CCOUNT x 25) and one call to meter idx. A call that raises is not counted.
mp_obj_t sim_meter_1(unsigned idx, mp_fun_1_t f, mp_obj_t a);
mp_obj_t sim_meter_var(unsigned idx, mp_fun_var_t f, size_t n_args, const mp_obj_t *args);
mp_obj_t sim_meter_kw(unsigned idx, mp_fun_kw_t f, size_t n_args, const mp_obj_t *args, mp_map_t *kw);

#endif
