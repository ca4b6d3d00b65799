// `json` for the esp8266-sim port (extmod's json is not in the core sdist).
// dumps/dump: what the core's objects print in JSON mode (None -> null, True -> true, str escaped,
// list/tuple -> [...], dict -> {...}, int, float as repr), as MicroPython's json.dumps does.
// loads: a small recursive parser of JSON text (objects, arrays, strings with \-escapes
// including \uXXXX in the BMP, numbers, true/false/null), enough for test data.
#include <string.h>
#include "py/runtime.h"
#include "py/objstr.h"
#include "py/parsenum.h"
#include "py/unicode.h"
#include "py/stream.h"

static mp_obj_t json_dumps(mp_obj_t obj) {
    vstr_t vstr;
    #if MICROPY_PY_JSON_SEPARATORS
    // The core's JSON printing takes its separators from an extended printer.
    mp_print_ext_t print;
    vstr_init_print(&vstr, 8, &print.base);
    print.item_separator = ", ";
    print.key_separator = ": ";
    mp_obj_print_helper(&print.base, obj, PRINT_JSON);
    #else
    mp_print_t print;
    vstr_init_print(&vstr, 8, &print);
    mp_obj_print_helper(&print, obj, PRINT_JSON);
    #endif
    return mp_obj_new_str_from_utf8_vstr(&vstr);
}
static MP_DEFINE_CONST_FUN_OBJ_1(json_dumps_obj, json_dumps);

// json.dump(obj, stream): the same text written to a stream (io.BytesIO, a socket).
static mp_obj_t json_dump(mp_obj_t obj, mp_obj_t stream) {
    mp_get_stream_raise(stream, MP_STREAM_OP_WRITE);
    #if MICROPY_PY_JSON_SEPARATORS
    mp_print_ext_t print;
    print.base.data = MP_OBJ_TO_PTR(stream);
    print.base.print_strn = mp_stream_write_adaptor;
    print.item_separator = ", ";
    print.key_separator = ": ";
    mp_obj_print_helper(&print.base, obj, PRINT_JSON);
    #else
    mp_print_t print = { MP_OBJ_TO_PTR(stream), mp_stream_write_adaptor };
    mp_obj_print_helper(&print, obj, PRINT_JSON);
    #endif
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_2(json_dump_obj, json_dump);

typedef struct {
    const char *p, *end;
} json_in_t;

static MP_NORETURN void json_error(void) {
    mp_raise_ValueError(MP_ERROR_TEXT("syntax error in JSON"));
}

static void skip_ws(json_in_t *in) {
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\t' || *in->p == '\n' || *in->p == '\r')) {
        in->p++;
    }
}

static bool take(json_in_t *in, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(in->end - in->p) >= n && memcmp(in->p, word, n) == 0) {
        in->p += n;
        return true;
    }
    return false;
}

static mp_obj_t parse_value(json_in_t *in);

static mp_obj_t parse_string(json_in_t *in) {
    vstr_t v;
    vstr_init(&v, 16);
    in->p++; // opening quote
    for (;;) {
        if (in->p >= in->end) {
            json_error();
        }
        char c = *in->p++;
        if (c == '"') {
            break;
        }
        if (c == '\\') {
            if (in->p >= in->end) {
                json_error();
            }
            c = *in->p++;
            switch (c) {
                case 'b': c = '\b'; break;
                case 'f': c = '\f'; break;
                case 'n': c = '\n'; break;
                case 'r': c = '\r'; break;
                case 't': c = '\t'; break;
                case 'u': {
                    if (in->end - in->p < 4) {
                        json_error();
                    }
                    mp_uint_t u = 0;
                    for (int i = 0; i < 4; i++) {
                        char h = *in->p++;
                        if (!unichar_isxdigit(h)) {
                            json_error();
                        }
                        u = u << 4 | unichar_xdigit_value(h);
                    }
                    vstr_add_char(&v, u);
                    continue;
                }
                default: break; // \" \\ \/
            }
        }
        vstr_add_byte(&v, c);
    }
    return mp_obj_new_str_from_utf8_vstr(&v);
}

static mp_obj_t parse_value(json_in_t *in) {
    skip_ws(in);
    if (in->p >= in->end) {
        json_error();
    }
    char c = *in->p;
    if (c == '"') {
        return parse_string(in);
    }
    if (c == '[' || c == '{') {
        bool is_list = c == '[';
        char close = is_list ? ']' : '}';
        mp_obj_t container = is_list ? mp_obj_new_list(0, NULL) : mp_obj_new_dict(0);
        in->p++;
        skip_ws(in);
        if (in->p < in->end && *in->p == close) {
            in->p++;
            return container;
        }
        for (;;) {
            if (is_list) {
                mp_obj_list_append(container, parse_value(in));
            } else {
                skip_ws(in);
                if (in->p >= in->end || *in->p != '"') {
                    json_error();
                }
                mp_obj_t key = parse_string(in);
                skip_ws(in);
                if (in->p >= in->end || *in->p++ != ':') {
                    json_error();
                }
                mp_obj_dict_store(container, key, parse_value(in));
            }
            skip_ws(in);
            if (in->p >= in->end) {
                json_error();
            }
            c = *in->p++;
            if (c == close) {
                return container;
            }
            if (c != ',') {
                json_error();
            }
        }
    }
    if (take(in, "true")) {
        return mp_const_true;
    }
    if (take(in, "false")) {
        return mp_const_false;
    }
    if (take(in, "null")) {
        return mp_const_none;
    }
    const char *start = in->p;
    bool is_float = false;
    while (in->p < in->end && strchr("+-0123456789.eE", *in->p) && *in->p) {
        if (*in->p == '.' || *in->p == 'e' || *in->p == 'E') {
            is_float = true;
        }
        in->p++;
    }
    if (in->p == start) {
        json_error();
    }
    if (is_float) {
        return mp_parse_num_float(start, in->p - start, false, NULL);
    }
    return mp_parse_num_integer(start, in->p - start, 10, NULL);
}

static mp_obj_t json_loads(mp_obj_t text) {
    size_t len;
    const char *s = mp_obj_str_get_data(text, &len);
    json_in_t in = { s, s + len };
    mp_obj_t v = parse_value(&in);
    skip_ws(&in);
    if (in.p != in.end) {
        json_error();
    }
    return v;
}
static MP_DEFINE_CONST_FUN_OBJ_1(json_loads_obj, json_loads);

static const mp_rom_map_elem_t json_module_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_json) },
    { MP_ROM_QSTR(MP_QSTR_dump), MP_ROM_PTR(&json_dump_obj) },
    { MP_ROM_QSTR(MP_QSTR_dumps), MP_ROM_PTR(&json_dumps_obj) },
    { MP_ROM_QSTR(MP_QSTR_loads), MP_ROM_PTR(&json_loads_obj) },
};
static MP_DEFINE_CONST_DICT(json_module_globals, json_module_globals_table);

const mp_obj_module_t mp_module_json = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&json_module_globals,
};
MP_REGISTER_MODULE(MP_QSTR_json, mp_module_json);
