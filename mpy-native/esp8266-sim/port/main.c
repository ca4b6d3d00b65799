// Start-up of the esp8266-sim port: MicroPython's core configured as the ESP8266 port, run
// under `qemu-system-xtensa -M sim -cpu lx106 -semihosting`.
//
//   firmware.elf [-H HEAP] [-E EXEC] [--no-boot] SCRIPT.py|SCRIPT.mpy [ARGS...]
//
// HEAP: usable bytes of the 38 KiB GC heap (default all of it: a smaller value measures the
// smallest heap a script needs). EXEC: bytes of the IRAM1-tail native-code region (default
// 500, as on a board; esp.set_native_code_location() switches to the flash region).
// --no-boot: skip the model of what _boot.py leaves on the heap (below).
// Exit code: 0, 1 for an uncaught exception (traceback on stderr), SystemExit's code,
// 2 for bad arguments, 3 for an uncaught NLR, 4 for a failed C assertion, 5 abort(),
// 6 a CPU exception (esp_sim_fault).
#include <stdint.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "py/builtin.h"
#include "py/compile.h"
#include "py/gc.h"
#include "py/cstack.h"
#include "py/mperrno.h"
#include "py/mphal.h"
#include "py/persistentcode.h"
#include "py/runtime.h"
#include "py/objmodule.h"
#include "semihost.h"

// As ports/esp8266/main.c: a static 38 KiB heap and an 8 KiB stack limit.
#define HEAP_SIZE (38 * 1024)
#define STACK_LIMIT (8 * 1024)
static char heap[HEAP_SIZE] __attribute__((aligned(16)));

extern char _stack_top[];
void esp_native_code_init(size_t iram_bytes);

// What _boot.py leaves on a real board's heap that our tests cannot avoid: the FAT mount
// object (fs_user_mount_t with FF_MAX_SS=4096: 4,224 bytes), the VFS mount-table entry, and
// the `flashbdev` module (its globals, the FlashBdev class with 4 methods, the `bdev`
// instance), kept reachable from here. Not modelled: the UART/dupterm REPL objects, the
// readline history, and what a board's boot.py does (put the real one on the board and
// import it first, as tests/test_app_esp8266.py does).
#define BOOT_FAT_MOUNT_BYTES 4224
#define BOOT_VFS_MOUNT_BYTES 16
#define BOOT_FLASHBDEV_CLASS_BYTES 368
#define BOOT_FLASHBDEV_INSTANCE_BYTES 32
MP_REGISTER_ROOT_POINTER(void *esp_sim_boot_objects[2]);

// A stand-in object of `bytes` bytes on the heap: a bytearray object (one 16-byte block) and
// its zeroed buffer.
static mp_obj_t boot_block(size_t bytes) {
    return mp_obj_new_bytearray_by_ref(bytes - 16, m_malloc0(bytes - 16));
}

static void model_boot(void) {
    // _boot.py: gc.threshold((gc.mem_free() + gc.mem_alloc()) // 4)
    gc_info_t info;
    gc_info(&info);
    MP_STATE_MEM(gc_alloc_threshold) = (info.total / 4) / MICROPY_BYTES_PER_GC_BLOCK;
    MP_STATE_MEM(gc_alloc_amount) = 0;
    // from flashbdev import bdev: a module in sys.modules with the class and the instance.
    mp_obj_t mod = mp_obj_new_module(qstr_from_str("flashbdev"));
    mp_obj_t globals = MP_OBJ_FROM_PTR(mp_obj_module_get_globals(mod));
    mp_obj_dict_store(globals, MP_OBJ_NEW_QSTR(qstr_from_str("esp")), MP_OBJ_NEW_QSTR(MP_QSTR_esp));
    mp_obj_dict_store(globals, MP_OBJ_NEW_QSTR(qstr_from_str("FlashBdev")),
        boot_block(BOOT_FLASHBDEV_CLASS_BYTES));
    mp_obj_dict_store(globals, MP_OBJ_NEW_QSTR(qstr_from_str("size")), MP_OBJ_NEW_SMALL_INT(4 << 20));
    mp_obj_dict_store(globals, MP_OBJ_NEW_QSTR(qstr_from_str("bdev")),
        boot_block(BOOT_FLASHBDEV_INSTANCE_BYTES));
    // vfs.mount(bdev, "/"): the FAT object and the mount-table entry.
    MP_STATE_VM(esp_sim_boot_objects)[0] = m_malloc0(BOOT_FAT_MOUNT_BYTES);
    MP_STATE_VM(esp_sim_boot_objects)[1] = m_malloc0(BOOT_VFS_MOUNT_BYTES);
    gc_collect();
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static void run_file(const char *path) {
    qstr q = qstr_from_str(path);
    if (ends_with(path, ".mpy")) {
        mp_module_context_t *ctx = m_new_obj(mp_module_context_t);
        ctx->module.base.type = &mp_type_module;
        ctx->module.globals = mp_globals_get();
        mp_compiled_module_t cm;
        cm.context = ctx;
        mp_raw_code_load_file(q, &cm);
        mp_obj_t f = mp_make_function_from_proto_fun(cm.rc, ctx, NULL);
        mp_call_function_0(f);
    } else {
        mp_lexer_t *lex = mp_lexer_new_from_file(q);
        mp_parse_compile_execute(lex, MP_PARSE_FILE_INPUT, mp_globals_get(), mp_locals_get());
    }
}

static void stderr_strn(void *env, const char *str, size_t len) {
    (void)env;
    semihost_write(2, str, len);
}
static const mp_print_t stderr_print = {NULL, stderr_strn};

// Uncaught exception -> exit code: SystemExit's code, else 1 with the traceback on stderr.
static int handle_exception(mp_obj_t exc) {
    if (mp_obj_is_subclass_fast(MP_OBJ_FROM_PTR(mp_obj_get_type(exc)), MP_OBJ_FROM_PTR(&mp_type_SystemExit))) {
        mp_obj_t code = mp_obj_exception_get_value(exc);
        if (code == mp_const_none) {
            return 0;
        }
        if (mp_obj_is_small_int(code)) {
            return MP_OBJ_SMALL_INT_VALUE(code) & 0xff;
        }
        mp_obj_print_helper(&stderr_print, code, PRINT_STR);
        mp_print_str(&stderr_print, "\n");
        return 1;
    }
    mp_obj_print_exception(&stderr_print, exc);
    return 1;
}

static void errmsg(const char *s) {
    semihost_write(2, s, strlen(s));
}

static int parse_size(const char *s, size_t *out) {
    size_t v = 0;
    if (!*s) {
        return 0;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 1;
}

static char argv_buf[4096] __attribute__((aligned(4)));

int esp_sim_main(void) {
    int argc = semihost_call(SIMCALL_ARGC, 0, 0, 0, 0);
    int size = semihost_call(SIMCALL_ARGV_SIZE, 0, 0, 0, 0);
    if (argc < 1 || size <= 0 || size > (int)sizeof(argv_buf)) {
        errmsg("esp8266-sim: no arguments (run it with -semihosting-config enable=on,arg=firmware,arg=SCRIPT)\n");
        return 2;
    }
    semihost_call(SIMCALL_ARGV, (int)argv_buf, 0, 0, 0);
    char **argv = (char **)argv_buf;

    size_t heap_bytes = HEAP_SIZE, exec_bytes = 500;
    bool boot = true;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-H") == 0 && i + 1 < argc && parse_size(argv[i + 1], &heap_bytes)) {
            i++;
        } else if (strcmp(argv[i], "-E") == 0 && i + 1 < argc && parse_size(argv[i + 1], &exec_bytes)) {
            i++;
        } else if (strcmp(argv[i], "--no-boot") == 0) {
            boot = false;
        } else {
            errmsg("esp8266-sim: bad option; usage: firmware [-H HEAP] [-E EXEC] [--no-boot] SCRIPT [ARGS...]\n");
            return 2;
        }
    }
    if (i >= argc) {
        errmsg("esp8266-sim: no script given\n");
        return 2;
    }
    if (heap_bytes > HEAP_SIZE || heap_bytes < 2048) {
        errmsg("esp8266-sim: -H must be between 2048 and 38912 (the ESP8266 port's 38 KiB heap)\n");
        return 2;
    }
    if (exec_bytes > 0x8000) {
        errmsg("esp8266-sim: -E must be at most 32768 (IRAM1 is 32 KiB)\n");
        return 2;
    }

    mp_cstack_init_with_top(_stack_top, STACK_LIMIT);
    gc_init(heap, heap + heap_bytes);
    mp_init();
    mp_obj_list_append(mp_sys_path, MP_OBJ_NEW_QSTR(qstr_from_str("/lib")));
    for (int j = i + 1; j < argc; j++) {
        mp_obj_list_append(mp_sys_argv, mp_obj_new_str_from_cstr(argv[j]));
    }
    esp_native_code_init(exec_bytes);

    int ret = 0;
    nlr_buf_t nlr;
    if (nlr_push(&nlr) == 0) {
        if (boot) {
            model_boot();
        }
        run_file(argv[i]);
        nlr_pop();
    } else {
        ret = handle_exception(MP_OBJ_FROM_PTR(nlr.ret_val));
    }
    mp_deinit();
    return ret;
}

// Files come from the host (QEMU's working directory); "/lib/x" is "lib/x" there (semihost.c).
mp_import_stat_t mp_import_stat(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return MP_IMPORT_STAT_NO_EXIST;
    }
    char c;
    // Linux lets a directory be opened; reading it fails.
    int n = read(fd, &c, 1);
    close(fd);
    return n < 0 ? MP_IMPORT_STAT_DIR : MP_IMPORT_STAT_FILE;
}

mp_obj_t mp_builtin_open(size_t n_args, const mp_obj_t *args, mp_map_t *kwargs) {
    (void)n_args;
    (void)args;
    (void)kwargs;
    mp_raise_OSError(MP_EPERM);
}
MP_DEFINE_CONST_FUN_OBJ_KW(mp_builtin_open_obj, 1, mp_builtin_open);

uintptr_t mp_hal_stdio_poll(uintptr_t poll_flags) {
    (void)poll_flags;
    return 0;
}

int mp_hal_stdin_rx_chr(void) {
    char c;
    int n = read(0, &c, 1);
    return n == 1 ? (unsigned char)c : 4; // EOF -> Ctrl-D
}

mp_uint_t mp_hal_stdout_tx_strn(const char *str, size_t len) {
    semihost_write(1, str, len);
    return len;
}

void nlr_jump_fail(void *val) {
    (void)val;
    errmsg("esp8266-sim: FATAL: uncaught NLR\n");
    semihost_exit(3);
}

void __assert_func(const char *file, int line, const char *func, const char *expr) {
    (void)line;
    (void)func;
    errmsg("esp8266-sim: assertion failed: ");
    errmsg(expr);
    errmsg(" in ");
    errmsg(file);
    errmsg("\n");
    semihost_exit(4);
}

static void errhex(uint32_t v) {
    char buf[11] = "0x";
    for (int i = 0; i < 8; i++) {
        buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    }
    buf[10] = 0;
    errmsg(buf);
}

// A CPU exception (start.S's vectors): e.g. a native module jumping to a bad address after a
// corrupted relocation. Reported with the core's numbers, exit code 6.
void esp_sim_fault(uint32_t cause, uint32_t pc, uint32_t vaddr) {
    errmsg("esp8266-sim: CPU exception ");
    errhex(cause);
    errmsg(" (EXCCAUSE) at pc ");
    errhex(pc);
    errmsg(", address ");
    errhex(vaddr);
    errmsg("\n");
    semihost_exit(6);
}

void abort(void) {
    errmsg("esp8266-sim: abort\n");
    semihost_exit(5);
}

void exit(int status) {
    semihost_exit(status);
}
