#ifndef ESP8266_SIM_ALLOCA_H
#define ESP8266_SIM_ALLOCA_H
#define alloca(n) __builtin_alloca(n)
#endif
