/*  Signatures and the replay history.                                   */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "zpar_sign.h"
#include "zpar_sha256.h"

#include <sodium.h>

static const char *s_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void
s_sign (zpar_sign_t *signer, const char *a, const char *b, char *signature)
{
    const void *parts [] = { a, b };
    size_t sizes [] = { strlen (a), strlen (b) };
    zpar_sign_parts (signer, parts, sizes, 2, signature);
}

static int
s_verify (zpar_sign_t *signer, const char *a, const char *b, const char *signature)
{
    const void *parts [] = { a, b };
    size_t sizes [] = { strlen (a), strlen (b) };
    return zpar_sign_verify (signer, parts, sizes, 2, signature, strlen (signature));
}

Test (zpar_sign, signs_as_lowercase_hex_and_verifies)
{
    zpar_sign_t *signer = zpar_sign_new (s_key, 0);
    char signature [ZPAR_SIGNATURE_LEN + 1];
    s_sign (signer, "{\"a\":1}", "{}", signature);
    cr_assert_eq (strlen (signature), 64);
    for (const char *c = signature; *c; c++)
        cr_assert ((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f'), "not lowercase hex: %s", signature);
    cr_assert_eq (s_verify (signer, "{\"a\":1}", "{}", signature), 0);
    zpar_sign_destroy (&signer);
    cr_assert_null (signer);
}

Test (zpar_sign, matches_a_known_hmac_sha256)
{
    //  RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    zpar_sign_t *signer = zpar_sign_new ("Jefe", 0);
    char signature [ZPAR_SIGNATURE_LEN + 1];
    s_sign (signer, "what do ya want ", "for nothing?", signature);
    cr_assert_str_eq (signature, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    zpar_sign_destroy (&signer);
}

Test (zpar_sign, refuses_changed_data_other_keys_and_uppercase)
{
    zpar_sign_t *signer = zpar_sign_new (s_key, 0);
    zpar_sign_t *other = zpar_sign_new ("another key", 0);
    char signature [ZPAR_SIGNATURE_LEN + 1];
    s_sign (signer, "header", "content", signature);
    cr_assert_eq (s_verify (signer, "header", "contenT", signature), -1);
    cr_assert_eq (s_verify (other, "header", "content", signature), -1);
    char upper [ZPAR_SIGNATURE_LEN + 1];
    for (int i = 0; i <= ZPAR_SIGNATURE_LEN; i++)
        upper [i] = (char) (signature [i] >= 'a' && signature [i] <= 'f'? signature [i] - 32: signature [i]);
    cr_assert_eq (s_verify (signer, "header", "content", upper), -1);
    cr_assert_eq (s_verify (signer, "header", "content", ""), -1);
    cr_assert_eq (s_verify (signer, "header", "content", "abc"), -1);
    zpar_sign_destroy (&signer);
    zpar_sign_destroy (&other);
}

Test (zpar_sign, no_key_no_signer)
{
    cr_assert_null (zpar_sign_new ("", 10));
    cr_assert_null (zpar_sign_new (NULL, 10));
}

Test (zpar_sign, replay_history_remembers_and_forgets_the_oldest)
{
    zpar_sign_t *signer = zpar_sign_new (s_key, 3);
    cr_assert_not (zpar_sign_seen (signer, NULL, "aaaa", 4));
    cr_assert (zpar_sign_seen (signer, NULL, "aaaa", 4));
    //  Another scope is another path: not a replay.
    cr_assert_not (zpar_sign_seen (signer, "monitor", "aaaa", 4));
    cr_assert_not (zpar_sign_seen (signer, NULL, "bbbb", 4));
    cr_assert_not (zpar_sign_seen (signer, NULL, "cccc", 4));
    //  History of 3: "aaaa" (the oldest) is gone, the rest remain.
    cr_assert_not (zpar_sign_seen (signer, NULL, "aaaa", 4));
    cr_assert (zpar_sign_seen (signer, NULL, "cccc", 4));
    zpar_sign_destroy (&signer);
}

Test (zpar_sign, history_of_zero_never_sees_a_replay)
{
    zpar_sign_t *signer = zpar_sign_new (s_key, 0);
    cr_assert_not (zpar_sign_seen (signer, NULL, "aaaa", 4));
    cr_assert_not (zpar_sign_seen (signer, NULL, "aaaa", 4));
    zpar_sign_destroy (&signer);
}

//  The SHA-instruction HMAC against libsodium's: keys shorter and longer
//  than a block, messages of every length around the block edges, split
//  into parts at random places.
Test (zpar_sign, sha_instructions_agree_with_libsodium)
{
    if (!zpar_sha256_fast ())
        cr_skip_test ("this CPU has no SHA instructions; zpar_sign uses libsodium");
    cr_assert_geq (sodium_init (), 0);
    uint8_t key [200], data [1100];
    randombytes_buf (key, sizeof key);
    randombytes_buf (data, sizeof data);
    for (size_t key_size = 1; key_size <= sizeof key; key_size += 13) {
        zpar_hmac_key_t fast;
        zpar_hmac_key_init (&fast, key, key_size);
        for (size_t size = 0; size <= sizeof data; size += (size < 200? 1: 37)) {
            size_t cut1 = randombytes_uniform ((uint32_t) size + 1);
            size_t cut2 = cut1 + randombytes_uniform ((uint32_t) (size - cut1) + 1);
            const void *parts [] = { data, data + cut1, data + cut2 };
            size_t sizes [] = { cut1, cut2 - cut1, size - cut2 };
            uint8_t mine [32], theirs [32];
            zpar_hmac_parts (&fast, parts, sizes, 3, mine);
            crypto_auth_hmacsha256_state state;
            crypto_auth_hmacsha256_init (&state, key, key_size);
            crypto_auth_hmacsha256_update (&state, data, size);
            crypto_auth_hmacsha256_final (&state, theirs);
            cr_assert (memcmp (mine, theirs, 32) == 0, "key %zu bytes, data %zu bytes", key_size, size);
        }
    }
}

//  The set against a plain list of the last `history` signatures, over
//  enough signatures to wrap the ring many times and fill probe runs.
Test (zpar_sign, replay_history_matches_a_plain_list)
{
    enum { HISTORY = 100, SIGNATURES = 300, ROUNDS = 5000 };
    zpar_sign_t *signer = zpar_sign_new (s_key, HISTORY);
    static char pool [SIGNATURES][ZPAR_SIGNATURE_LEN + 1];
    for (int i = 0; i < SIGNATURES; i++) {
        const void *part = &i;
        size_t size = sizeof i;
        zpar_sign_parts (signer, &part, &size, 1, pool [i]);
    }
    int recent [HISTORY], count = 0, next = 0;
    unsigned seed = 7;
    for (int round = 0; round < ROUNDS; round++) {
        seed = seed * 1103515245 + 12345;
        int pick = (int) ((seed >> 8) % SIGNATURES);
        bool expected = false;
        for (int i = 0; i < count; i++)
            expected |= recent [i] == pick;
        cr_assert_eq (zpar_sign_seen (signer, NULL, pool [pick], ZPAR_SIGNATURE_LEN), expected,
                      "round %d", round);
        if (!expected) {
            recent [next] = pick;
            next = (next + 1) % HISTORY;
            count += count < HISTORY;
        }
    }
    zpar_sign_destroy (&signer);
}
