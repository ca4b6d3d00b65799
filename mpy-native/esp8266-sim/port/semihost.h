// QEMU Xtensa semihosting (`simcall`): a2 = call number, a3.. = arguments; result in a2,
// errno in a3. Numbers of the Xtensa ISS interface that QEMU implements.
#ifndef ESP8266_SIM_SEMIHOST_H
#define ESP8266_SIM_SEMIHOST_H

#define SIMCALL_EXIT 1
#define SIMCALL_READ 3
#define SIMCALL_WRITE 4
#define SIMCALL_OPEN 5
#define SIMCALL_CLOSE 6
#define SIMCALL_LSEEK 19
#define SIMCALL_ARGC 1000
#define SIMCALL_ARGV_SIZE 1001
#define SIMCALL_ARGV 1002

int semihost_call(int nr, int a, int b, int c, int *err);
void semihost_exit(int code) __attribute__((noreturn));
void semihost_write(int fd, const char *buf, int len);

#endif
