#ifndef ESP8266_SIM_ERRNO_H
#define ESP8266_SIM_ERRNO_H
/* Host errno from semihosting calls (Linux numbers, the same as MicroPython's internal ones). */
extern int errno;
#define ENOENT 2
#define EIO 5
#define EBADF 9
#define ENOMEM 12
#define EEXIST 17
#define EISDIR 21
#define EINVAL 22
#endif
