/* Minimal stdio for the esp8266-sim port: printf and friends from shared/libc/printf.c. */
#ifndef ESP8266_SIM_STDIO_H
#define ESP8266_SIM_STDIO_H
#include <stddef.h>
#include <stdarg.h>
#define EOF (-1)
int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
int putchar(int c);
int puts(const char *s);
int snprintf(char *str, size_t size, const char *fmt, ...);
int vsnprintf(char *str, size_t size, const char *fmt, va_list ap);
#endif
