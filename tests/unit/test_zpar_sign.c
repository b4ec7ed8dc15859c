/*  Signatures and the replay history.                                   */

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "zpar_sign.h"

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
