#ifndef ESP8266_SIM_UNISTD_H
#define ESP8266_SIM_UNISTD_H
#include <errno.h>  /* py/reader.c reads errno after read() */
#include <sys/types.h>
ssize_t read(int fd, void *buf, size_t n);
ssize_t write(int fd, const void *buf, size_t n);
int close(int fd);
off_t lseek(int fd, off_t off, int whence);
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
#endif
