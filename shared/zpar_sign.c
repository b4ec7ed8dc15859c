/*  zpar_sign.c - HMAC-SHA256 (on the CPU's SHA instructions when it has
    them, else libsodium), and a replay history: an open-addressing set
    of 128-bit keys taken from the signatures, plus a ring that evicts the
    oldest. The MAC's bytes are already uniform, so they need no hashing. */

#include "zpar_sign.h"
#include "zpar_sha256.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t a, b;              //  (0, 0) marks an empty slot
} s_key_t;

struct _zpar_sign_t {
    bool fast;                              //  zpar_sha256_fast ()
    zpar_hmac_key_t hmac;                   //  the key's padded blocks, hashed
    crypto_auth_hmacsha256_state keyed;     //  libsodium's, copied per message
    size_t history;
    s_key_t *slots;                         //  the set, 2 × history rounded to a power of 2
    size_t mask;
    s_key_t *ring;                          //  insertion order, for eviction
    size_t next, count;
};

zpar_sign_t *
zpar_sign_new (const char *key, size_t history)
{
    if (!key || !*key || sodium_init () < 0)
        return NULL;
    zpar_sign_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fast = zpar_sha256_fast ();
    if (self->fast)
        zpar_hmac_key_init (&self->hmac, key, strlen (key));
    else
        crypto_auth_hmacsha256_init (&self->keyed, (const unsigned char *) key, strlen (key));
    self->history = history;
    if (history) {
        size_t slots = 16;
        while (slots < 2 * history)
            slots *= 2;
        self->mask = slots - 1;
        self->slots = calloc (slots, sizeof *self->slots);
        self->ring = calloc (history, sizeof *self->ring);
        if (!self->slots || !self->ring) {
            zpar_sign_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
zpar_sign_destroy (zpar_sign_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_sign_t *self = *self_p;
    free (self->slots);
    free (self->ring);
    sodium_memzero (self, sizeof *self);
    free (self);
    *self_p = NULL;
}

static void
s_mac (zpar_sign_t *self, const void *const parts [], const size_t sizes [],
       size_t nparts, uint8_t mac [crypto_auth_hmacsha256_BYTES])
{
    if (self->fast) {
        zpar_hmac_parts (&self->hmac, parts, sizes, nparts, mac);
        return;
    }
    crypto_auth_hmacsha256_state state = self->keyed;
    for (size_t i = 0; i < nparts; i++)
        crypto_auth_hmacsha256_update (&state, parts [i], sizes [i]);
    crypto_auth_hmacsha256_final (&state, mac);
}

void
zpar_sign_parts (zpar_sign_t *self, const void *const parts [],
                 const size_t sizes [], size_t nparts, char *signature)
{
    uint8_t mac [crypto_auth_hmacsha256_BYTES];
    s_mac (self, parts, sizes, nparts, mac);
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof mac; i++) {
        signature [2 * i] = digits [mac [i] >> 4];
        signature [2 * i + 1] = digits [mac [i] & 15];
    }
    signature [ZPAR_SIGNATURE_LEN] = 0;
}

int
zpar_sign_verify (zpar_sign_t *self, const void *const parts [],
                  const size_t sizes [], size_t nparts,
                  const char *signature, size_t sig_len)
{
    if (sig_len != ZPAR_SIGNATURE_LEN)
        return -1;
    char expected [ZPAR_SIGNATURE_LEN + 1];
    zpar_sign_parts (self, parts, sizes, nparts, expected);
    //  Jupyter signs in lowercase hex; anything else does not match. In
    //  constant time, eight bytes at once (sodium_memcmp goes byte by byte
    //  through volatile reads, a visible cost per message).
    uint64_t differ = 0;
    for (size_t i = 0; i < ZPAR_SIGNATURE_LEN; i += 8) {
        uint64_t mine, theirs;
        memcpy (&mine, expected + i, 8);
        memcpy (&theirs, signature + i, 8);
        differ |= mine ^ theirs;
    }
    return differ == 0? 0: -1;
}

//  FNV-1a: for the scope, and for a signature that is not 64 hex digits.
static uint64_t
s_fnv (const void *data, size_t size, uint64_t hash)
{
    for (const uint8_t *byte = data; size--; byte++)
        hash = (hash ^ *byte) * 0x100000001b3ULL;
    return hash;
}

static uint64_t
s_hex64 (const char *hex, bool *ok)
{
    uint64_t value = 0;
    for (int i = 0; i < 16; i++) {
        char c = hex [i];
        int digit = c >= '0' && c <= '9'? c - '0': c >= 'a' && c <= 'f'? c - 'a' + 10: -1;
        *ok &= digit >= 0;
        value = value << 4 | (uint64_t) (digit & 15);
    }
    return value;
}

static s_key_t
s_key (const char *scope, const char *signature, size_t sig_len)
{
    s_key_t key = { 0, 0 };
    bool ok = sig_len == ZPAR_SIGNATURE_LEN;
    if (ok) {
        key.a = s_hex64 (signature, &ok);
        key.b = s_hex64 (signature + 16, &ok);
    }
    if (!ok) {
        key.a = s_fnv (signature, sig_len, 0xcbf29ce484222325ULL);
        key.b = s_fnv (signature, sig_len, key.a);
    }
    if (scope)
        key.a ^= s_fnv (scope, strlen (scope), 0xcbf29ce484222325ULL);
    if (!key.a && !key.b)
        key.b = 1;
    return key;
}

//  The slot holding key, or the empty slot where it would go.
static size_t
s_find (zpar_sign_t *self, s_key_t key)
{
    size_t slot = (size_t) key.b & self->mask;
    while ((self->slots [slot].a || self->slots [slot].b)
       &&  (self->slots [slot].a != key.a || self->slots [slot].b != key.b))
        slot = (slot + 1) & self->mask;
    return slot;
}

//  Linear probing's deletion: later entries of the run move back so that
//  a lookup never stops early at the hole.
static void
s_remove (zpar_sign_t *self, s_key_t key)
{
    size_t hole = s_find (self, key);
    if (!self->slots [hole].a && !self->slots [hole].b)
        return;
    size_t next = hole;
    while (true) {
        next = (next + 1) & self->mask;
        s_key_t *entry = &self->slots [next];
        if (!entry->a && !entry->b)
            break;
        size_t home = (size_t) entry->b & self->mask;
        //  entry may fill the hole when its home is not in (hole, next]
        if (((next - home) & self->mask) >= ((next - hole) & self->mask)) {
            self->slots [hole] = *entry;
            hole = next;
        }
    }
    self->slots [hole] = (s_key_t) { 0, 0 };
}

bool
zpar_sign_seen (zpar_sign_t *self, const char *scope,
                const char *signature, size_t sig_len)
{
    if (!self->history)
        return false;
    s_key_t key = s_key (scope, signature, sig_len);
    size_t slot = s_find (self, key);
    if (self->slots [slot].a || self->slots [slot].b)
        return true;
    self->slots [slot] = key;
    if (self->count == self->history)
        s_remove (self, self->ring [self->next]);
    else
        self->count++;
    self->ring [self->next] = key;
    self->next = (self->next + 1) % self->history;
    return false;
}
