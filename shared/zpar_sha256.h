/*  zpar_sha256.h - HMAC-SHA256 on the CPU's SHA instructions.
    Every message is signed once and checked at each hop, so the HMAC is
    a fixed cost of every task; the x86 SHA extensions do it several times
    faster than portable code. zpar_sha256_fast says whether this CPU has
    them; zpar_sign uses libsodium when it does not. Results are the same
    bytes either way (the unit test checks them against libsodium).      */

#ifndef ZPAR_SHA256_H_INCLUDED
#define ZPAR_SHA256_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state [8];
    uint8_t block [64];
    size_t used;                //  bytes waiting in block
    uint64_t total;             //  bytes hashed so far
} zpar_sha256_t;

//  The key's two padded blocks, hashed once: every MAC starts from these.
typedef struct {
    zpar_sha256_t inner, outer;
} zpar_hmac_key_t;

//  True when this CPU has the SHA extensions (and the SSE they need).
bool zpar_sha256_fast (void);

//  Only when zpar_sha256_fast () is true.
void zpar_hmac_key_init (zpar_hmac_key_t *key, const void *secret, size_t size);
void zpar_hmac_parts (const zpar_hmac_key_t *key, const void *const parts [],
                      const size_t sizes [], size_t nparts, uint8_t mac [32]);

#endif
