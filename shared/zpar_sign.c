/*  zpar_sign.c - HMAC-SHA256 with libsodium, and a replay history made of
    a hash set plus a ring that evicts the oldest entry.                 */

#include "zpar_sign.h"

#include <czmq.h>
#include <sodium.h>

struct _zpar_sign_t {
    crypto_auth_hmacsha256_state keyed;     //  state after the key, copied per message
    zhashx_t *seen;                         //  signature -> present
    char **ring;                            //  insertion order, for eviction
    size_t history;
    size_t next;
};

zpar_sign_t *
zpar_sign_new (const char *key, size_t history)
{
    if (!key || !*key || sodium_init () < 0)
        return NULL;
    zpar_sign_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    crypto_auth_hmacsha256_init (&self->keyed, (const unsigned char *) key, strlen (key));
    self->history = history;
    if (history) {
        self->seen = zhashx_new ();
        self->ring = calloc (history, sizeof (char *));
        if (!self->seen || !self->ring)
            goto err;
        //  The ring owns the key strings; the set only points at them.
        zhashx_set_key_duplicator (self->seen, NULL);
        zhashx_set_key_destructor (self->seen, NULL);
    }
    return self;
err:
    zpar_sign_destroy (&self);
    return NULL;
}

void
zpar_sign_destroy (zpar_sign_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_sign_t *self = *self_p;
    zhashx_destroy (&self->seen);
    if (self->ring)
        for (size_t i = 0; i < self->history; i++)
            free (self->ring [i]);
    free (self->ring);
    sodium_memzero (&self->keyed, sizeof self->keyed);
    free (self);
    *self_p = NULL;
}

static void
s_mac (zpar_sign_t *self, const void *const parts [], const size_t sizes [],
       size_t nparts, uint8_t mac [crypto_auth_hmacsha256_BYTES])
{
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
    sodium_bin2hex (signature, ZPAR_SIGNATURE_LEN + 1, mac, sizeof mac);
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
    //  Jupyter signs in lowercase hex; anything else does not match.
    return sodium_memcmp (expected, signature, ZPAR_SIGNATURE_LEN) == 0? 0: -1;
}

bool
zpar_sign_seen (zpar_sign_t *self, const char *scope,
                const char *signature, size_t sig_len)
{
    if (!self->history)
        return false;
    size_t scope_len = scope? strlen (scope): 0;
    char *key = malloc (scope_len + sig_len + 2);
    if (!key)
        return false;
    memcpy (key, scope? scope: "", scope_len);
    key [scope_len] = '/';
    memcpy (key + scope_len + 1, signature, sig_len);
    key [scope_len + 1 + sig_len] = 0;
    if (zhashx_lookup (self->seen, key)) {
        free (key);
        return true;
    }
    char *oldest = self->ring [self->next];
    if (oldest) {
        zhashx_delete (self->seen, oldest);
        free (oldest);
    }
    self->ring [self->next] = key;
    self->next = (self->next + 1) % self->history;
    zhashx_insert (self->seen, key, key);
    return false;
}
