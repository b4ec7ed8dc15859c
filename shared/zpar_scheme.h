/*  zpar_scheme.h - how the task role chooses an engine, as IPython
    Parallel's schemes do:

        leastload    the fewest tasks in flight; among equals, the one used
                     longest ago (the default)
        lru          the one used longest ago, whatever its load: round robin
        twobin       two engines at random, the less loaded of them
        weighted     at random, weighted by 1 / (1 + tasks in flight)
        plainrandom  at random

    Only engines that may take the task are offered (high-water mark,
    targets, dependencies); a scheme only chooses among them.            */

#ifndef ZPAR_SCHEME_H_INCLUDED
#define ZPAR_SCHEME_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ZPAR_SCHEME_LEASTLOAD,
    ZPAR_SCHEME_LRU,
    ZPAR_SCHEME_TWOBIN,
    ZPAR_SCHEME_WEIGHTED,
    ZPAR_SCHEME_PLAINRANDOM
} zpar_scheme_t;

//  The scheme called name. Returns 0, or -1 for an unknown name.
int zpar_scheme_parse (const char *name, zpar_scheme_t *scheme);

const char *zpar_scheme_name (zpar_scheme_t scheme);

//  The names, comma-separated, for messages.
#define ZPAR_SCHEME_NAMES "leastload, lru, twobin, weighted, plainrandom"

typedef struct {
    int load;                   //  tasks in flight
    uint64_t last_used;         //  dispatch order (0: never)
} zpar_candidate_t;

//  Index of the chosen candidate among count (> 0).
size_t zpar_scheme_pick (zpar_scheme_t scheme, const zpar_candidate_t *candidates, size_t count);

#endif
