// `binascii.hexlify` for the esp8266-sim port (extmod's binascii is not in the core sdist);
// the tests send floats back as the hex of their bytes.
#include "py/runtime.h"
#include "py/objstr.h"

static mp_obj_t binascii_hexlify(mp_obj_t data) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(data, &buf, MP_BUFFER_READ);
    vstr_t v;
    vstr_init_len(&v, buf.len * 2);
    static const char hex[] = "0123456789abcdef";
    const byte *b = buf.buf;
    for (size_t i = 0; i < buf.len; i++) {
        v.buf[2 * i] = hex[b[i] >> 4];
        v.buf[2 * i + 1] = hex[b[i] & 15];
    }
    return mp_obj_new_bytes_from_vstr(&v);
}
static MP_DEFINE_CONST_FUN_OBJ_1(binascii_hexlify_obj, binascii_hexlify);

static const mp_rom_map_elem_t binascii_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_binascii) },
    { MP_ROM_QSTR(MP_QSTR_hexlify), MP_ROM_PTR(&binascii_hexlify_obj) },
};
static MP_DEFINE_CONST_DICT(binascii_module_globals, binascii_module_globals_table);

const mp_obj_module_t mp_module_binascii = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&binascii_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_binascii, mp_module_binascii);
