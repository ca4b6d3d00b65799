// C runtime functions nothing else provides: the two single-precision libm functions py/
// calls that compiler_builtins does not export, and two ESP8266 ROM functions (bzero,
// __umulsidi3) that modules linked by mpy-ld may call through the ROM stubs.
// Everything else in <math.h> (powf, fmodf, floorf, copysignf, fabsf, rintf, ...) is linked
// from our compiler_builtins build (the `libm` code inside it).
#include <math.h>

float nanf(const char *tag) {
    (void)tag;
    return __builtin_nanf("");
}

// The port never changes the rounding mode, so rintf (round half to even) is nearbyintf.
float nearbyintf(float x) {
    return rintf(x);
}

// The ROM's bzero (mpy-ld may resolve a module's call to it): not in string0.c.
#include <string.h>
void bzero(void *s, size_t n) {
    memset(s, 0, n);
}

// The ROM's __umulsidi3 (32 x 32 -> 64 unsigned): not in compiler_builtins, nor in Debian's
// lx106 libgcc. Built from 16-bit halves so that only 32-bit multiplies are used.
unsigned long long __umulsidi3(unsigned int a, unsigned int b) {
    unsigned int al = a & 0xffff, ah = a >> 16, bl = b & 0xffff, bh = b >> 16;
    unsigned long long mid = (unsigned long long)(al * bh) + (ah * bl);
    return (unsigned long long)(al * bl) + (mid << 16) + ((unsigned long long)(ah * bh) << 32);
}

// math-module functions compiler_builtins does not export, written from their definitions
// (not the libm crate's precision for acosh/asinh/atanh/lgamma near their edges; the tests
// use none of them).
#include <stdint.h>

float frexpf(float x, int *e) {
    union { float f; uint32_t u; } v = { x };
    int ex = (v.u >> 23) & 0xff;
    if (ex == 0) {                          // zero or subnormal
        if (x == 0.0f) {
            *e = 0;
            return x;
        }
        x = frexpf(x * 16777216.0f, e);     // 2**24
        *e -= 24;
        return x;
    }
    if (ex == 0xff) {                       // inf or nan
        *e = 0;
        return x;
    }
    *e = ex - 126;
    v.u = (v.u & 0x807fffff) | (126u << 23);
    return v.f;
}

float modff(float x, float *ip) {
    float t = truncf(x);
    *ip = t;
    return isinf(x) ? copysignf(0.0f, x) : copysignf(x - t, x);
}

float acoshf(float x) {
    return logf(x + sqrtf(x * x - 1.0f));
}

float asinhf(float x) {
    float a = fabsf(x);
    return copysignf(logf(a + sqrtf(a * a + 1.0f)), x);
}

float atanhf(float x) {
    return 0.5f * logf((1.0f + x) / (1.0f - x));
}

float lgammaf(float x) {
    return logf(fabsf(tgammaf(x)));
}
