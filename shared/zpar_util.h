/*  zpar_util.h - small helpers every part of zpar uses: clocks, ISO 8601
    dates, hex, fresh keys and ids, strict number parsing.               */

#ifndef ZPAR_UTIL_H_INCLUDED
#define ZPAR_UTIL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Monotonic milliseconds / microseconds (for timeouts and durations).
int64_t zpar_mono_ms (void);
int64_t zpar_mono_us (void);

//  Wall clock in microseconds since the epoch.
int64_t zpar_wall_us (void);

//  Writes "YYYY-MM-DDTHH:MM:SS.ffffffZ" for a wall time into buf (>= 28
//  bytes). Returns buf.
char *zpar_iso_date (int64_t wall_us, char *buf, size_t size);

//  Parses what zpar_iso_date writes. Returns -1 when it is not such a date.
int64_t zpar_iso_parse (const char *text);

//  A date a person may type, YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or with a
//  fraction of up to six digits, written into out as zpar_iso_date writes
//  them (a bare date is its first microsecond, or with day_end its last).
//  Returns -1 for anything else, out-of-range fields included.
int zpar_iso_normalise (const char *text, bool day_end, char *out, size_t size);

//  Lowercase hex of size bytes into out (2 * size + 1 bytes).
void zpar_hex (const uint8_t *data, size_t size, char *out);

//  Decodes 2 * size hex digits into data. Returns -1 on a bad digit.
int zpar_unhex (const char *text, uint8_t *data, size_t size);

//  A fresh random key as 2 * ZPAR_KEY_BYTES hex digits. Caller frees.
char *zpar_new_key (void);

//  A fresh random uuid (RFC 4122 version 4, with dashes). Caller frees.
char *zpar_new_uuid (void);

//  Strict decimal parsing: the whole text must be a number in [min, max].
//  Returns 0 and stores the value, or -1.
int zpar_parse_long (const char *text, long min, long max, long *value);

//  Makes text valid UTF-8 in place, so it can become a JSON string: a
//  sequence cut short at the end (as snprintf leaves when it truncates in
//  the middle of a character) is removed, any other invalid byte becomes
//  '?'. Returns text.
char *zpar_utf8_clean (char *text);

//  True when pid is a live process whose command name is name (as in
//  /proc/PID/comm, at most 15 characters compared).
bool zpar_process_named (int64_t pid, const char *name);

//  A command-line option's number: zpar_parse_long, and on failure a line
//  on stderr, "PROGRAM: OPTION takes a number from MIN to MAX".
int zpar_parse_option (const char *option, const char *text, long min, long max, long *value);

//  Sets *error (when error is not NULL) to a formatted sentence the
//  caller frees.
void zpar_set_error (char **error, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  This machine's host name (static buffer).
const char *zpar_hostname (void);

//  Library start-up: initialises libsodium once. Returns -1 on failure.
int zpar_init (void);

//  Daemons: open files up to the hard limit. The hub and the scheduler
//  keep a connection per engine and role, over a thousand for a few
//  hundred engines, past the usual soft limit of 1024.
void zpar_raise_fd_limit (void);

#endif
