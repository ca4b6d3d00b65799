// `json.dumps` for the esp8266-sim port (extmod's json is not in the core sdist): what the
// core's objects print in JSON mode (None -> null, True -> true, str escaped, list/tuple ->
// [...], dict -> {...}, int, float as repr), as MicroPython's json.dumps does.
#include "py/runtime.h"
#include "py/objstr.h"

static mp_obj_t json_dumps(mp_obj_t obj) {
    vstr_t vstr;
    mp_print_t print;
    vstr_init_print(&vstr, 8, &print);
    mp_obj_print_helper(&print, obj, PRINT_JSON);
    return mp_obj_new_str_from_utf8_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(json_dumps_obj, json_dumps);

static const mp_rom_map_elem_t json_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_json) },
    { MP_ROM_QSTR(MP_QSTR_dumps), MP_ROM_PTR(&json_dumps_obj) },
};
static MP_DEFINE_CONST_DICT(json_module_globals, json_module_globals_table);

const mp_obj_module_t mp_module_json = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&json_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_json, mp_module_json);
