/*  zpar_drops.h - counters of refused messages, by reason, with a rate
    limited warning per reason. Every daemon keeps one and reports it.   */

#ifndef ZPAR_DROPS_H_INCLUDED
#define ZPAR_DROPS_H_INCLUDED

#include <jansson.h>
#include <stdint.h>

#include "zpar_log.h"
#include "zpar_proto.h"

typedef struct {
    uint64_t count [ZPAR_DROP_COUNT];
    zpar_log_limit_t limit [ZPAR_DROP_COUNT];
} zpar_drops_t;

//  Counts one dropped message and logs it (rate limited). where names the
//  socket ("registration", "mux client", ...).
void zpar_drops_add (zpar_drops_t *self, zpar_drop_t reason, const char *where);

//  {"bad_signature": n, "replay": n, ...}; caller owns.
json_t *zpar_drops_json (const zpar_drops_t *self);

//  Adds counters from a JSON object of the same shape into self.
void zpar_drops_merge_json (zpar_drops_t *self, json_t *counters);

uint64_t zpar_drops_total (const zpar_drops_t *self);

#endif
