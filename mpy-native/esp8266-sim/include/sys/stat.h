#ifndef ESP8266_SIM_SYS_STAT_H
#define ESP8266_SIM_SYS_STAT_H
#include <sys/types.h>
#endif
