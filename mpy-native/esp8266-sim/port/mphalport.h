// HAL of the esp8266-sim port: console over semihosting, time from CCOUNT (see modtime.c).
#include <stdint.h>

static inline uint32_t esp_sim_ccount(void) {
    uint32_t c;
    __asm__ volatile ("rsr %0, ccount" : "=a" (c));
    return c;
}

mp_uint_t mp_hal_ticks_ms(void);
mp_uint_t mp_hal_ticks_us(void);
void mp_hal_delay_ms(mp_uint_t ms);
void mp_hal_delay_us(mp_uint_t us);
static inline mp_uint_t mp_hal_ticks_cpu(void) {
    return esp_sim_ccount();
}
static inline void mp_hal_set_interrupt_char(int c) {
    (void)c;
}

// No pins in the simulator (keeps the core's virtual-pin API, which lives in extmod, out).
#define mp_hal_pin_obj_t uint32_t
