/*  zpar_log.h - one-line log records on stderr, which ipcluster sends to
    the profile's log/ folder. Warnings about bad input are rate limited so
    a flood of garbage cannot fill the disk.                            */

#ifndef ZPAR_LOG_H_INCLUDED
#define ZPAR_LOG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Names the process in every record ("hub", "engine 3", ...). Call it
//  before starting threads.
void zpar_log_set_name (const char *name);

//  Names the calling thread's records instead ("scheduler mux").
void zpar_log_set_thread_name (const char *name);

//  Debug records are printed only when ZPAR_DEBUG is set.
void zpar_debug (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void zpar_info (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void zpar_warn (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
void zpar_error (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

//  Rate limiter: one record per key at most every ZPAR_LOG_QUIET_MS; the
//  next record that gets through says how many were held back.
typedef struct {
    int64_t last_ms;
    uint64_t held;
} zpar_log_limit_t;

#define ZPAR_LOG_QUIET_MS 5000

void zpar_warn_limited (zpar_log_limit_t *limit, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
