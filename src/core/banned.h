/*
 * Functions src/ may not call, after git's banned.h: each is made a compile
 * error naming a symbol that says why (sorry_strcpy_is_a_banned_function).
 *
 * Every .c file under src/ includes this header LAST, after every system
 * header, so the macros cannot break the headers that declare these
 * functions; scripts/check-banned.py (make test) fails when one does not.
 *
 * What to use instead:
 *   strcpy, strcat, strncpy, strncat   snprintf, or memcpy with a checked length
 *   sprintf, vsprintf                  snprintf, vsnprintf (and check truncation)
 *   strtok                             strtok_r, or a pointer walk
 *   atoi, atol, atoll                  strtol / strtoll with errno and end checks
 *   gmtime, localtime                  gmtime_r (core/clock); no process time zone
 *   ctime, asctime                     strftime on a struct tm from gmtime_r
 *   gets                               fgets
 *   tmpnam, mktemp                     mkstemp
 *   setenv, unsetenv, putenv           nothing: the environment is process-global
 *                                      and not safe to change while threads run
 *   strerror                           strerror_r (not thread-safe otherwise), or
 *                                      sb_strerror for SB_E* codes
 */
#ifndef SB_CORE_BANNED_H
#define SB_CORE_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)

#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)

#undef strtok
#define strtok(x, y) BANNED(strtok)

#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef atoll
#define atoll(x) BANNED(atoll)

#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef asctime
#define asctime(t) BANNED(asctime)

#undef gets
#define gets(s) BANNED(gets)
#undef tmpnam
#define tmpnam(s) BANNED(tmpnam)
#undef mktemp
#define mktemp(s) BANNED(mktemp)

#undef setenv
#define setenv(n, v, o) BANNED(setenv)
#undef unsetenv
#define unsetenv(n) BANNED(unsetenv)
#undef putenv
#define putenv(s) BANNED(putenv)

#undef strerror
#define strerror(e) BANNED(strerror)

#endif
