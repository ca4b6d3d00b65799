/* The one fact py/persistentcode.h asks of the core: the lx106 runs the call0 ABI (no
   register windows), so .mpy native code is arch "xtensa" (9), not "xtensawin". */
#ifndef ESP8266_SIM_CORE_ISA_H
#define ESP8266_SIM_CORE_ISA_H
#define XCHAL_HAVE_WINDOWED 0
#endif
