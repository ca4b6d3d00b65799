#ifndef ESP8266_SIM_STDLIB_H
#define ESP8266_SIM_STDLIB_H
#include <stddef.h>
void abort(void) __attribute__((noreturn));
void exit(int status) __attribute__((noreturn));
#endif
