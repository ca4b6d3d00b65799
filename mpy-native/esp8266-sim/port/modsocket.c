// A `socket` module without a network, for the esp8266-sim port: on a board `socket` is a
// built-in (lwIP), so importing it costs no heap; here it is the same kind of built-in, with
// the names the device scripts use, and every connection attempt fails with
// OSError(EHOSTUNREACH). Registered as extensible: a socket.py on sys.path (the tests'
// simulated broker, tests/board/socket.py) replaces it.
#include "py/runtime.h"
#include "py/mperrno.h"

static mp_obj_t socket_getaddrinfo(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    (void)args;
    mp_raise_OSError(MP_EHOSTUNREACH);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(socket_getaddrinfo_obj, 2, 6, socket_getaddrinfo);

static mp_obj_t socket_socket(size_t n_args, const mp_obj_t *args) {
    (void)n_args;
    (void)args;
    mp_raise_OSError(MP_EHOSTUNREACH);
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(socket_socket_obj, 0, 3, socket_socket);

static const mp_rom_map_elem_t socket_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_socket) },
    { MP_ROM_QSTR(MP_QSTR_getaddrinfo), MP_ROM_PTR(&socket_getaddrinfo_obj) },
    { MP_ROM_QSTR(MP_QSTR_socket), MP_ROM_PTR(&socket_socket_obj) },
    { MP_ROM_QSTR(MP_QSTR_AF_INET), MP_ROM_INT(2) },
    { MP_ROM_QSTR(MP_QSTR_SOCK_STREAM), MP_ROM_INT(1) },
};
static MP_DEFINE_CONST_DICT(socket_module_globals, socket_module_globals_table);

const mp_obj_module_t mp_module_socket = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&socket_module_globals,
};
MP_REGISTER_EXTENSIBLE_MODULE(MP_QSTR_socket, mp_module_socket);
