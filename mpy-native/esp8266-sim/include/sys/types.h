#ifndef ESP8266_SIM_SYS_TYPES_H
#define ESP8266_SIM_SYS_TYPES_H
#include <stddef.h>
typedef int ssize_t;
typedef long off_t;
typedef unsigned int mode_t;
#endif
