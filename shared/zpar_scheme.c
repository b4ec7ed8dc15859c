/*  zpar_scheme.c - the load-balancing schemes.                          */

#include "zpar_scheme.h"

#include <sodium.h>
#include <stdbool.h>
#include <string.h>

static const char *s_names [] = { "leastload", "lru", "twobin", "weighted", "plainrandom" };

int
zpar_scheme_parse (const char *name, zpar_scheme_t *scheme)
{
    for (size_t i = 0; name && i < sizeof s_names / sizeof *s_names; i++)
        if (strcmp (name, s_names [i]) == 0) {
            *scheme = (zpar_scheme_t) i;
            return 0;
        }
    return -1;
}

const char *
zpar_scheme_name (zpar_scheme_t scheme)
{
    return (size_t) scheme < sizeof s_names / sizeof *s_names? s_names [scheme]: "unknown";
}

static size_t
s_random (size_t count)
{
    return count > 1? randombytes_uniform ((uint32_t) count): 0;
}

//  a is better than b: less load, then used longer ago.
static bool
s_lighter (const zpar_candidate_t *a, const zpar_candidate_t *b)
{
    return a->load < b->load || (a->load == b->load && a->last_used < b->last_used);
}

size_t
zpar_scheme_pick (zpar_scheme_t scheme, const zpar_candidate_t *candidates, size_t count)
{
    size_t best = 0;
    switch (scheme) {
        case ZPAR_SCHEME_LEASTLOAD:
            for (size_t i = 1; i < count; i++)
                if (s_lighter (&candidates [i], &candidates [best]))
                    best = i;
            return best;
        case ZPAR_SCHEME_LRU:
            for (size_t i = 1; i < count; i++)
                if (candidates [i].last_used < candidates [best].last_used)
                    best = i;
            return best;
        case ZPAR_SCHEME_TWOBIN: {
            size_t a = s_random (count), b = s_random (count);
            return s_lighter (&candidates [b], &candidates [a])? b: a;
        }
        case ZPAR_SCHEME_WEIGHTED: {
            //  Weights 1 / (1 + load), scaled to integers.
            uint64_t total = 0, weights [count];
            for (size_t i = 0; i < count; i++)
                total += weights [i] = 1000000 / (uint64_t) (1 + candidates [i].load);
            uint64_t point = randombytes_uniform ((uint32_t) (total > UINT32_MAX? UINT32_MAX: total));
            for (size_t i = 0; i < count; i++) {
                if (point < weights [i])
                    return i;
                point -= weights [i];
            }
            return count - 1;
        }
        case ZPAR_SCHEME_PLAINRANDOM:
            return s_random (count);
    }
    return 0;
}
