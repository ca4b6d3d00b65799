/* py/modsys.c includes this extmod header (not in the core sdist) for the compiler name in
   sys.implementation._machine; the esp8266-sim port needs nothing else from it. */
#ifndef ESP8266_SIM_MODPLATFORM_H
#define ESP8266_SIM_MODPLATFORM_H
#define MICROPY_PLATFORM_COMPILER "GCC " __VERSION__
#endif
