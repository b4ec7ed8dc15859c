/*  zpar_sign.h - HMAC-SHA256 message signatures and the replay history.

    The signature is lowercase hex of HMAC-SHA256, keyed by the cluster key
    (its text, as Jupyter does), over header, parent header, metadata and
    content in that order. A bounded history of recent signatures lets a
    receiver refuse a message it has already seen.                      */

#ifndef ZPAR_SIGN_H_INCLUDED
#define ZPAR_SIGN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZPAR_SIGNATURE_LEN 64   //  hex digits of a SHA-256 HMAC

typedef struct _zpar_sign_t zpar_sign_t;

//  Creates a signer for key; history is how many signatures are remembered
//  for replay checks (0 turns replay checks off). NULL on a bad key.
zpar_sign_t *zpar_sign_new (const char *key, size_t history);

void zpar_sign_destroy (zpar_sign_t **self_p);

//  Signs nparts byte strings, writing ZPAR_SIGNATURE_LEN hex digits and a
//  terminating zero into signature.
void zpar_sign_parts (zpar_sign_t *self, const void *const parts [],
                      const size_t sizes [], size_t nparts, char *signature);

//  Checks a signature of sig_len bytes (not zero-terminated) over the
//  parts in constant time. Returns 0 when it matches, else -1.
int zpar_sign_verify (zpar_sign_t *self, const void *const parts [],
                      const size_t sizes [], size_t nparts,
                      const char *signature, size_t sig_len);

//  Replay check: true when this signature (under this scope, which may be
//  NULL) was seen within the history; otherwise remembers it and returns
//  false. The scope lets one process take the same message on two paths.
bool zpar_sign_seen (zpar_sign_t *self, const char *scope,
                     const char *signature, size_t sig_len);

#endif
