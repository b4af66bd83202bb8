/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Functions we never call: unbounded copies, hidden static state, or silent
 * failure. Included last by every .c file, after the system headers, so a
 * use becomes a compile error naming the ban. Use gw_buf, gw_str, strtoull
 * with an end pointer, gmtime_r and friends instead.
 */
#ifndef GW_BANNED_H
#define GW_BANNED_H

#define GW_BANNED(func) sorry_##func##_is_banned_in_gatehouse

#undef strcpy
#define strcpy(x, y) GW_BANNED(strcpy)
#undef strcat
#define strcat(x, y) GW_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) GW_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) GW_BANNED(strncat)
#undef sprintf
#define sprintf(...) GW_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) GW_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) GW_BANNED(strtok)
#undef gets
#define gets(x) GW_BANNED(gets)
#undef atoi
#define atoi(x) GW_BANNED(atoi)
#undef atol
#define atol(x) GW_BANNED(atol)
#undef gmtime
#define gmtime(x) GW_BANNED(gmtime)
#undef localtime
#define localtime(x) GW_BANNED(localtime)
#undef ctime
#define ctime(x) GW_BANNED(ctime)
#undef asctime
#define asctime(x) GW_BANNED(asctime)
#undef alloca
#define alloca(x) GW_BANNED(alloca)

#endif /* GW_BANNED_H */
