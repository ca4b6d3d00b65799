// The `esp` module of the esp8266-sim port and MP_PLAT_COMMIT_EXEC.
//
// Native code is committed as on the ESP8266 (behaviour of esp_native_code_commit in
// ports/esp8266/modesp.c): the length is rounded up to 4, the code is relocated for its final
// address and copied into a bump-allocated executable region: by default the free tail of
// IRAM1 (ending at 0x40108000; its size is the firmware's -E option, 500 bytes unless set),
// or, after esp.set_native_code_location(start, length), the memory-mapped flash at
// 0x40200000 + start (each 4 KiB sector erased to 0xFF when the bump pointer first reaches it).
// A full region raises the port's MemoryError text.
//
// Extras for measuring (not on a board): esp.icount(), esp.native_code_used().
#include <string.h>
#include "py/runtime.h"
#include "py/persistentcode.h"
#include "py/mphal.h"

#define IRAM1_END (0x40108000)
#define FLASH_START (0x40200000)
#define FLASH_END (0x40300000)
#define FLASH_SEC_SIZE (4096)

static bool code_in_flash;
static uint32_t code_start, code_end, code_cur, code_erased;

void esp_native_code_init(size_t iram_bytes) {
    code_in_flash = false;
    code_start = IRAM1_END - ((iram_bytes + 3) & ~3);
    code_end = IRAM1_END;
    code_cur = code_start;
    code_erased = 0;
}

void *esp_native_code_commit(void *buf, size_t len, void *reloc) {
    len = (len + 3) & ~3;
    if (code_cur + len > code_end) {
        mp_raise_msg_varg(&mp_type_MemoryError,
            MP_ERROR_TEXT("memory allocation failed, allocating %u bytes for native code"), (uint)len);
    }
    void *dest = (void *)(code_in_flash ? FLASH_START + code_cur : code_cur);
    if (reloc) {
        mp_native_relocate(reloc, buf, (uintptr_t)dest);
    }
    if (code_in_flash) {
        while (code_erased < code_cur + len) {
            memset((void *)(FLASH_START + code_erased), 0xff, FLASH_SEC_SIZE);
            code_erased += FLASH_SEC_SIZE;
        }
    }
    memcpy(dest, buf, len);
    code_cur += len;
    return dest;
}

static mp_obj_t esp_set_native_code_location(mp_obj_t start_in, mp_obj_t len_in) {
    if (start_in == mp_const_none && len_in == mp_const_none) {
        // Back to IRAM1, keeping the size the firmware was started with.
        esp_native_code_init(IRAM1_END - code_start);
    } else {
        uint32_t start = mp_obj_get_int(start_in);
        uint32_t end = start + mp_obj_get_int(len_in);
        if (end > FLASH_END - FLASH_START) {
            mp_raise_ValueError(MP_ERROR_TEXT("flash location must be below 1MByte"));
        }
        code_in_flash = true;
        code_start = start;
        code_end = end;
        code_cur = start;
        code_erased = start & ~(FLASH_SEC_SIZE - 1);
    }
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(esp_set_native_code_location_obj, esp_set_native_code_location);

// Instructions executed since start-up, modulo 2**30 (a small int: reading it allocates
// nothing). QEMU runs with -icount shift=0, so the sim core's CCOUNT advances once per 25
// instructions: the value is exact to 25 instructions. Difference: (b - a) & 0x3fffffff.
static mp_obj_t esp_icount(void) {
    return MP_OBJ_NEW_SMALL_INT((mp_hal_ticks_cpu() * 25u) & 0x3fffffff);
}
static MP_DEFINE_CONST_FUN_OBJ_0(esp_icount_obj, esp_icount);

// Bytes used so far in the current native-code region.
static mp_obj_t esp_native_code_used(void) {
    return MP_OBJ_NEW_SMALL_INT(code_cur - code_start);
}
static MP_DEFINE_CONST_FUN_OBJ_0(esp_native_code_used_obj, esp_native_code_used);

// Where the filesystem starts: 1 MiB, as on ESP8266_GENERIC boards with 2 MiB or more of
// flash (boot.py checks that the native-code region stays below it).
static mp_obj_t esp_flash_user_start(void) {
    return MP_OBJ_NEW_SMALL_INT(0x100000);
}
static MP_DEFINE_CONST_FUN_OBJ_0(esp_flash_user_start_obj, esp_flash_user_start);

static const mp_rom_map_elem_t esp_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_esp) },
    { MP_ROM_QSTR(MP_QSTR_set_native_code_location), MP_ROM_PTR(&esp_set_native_code_location_obj) },
    { MP_ROM_QSTR(MP_QSTR_flash_user_start), MP_ROM_PTR(&esp_flash_user_start_obj) },
    { MP_ROM_QSTR(MP_QSTR_icount), MP_ROM_PTR(&esp_icount_obj) },
    { MP_ROM_QSTR(MP_QSTR_native_code_used), MP_ROM_PTR(&esp_native_code_used_obj) },
};
static MP_DEFINE_CONST_DICT(esp_module_globals, esp_module_globals_table);

const mp_obj_module_t esp_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&esp_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_esp, esp_module);
