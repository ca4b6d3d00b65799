/* Single-precision libm for the esp8266-sim port: compiler_builtins (Rust) provides the
   functions, port/libm.c those it lacks. Only what py/ calls with MICROPY_FLOAT_IMPL_FLOAT. */
#ifndef ESP8266_SIM_MATH_H
#define ESP8266_SIM_MATH_H
#define NAN (__builtin_nanf(""))
#define INFINITY (__builtin_inff())
#define HUGE_VALF (__builtin_huge_valf())
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)
#define signbit(x) __builtin_signbit(x)
#define fpclassify(x) __builtin_fpclassify(FP_NAN, FP_INFINITE, FP_NORMAL, FP_SUBNORMAL, FP_ZERO, x)
#define FP_NAN 0
#define FP_INFINITE 1
#define FP_ZERO 2
#define FP_SUBNORMAL 3
#define FP_NORMAL 4
float fabsf(float x);
float powf(float x, float y);
float nanf(const char *tag);
float fmodf(float x, float y);
float copysignf(float x, float y);
float floorf(float x);
float ceilf(float x);
float truncf(float x);
float rintf(float x);
float nearbyintf(float x);
float sqrtf(float x);
float logf(float x);
float log2f(float x);
float log10f(float x);
float expf(float x);
float frexpf(float x, int *e);
float ldexpf(float x, int e);
float modff(float x, float *ip);
float expm1f(float x);
float coshf(float x);
float sinhf(float x);
float tanhf(float x);
float acoshf(float x);
float asinhf(float x);
float atanhf(float x);
float cosf(float x);
float sinf(float x);
float tanf(float x);
float acosf(float x);
float asinf(float x);
float atanf(float x);
float erff(float x);
float erfcf(float x);
float tgammaf(float x);
float lgammaf(float x);
float atan2f(float y, float x);
float hypotf(float x, float y);
double fabs(double x);
double pow(double x, double y);
double floor(double x);
#endif
