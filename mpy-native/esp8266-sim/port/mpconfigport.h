// MicroPython configuration of the esp8266-sim port: MicroPython's core configured as the
// ESP8266 port where it matters to native modules and to the heap (see ../README.md), run on
// `qemu-system-xtensa -M sim -cpu lx106`. Our own file, written from the port's documented
// settings; nothing here is copied from ports/esp8266.

#include <stdint.h>

#define MICROPY_CONFIG_ROM_LEVEL            (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Object model and numbers, as the ESP8266 port.
#define MICROPY_OBJ_REPR                    (MICROPY_OBJ_REPR_C)   // 30-bit immediate floats, 31-bit small ints
#define MICROPY_FLOAT_IMPL                  (MICROPY_FLOAT_IMPL_FLOAT)
#define MICROPY_FLOAT_FORMAT_IMPL           (MICROPY_FLOAT_FORMAT_IMPL_BASIC)
#define MICROPY_LONGINT_IMPL                (MICROPY_LONGINT_IMPL_MPZ)
#define MICROPY_PY_BUILTINS_COMPLEX         (0)
#define MICROPY_PY_BUILTINS_STR_UNICODE     (1)
#define MICROPY_PY_MATH                     (1)   // as the ESP8266 port; libm from compiler_builtins
#define MICROPY_PY_CMATH                    (0)
#define MICROPY_PY_UCTYPES                  (0)   // extmod, not in the core sdist

// Memory: GC heap (static array in main.c), finalisers, stack check, as the ESP8266 port.
#define MICROPY_ENABLE_GC                   (1)
#define MICROPY_ENABLE_FINALISER            (1)
#define MICROPY_GC_STACK_ENTRY_TYPE         uint16_t
#define MICROPY_STACK_CHECK                 (1)
#define MICROPY_STACK_CHECK_MARGIN          (1024)
#define MICROPY_ENABLE_EMERGENCY_EXCEPTION_BUF (1)
#define MICROPY_EMERGENCY_EXCEPTION_BUF_SIZE (256)
#define MICROPY_ALLOC_PATH_MAX              (128)
#define MICROPY_ALLOC_LEXER_INDENT_INIT     (8)
#define MICROPY_ALLOC_PARSE_RULE_INIT       (48)
#define MICROPY_ALLOC_PARSE_RULE_INC        (8)
#define MICROPY_ALLOC_PARSE_RESULT_INC      (8)
#define MICROPY_ALLOC_PARSE_CHUNK_INIT      (64)
#define MICROPY_ENABLE_SCHEDULER            (1)
#define MICROPY_KBD_EXCEPTION               (1)
#define MICROPY_ENABLE_SOURCE_LINE          (1)
#define MICROPY_MODULE_BUILTIN_INIT         (1)
#define MICROPY_CAN_OVERRIDE_BUILTINS       (1)
#define MICROPY_USE_INTERNAL_ERRNO          (1)
#define MICROPY_PY___FILE__                 (0)
#define MICROPY_WARNINGS                    (1)
#define MICROPY_PY_STR_BYTES_CMP_WARN       (1)
#define MICROPY_STREAMS_NON_BLOCK           (1)
#define MICROPY_PY_MICROPYTHON_MEM_INFO     (1)
#define MICROPY_PY_SYS_PLATFORM             "esp8266"
#define MICROPY_PY_SYS_STDFILES             (1)
#define MICROPY_PY_SYS_MAXSIZE              (1)
#define MICROPY_PY_COLLECTIONS_DEQUE        (1)
#define MICROPY_PY_COLLECTIONS_ORDEREDDICT  (1)
#define MICROPY_PY_IO_IOBASE                (1)
#define MICROPY_PY_BUILTINS_HELP            (0)
#define MICROPY_PY_BUILTINS_INPUT           (0)
#define MICROPY_HELPER_REPL                 (0)
#define MICROPY_REPL_EVENT_DRIVEN           (0)

// Loading .mpy files with native code for the lx106, as ESP8266_GENERIC (1 MiB+ flash).
#define MICROPY_PERSISTENT_CODE_LOAD        (1)
#define MICROPY_EMIT_XTENSA                 (1)
#define MICROPY_EMIT_INLINE_XTENSA          (1)

// Files: scripts and modules are read from the host over semihosting (port/semihost.c);
// py/reader.c's POSIX reader does the reading (see README: what differs from a board).
#define MICROPY_READER_POSIX                (1)
#define MICROPY_ENABLE_COMPILER             (1)

// Modules that are not in the core sdist: the port's own (time, json, esp, gc's threshold).
#define MICROPY_PY_TIME                     (0)
#define MICROPY_PY_JSON                     (1)   // the core prints JSON; port/modjson.c has dumps

#define MICROPY_MAKE_POINTER_CALLABLE(p)    ((void *)((mp_uint_t)(p)))
#define MP_SSIZE_MAX                        (0x7fffffff)

typedef int32_t mp_int_t;
typedef uint32_t mp_uint_t;
typedef long mp_off_t;

#include <sys/types.h>
#include <alloca.h>

// Native code goes to a separate executable region, as esp_native_code_commit does (port/modesp.c).
void *esp_native_code_commit(void *buf, size_t len, void *reloc);
#define MP_PLAT_COMMIT_EXEC(buf, len, reloc) esp_native_code_commit(buf, len, reloc)

#define MICROPY_HW_BOARD_NAME               "ESP8266 (QEMU lx106 sim)"
#define MICROPY_HW_MCU_NAME                 "ESP8266"

#define MP_STATE_PORT MP_STATE_VM
