/*  zpar_drops.c - dropped-message counters.                             */

#include "zpar_drops.h"
#include "zpar_msg.h"

void
zpar_drops_add (zpar_drops_t *self, zpar_drop_t reason, const char *where)
{
    if (reason >= ZPAR_DROP_COUNT)
        reason = ZPAR_DROP_MALFORMED;
    self->count [reason]++;
    zpar_warn_limited (&self->limit [reason], "dropped a message on %s: %s (%llu so far)",
                       where, zpar_drop_name (reason),
                       (unsigned long long) self->count [reason]);
}

json_t *
zpar_drops_json (const zpar_drops_t *self)
{
    json_t *counters = json_object ();
    for (int i = 0; i < ZPAR_DROP_COUNT; i++)
        json_object_set_new (counters, zpar_drop_name (i), json_integer ((json_int_t) self->count [i]));
    return counters;
}

void
zpar_drops_merge_json (zpar_drops_t *self, json_t *counters)
{
    for (int i = 0; i < ZPAR_DROP_COUNT; i++) {
        json_t *value = json_object_get (counters, zpar_drop_name (i));
        if (json_is_integer (value) && json_integer_value (value) > 0)
            self->count [i] += (uint64_t) json_integer_value (value);
    }
}

uint64_t
zpar_drops_total (const zpar_drops_t *self)
{
    uint64_t total = 0;
    for (int i = 0; i < ZPAR_DROP_COUNT; i++)
        total += self->count [i];
    return total;
}
