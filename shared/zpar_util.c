/*  zpar_util.c - clocks, dates, hex, keys and ids.                      */

#include "zpar_util.h"

#include <stdbool.h>
#include "zpar_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int64_t
zpar_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
zpar_mono_ms (void)
{
    return zpar_mono_us () / 1000;
}

int64_t
zpar_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

char *
zpar_iso_date (int64_t wall_us, char *buf, size_t size)
{
    //  Every message carries a date or three: the part up to the second is
    //  formatted once a second (per thread), the microseconds by hand.
    static __thread bool cached_valid;
    static __thread time_t cached_secs;
    static __thread char cached [40];
    static __thread size_t cached_length;
    time_t secs = (time_t) (wall_us / 1000000);
    int usec = (int) (wall_us % 1000000);
    if (usec < 0) {
        secs--;
        usec += 1000000;
    }
    if (!cached_valid || secs != cached_secs) {
        struct tm tm;
        gmtime_r (&secs, &tm);
        int length = snprintf (cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d",
                               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                               tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached_length = length > 0 && (size_t) length < sizeof cached? (size_t) length: 0;
        cached_secs = secs;
        cached_valid = true;
    }
    if (!size)
        return buf;
    if (cached_length + 9 > size) {
        snprintf (buf, size, "%s.%06dZ", cached, usec);
        return buf;
    }
    memcpy (buf, cached, cached_length);
    char *at = buf + cached_length;
    *at++ = '.';
    for (int i = 5; i >= 0; i--, usec /= 10)
        at [i] = (char) ('0' + usec % 10);
    at [6] = 'Z';
    at [7] = 0;
    return buf;
}

int64_t
zpar_iso_parse (const char *text)
{
    if (!text)
        return -1;
    struct tm tm = { 0 };
    int usec = 0, consumed = 0;
    if (sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ%n",
                &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                &tm.tm_min, &tm.tm_sec, &usec, &consumed) != 7
    ||  consumed != (int) strlen (text))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm (&tm);
    if (secs == (time_t) -1)
        return -1;
    return (int64_t) secs * 1000000 + usec;
}

int
zpar_iso_normalise (const char *text, bool day_end, char *out, size_t size)
{
    int year, month, day, hour = 0, minute = 0, second = 0, consumed = 0;
    char fraction [8] = "000000";
    size_t length = text? strlen (text): 0;
    if (length == 10) {
        if (sscanf (text, "%4d-%2d-%2d%n", &year, &month, &day, &consumed) != 3 || consumed != 10)
            return -1;
        if (day_end) {
            hour = 23;
            minute = second = 59;
            memcpy (fraction, "999999", 6);
        }
    }
    else {
        if (length < 20 || sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day,
                                   &hour, &minute, &second, &consumed) != 6 || consumed != 19)
            return -1;
        const char *rest = text + 19;
        if (*rest == '.') {
            size_t digits = strspn (rest + 1, "0123456789");
            if (digits < 1 || digits > 6)
                return -1;
            memcpy (fraction, rest + 1, digits);
            rest += 1 + digits;
        }
        if (strcmp (rest, "Z") != 0)
            return -1;
    }
    if (text [4] != '-' || text [7] != '-' || (length > 10 && (text [10] != 'T' || text [13] != ':'
                                                               || text [16] != ':')))
        return -1;
    //  timegm takes 2026-02-30 for March 2nd: the fields must come back.
    struct tm tm = { .tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                     .tm_hour = hour, .tm_min = minute, .tm_sec = second };
    time_t secs = timegm (&tm);
    struct tm back;
    if (secs == (time_t) -1 || !gmtime_r (&secs, &back) || back.tm_year != year - 1900
    ||  back.tm_mon != month - 1 || back.tm_mday != day || back.tm_hour != hour
    ||  back.tm_min != minute || back.tm_sec != second)
        return -1;
    int written = snprintf (out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%sZ", year, month, day,
                            hour, minute, second, fraction);
    return written > 0 && (size_t) written < size? 0: -1;
}

void
zpar_hex (const uint8_t *data, size_t size, char *out)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < size; i++) {
        out [2 * i] = digits [data [i] >> 4];
        out [2 * i + 1] = digits [data [i] & 15];
    }
    out [2 * size] = 0;
}

static int
s_nibble (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
zpar_unhex (const char *text, uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        int high = s_nibble (text [2 * i]);
        int low = high < 0? -1: s_nibble (text [2 * i + 1]);
        if (low < 0)
            return -1;
        data [i] = (uint8_t) (high << 4 | low);
    }
    return 0;
}

char *
zpar_new_key (void)
{
    uint8_t key [ZPAR_KEY_BYTES];
    randombytes_buf (key, sizeof key);
    char *hex = malloc (2 * ZPAR_KEY_BYTES + 1);
    if (hex)
        zpar_hex (key, sizeof key, hex);
    sodium_memzero (key, sizeof key);
    return hex;
}

char *
zpar_new_uuid (void)
{
    uint8_t b [16];
    randombytes_buf (b, sizeof b);
    b [6] = (b [6] & 0x0f) | 0x40;      //  version 4
    b [8] = (b [8] & 0x3f) | 0x80;      //  RFC 4122 variant
    char hex [33];
    zpar_hex (b, sizeof b, hex);
    char *uuid = malloc (37);
    if (uuid)
        snprintf (uuid, 37, "%.8s-%.4s-%.4s-%.4s-%.12s",
                  hex, hex + 8, hex + 12, hex + 16, hex + 20);
    return uuid;
}

int
zpar_parse_long (const char *text, long min, long max, long *value)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

char *
zpar_utf8_clean (char *text)
{
    unsigned char *c = (unsigned char *) text;
    while (*c) {
        size_t need = *c < 0x80? 1: (*c & 0xE0) == 0xC0? 2: (*c & 0xF0) == 0xE0? 3:
                      (*c & 0xF8) == 0xF0? 4: 0;
        size_t got = 1;
        while (need > 1 && got < need && (c [got] & 0xC0) == 0x80)
            got++;
        if (need && got == need) {
            c += need;
            continue;
        }
        if (need > 1 && !c [got]) {
            *c = 0;                 //  cut short at the end
            break;
        }
        *c++ = '?';
    }
    return text;
}

bool
zpar_process_named (int64_t pid, const char *name)
{
    char path [64], comm [64] = "";
    snprintf (path, sizeof path, "/proc/%lld/comm", (long long) pid);
    FILE *file = pid > 1? fopen (path, "r"): NULL;
    if (!file)
        return false;
    if (!fgets (comm, sizeof comm, file))
        comm [0] = 0;
    fclose (file);
    comm [strcspn (comm, "\n")] = 0;
    return strncmp (comm, name, 15) == 0;
}

int
zpar_parse_option (const char *option, const char *text, long min, long max, long *value)
{
    if (zpar_parse_long (text, min, max, value) == 0)
        return 0;
    fprintf (stderr, "%s: %s takes a number from %ld to %ld\n",
             program_invocation_short_name, option, min, max);
    return -1;
}

void
zpar_set_error (char **error, const char *format, ...)
{
    if (!error)
        return;
    va_list args;
    va_start (args, format);
    if (vasprintf (error, format, args) < 0)
        *error = NULL;
    va_end (args);
}

const char *
zpar_hostname (void)
{
    static char name [256];
    if (!*name && gethostname (name, sizeof name - 1) != 0)
        strcpy (name, "localhost");
    return name;
}

int
zpar_init (void)
{
    return sodium_init () < 0? -1: 0;
}

void
zpar_raise_fd_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        //  Refused, the daemon still serves as many engines as it can.
        limit.rlim_cur = limit.rlim_max;
        (void) setrlimit (RLIMIT_NOFILE, &limit);
    }
}
