// The two single-precision libm functions py/ calls that compiler_builtins does not export.
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
