#ifndef ESP8266_SIM_ASSERT_H
#define ESP8266_SIM_ASSERT_H
#ifdef NDEBUG
#define assert(e) ((void)0)
#else
void __assert_func(const char *file, int line, const char *func, const char *expr) __attribute__((noreturn));
#define assert(e) ((e) ? (void)0 : __assert_func(__FILE__, __LINE__, __func__, #e))
#endif
#endif
