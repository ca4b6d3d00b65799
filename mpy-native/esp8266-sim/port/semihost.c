// Semihosting glue of the esp8266-sim port: console, host files (POSIX open/read/close/lseek
// for py/reader.c), exit code and argv, all through QEMU's `simcall`.
#include <stdarg.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include "semihost.h"

int errno;

int semihost_call(int nr, int a, int b, int c, int *err) {
    register int a2 __asm__ ("a2") = nr;
    register int a3 __asm__ ("a3") = a;
    register int a4 __asm__ ("a4") = b;
    register int a5 __asm__ ("a5") = c;
    __asm__ volatile ("simcall" : "+r" (a2), "+r" (a3) : "r" (a4), "r" (a5) : "memory");
    if (err) {
        *err = a3;
    }
    return a2;
}

void semihost_exit(int code) {
    for (;;) {
        semihost_call(SIMCALL_EXIT, code, 0, 0, 0);
    }
}

void semihost_write(int fd, const char *buf, int len) {
    while (len > 0) {
        int n = semihost_call(SIMCALL_WRITE, fd, (int)buf, len, 0);
        if (n <= 0) {
            return;
        }
        buf += n;
        len -= n;
    }
}

static int ret_errno(int ret, int err) {
    if (ret < 0) {
        errno = err ? err : EIO;
    }
    return ret;
}

// The board's filesystem root is QEMU's working directory: "/lib/x.mpy" opens "lib/x.mpy".
int open(const char *path, int flags, ...) {
    while (path[0] == '/') {
        path++;
    }
    int mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, int);
        va_end(ap);
    }
    int err;
    int fd = semihost_call(SIMCALL_OPEN, (int)path, flags, mode, &err);
    return ret_errno(fd, err);
}

ssize_t read(int fd, void *buf, size_t n) {
    int err;
    return ret_errno(semihost_call(SIMCALL_READ, fd, (int)buf, n, &err), err);
}

ssize_t write(int fd, const void *buf, size_t n) {
    int err;
    return ret_errno(semihost_call(SIMCALL_WRITE, fd, (int)buf, n, &err), err);
}

int close(int fd) {
    int err;
    return ret_errno(semihost_call(SIMCALL_CLOSE, fd, 0, 0, &err), err);
}

off_t lseek(int fd, off_t off, int whence) {
    int err;
    return ret_errno(semihost_call(SIMCALL_LSEEK, fd, off, whence, &err), err);
}
