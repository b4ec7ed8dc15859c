/*  zpar_sha256.c - SHA-256 blocks on the x86 SHA extensions (SHA-NI),
    with the padding and HMAC around them. Only called when the CPU says
    it has them; elsewhere zpar_sha256_fast is false and nothing here runs. */

#include "zpar_sha256.h"

#include <string.h>

#if defined (__x86_64__) || defined (__i386__)

#include <cpuid.h>
#include <stdatomic.h>
#include <immintrin.h>

static const uint32_t s_iv [8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

static const uint32_t s_k [64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

bool
zpar_sha256_fast (void)
{
    //  Threads may ask at once: each finds the same answer.
    static atomic_int known = -1;
    int answer = atomic_load (&known);
    if (answer < 0) {
        unsigned a, b, c, d;
        bool sse = __get_cpuid (1, &a, &b, &c, &d) && (c & (1u << 9)) && (c & (1u << 19));
        bool sha = __get_cpuid_count (7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        answer = sse && sha;
        atomic_store (&known, answer);
    }
    return answer;
}

//  The instructions keep the eight words as ABEF and CDGH; each
//  sha256rnds2 does two rounds, and the schedule's words come four at a
//  time from sha256msg1/msg2 over the four groups before.
__attribute__ ((target ("sha,sse4.1,ssse3")))
static void
s_blocks (uint32_t state [8], const uint8_t *data, size_t blocks)
{
    const __m128i swap = _mm_set_epi64x (0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i dcba = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state [0]), 0xB1);
    __m128i cdgh = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state [4]), 0x1B);
    __m128i abef = _mm_alignr_epi8 (dcba, cdgh, 8);
    cdgh = _mm_blend_epi16 (cdgh, dcba, 0xF0);
    for (; blocks; blocks--, data += 64) {
        __m128i abef_was = abef, cdgh_was = cdgh, w [4];
        for (int g = 0; g < 16; g++) {
            //  w [g & 3] holds the group four back, the others the three after it
            __m128i *now = &w [g & 3], *back3 = &w [(g + 1) & 3];
            __m128i *back2 = &w [(g + 2) & 3], *back1 = &w [(g + 3) & 3];
            if (g < 4)
                *now = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (data + 16 * g)), swap);
            else {
                __m128i sum = _mm_add_epi32 (_mm_sha256msg1_epu32 (*now, *back3),
                                             _mm_alignr_epi8 (*back1, *back2, 4));
                *now = _mm_sha256msg2_epu32 (sum, *back1);
            }
            __m128i k = _mm_add_epi32 (*now, _mm_loadu_si128 ((const __m128i *) &s_k [4 * g]));
            cdgh = _mm_sha256rnds2_epu32 (cdgh, abef, k);
            abef = _mm_sha256rnds2_epu32 (abef, cdgh, _mm_shuffle_epi32 (k, 0x0E));
        }
        abef = _mm_add_epi32 (abef, abef_was);
        cdgh = _mm_add_epi32 (cdgh, cdgh_was);
    }
    __m128i feba = _mm_shuffle_epi32 (abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32 (cdgh, 0xB1);
    _mm_storeu_si128 ((__m128i *) &state [0], _mm_blend_epi16 (feba, dchg, 0xF0));
    _mm_storeu_si128 ((__m128i *) &state [4], _mm_alignr_epi8 (dchg, feba, 8));
}

static void
s_init (zpar_sha256_t *self)
{
    memcpy (self->state, s_iv, sizeof s_iv);
    self->used = 0;
    self->total = 0;
}

static void
s_update (zpar_sha256_t *self, const uint8_t *data, size_t size)
{
    self->total += size;
    if (self->used) {
        size_t take = 64 - self->used < size? 64 - self->used: size;
        memcpy (self->block + self->used, data, take);
        self->used += take;
        data += take;
        size -= take;
        if (self->used < 64)
            return;
        s_blocks (self->state, self->block, 1);
        self->used = 0;
    }
    if (size >= 64)
        s_blocks (self->state, data, size / 64);
    data += size - size % 64;
    size %= 64;
    memcpy (self->block, data, size);
    self->used = size;
}

static void
s_final (zpar_sha256_t *self, uint8_t digest [32])
{
    uint64_t bits = self->total * 8;
    self->block [self->used++] = 0x80;
    if (self->used > 56) {
        memset (self->block + self->used, 0, 64 - self->used);
        s_blocks (self->state, self->block, 1);
        self->used = 0;
    }
    memset (self->block + self->used, 0, 56 - self->used);
    for (int i = 0; i < 8; i++)
        self->block [56 + i] = (uint8_t) (bits >> (56 - 8 * i));
    s_blocks (self->state, self->block, 1);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++)
            digest [4 * i + j] = (uint8_t) (self->state [i] >> (24 - 8 * j));
}

void
zpar_hmac_key_init (zpar_hmac_key_t *key, const void *secret, size_t size)
{
    uint8_t block [64] = { 0 }, pad [64];
    if (size > sizeof block) {
        s_init (&key->inner);
        s_update (&key->inner, secret, size);
        s_final (&key->inner, block);
    }
    else
        memcpy (block, secret, size);
    for (int i = 0; i < 64; i++)
        pad [i] = block [i] ^ 0x36;
    s_init (&key->inner);
    s_update (&key->inner, pad, sizeof pad);
    for (int i = 0; i < 64; i++)
        pad [i] = block [i] ^ 0x5c;
    s_init (&key->outer);
    s_update (&key->outer, pad, sizeof pad);
}

void
zpar_hmac_parts (const zpar_hmac_key_t *key, const void *const parts [],
                 const size_t sizes [], size_t nparts, uint8_t mac [32])
{
    zpar_sha256_t hash = key->inner;
    for (size_t i = 0; i < nparts; i++)
        s_update (&hash, parts [i], sizes [i]);
    uint8_t inner [32];
    s_final (&hash, inner);
    hash = key->outer;
    s_update (&hash, inner, sizeof inner);
    s_final (&hash, mac);
}

#else

bool
zpar_sha256_fast (void)
{
    return false;
}

void
zpar_hmac_key_init (zpar_hmac_key_t *key, const void *secret, size_t size)
{
    (void) key, (void) secret, (void) size;
}

void
zpar_hmac_parts (const zpar_hmac_key_t *key, const void *const parts [],
                 const size_t sizes [], size_t nparts, uint8_t mac [32])
{
    (void) key, (void) parts, (void) sizes, (void) nparts;
    memset (mac, 0, 32);
}

#endif
