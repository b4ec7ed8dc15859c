/*  zpar_log.c - timestamped records on stderr.                          */

#include "zpar_log.h"
#include "zpar_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The process's name, set before threads start; a thread may use its own
//  (each scheduler role names its records).
static char s_name [64] = "zpar";
static __thread char s_thread_name [64];

void
zpar_log_set_name (const char *name)
{
    snprintf (s_name, sizeof s_name, "%s", name);
}

void
zpar_log_set_thread_name (const char *name)
{
    snprintf (s_thread_name, sizeof s_thread_name, "%s", name);
}

static void
s_log (const char *level, const char *suffix, const char *format, va_list args)
{
    char date [40], line [2048];
    zpar_iso_date (zpar_wall_us (), date, sizeof date);
    vsnprintf (line, sizeof line, format, args);
    //  One fprintf per record keeps records whole when threads share stderr.
    fprintf (stderr, "%s %s %s: %s%s\n", date, level, *s_thread_name? s_thread_name: s_name, line, suffix);
    fflush (stderr);
}

#define S_LOG_FN(fn, level)                 \
void fn (const char *format, ...)           \
{                                           \
    va_list args;                           \
    va_start (args, format);                \
    s_log (level, "", format, args);        \
    va_end (args);                          \
}

S_LOG_FN (zpar_info, "I")
S_LOG_FN (zpar_warn, "W")
S_LOG_FN (zpar_error, "E")

void
zpar_debug (const char *format, ...)
{
    static int enabled = -1;
    if (enabled < 0)
        enabled = getenv ("ZPAR_DEBUG") != NULL;
    if (!enabled)
        return;
    va_list args;
    va_start (args, format);
    s_log ("D", "", format, args);
    va_end (args);
}

void
zpar_warn_limited (zpar_log_limit_t *limit, const char *format, ...)
{
    int64_t now = zpar_mono_ms ();
    if (limit->last_ms && now - limit->last_ms < ZPAR_LOG_QUIET_MS) {
        limit->held++;
        return;
    }
    char suffix [80] = "";
    if (limit->held)
        snprintf (suffix, sizeof suffix, " (and %llu more like it not logged)",
                  (unsigned long long) limit->held);
    limit->last_ms = now;
    limit->held = 0;
    va_list args;
    va_start (args, format);
    s_log ("W", suffix, format, args);
    va_end (args);
}
