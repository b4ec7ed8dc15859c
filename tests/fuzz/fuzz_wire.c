/*  fuzz_wire.c - what a daemon does with bytes from the network or a
    file it did not write: the message decoder (and the readers behind
    it), the signature check, the connection-file parser.

    One program, two modes. Built by `make fuzz` with clang and libFuzzer
    (-DZPAR_FUZZ_ENGINE), LLVMFuzzerTestOneInput is its entry and libFuzzer
    drives it. Built by `make` with gcc, main replays every file it is
    given (or every file in the folders it is given) through the same
    function, which is how `make test` runs the checked-in corpus; with
    --seed DIR it writes the hand-made starting inputs instead.

    An input's first byte picks the target:
      0  message   frames separated by 0xFF bytes; if the second byte is
                   odd, the frames after the delimiter are signed with the
                   test key first (as zpar signs: the four JSON frames, then
                   each buffer after its length), so that the parsers are
                   reached
      1  signature key, then parts, separated by 0xFF: the SHA-instruction
                   HMAC must equal libsodium's, and verify must agree
      2  connfile  the rest is connection-file text

    Beyond not crashing, two things are asserted: the scanner that reads
    ids without parsing agrees with the JSON parser, and both HMACs agree. */

#include "zpar_connfile.h"
#include "zpar_msg.h"
#include "zpar_sha256.h"
#include "zpar_sign.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_KEY "fuzz-key-0123456789abcdef"
#define S_SEPARATOR 0xFF

static zpar_sign_t *s_signer;

static void
s_check (bool ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, "fuzz_wire: %s\n", what);
        abort ();
    }
}

//  Next part of data up to a separator; false when none is left.
static bool
s_next_part (const uint8_t **at, const uint8_t *end, const uint8_t **part, size_t *size)
{
    if (*at > end)
        return false;
    const uint8_t *stop = memchr (*at, S_SEPARATOR, (size_t) (end - *at));
    stop = stop? stop: end;
    *part = *at;
    *size = (size_t) (stop - *at);
    *at = stop + 1;
    return true;
}

//  The scanned string is the parsed object's member, or both are absent.
static void
s_agree (const char *scanned, json_t *object, const char *key)
{
    const char *parsed = json_string_value (json_object_get (object, key));
    s_check (!scanned == !parsed, "scanner and parser disagree on whether it is there");
    if (scanned)
        s_check (strcmp (scanned, parsed) == 0, "scanner and parser disagree");
}

static void
s_fuzz_message (const uint8_t *data, size_t size)
{
    bool sign = size && (data [0] & 1);
    const uint8_t *at = data + (size? 1: 0), *end = data + size, *part;
    size_t part_size;
    zmsg_t *raw = zmsg_new ();
    while (s_next_part (&at, end, &part, &part_size) && zmsg_size (raw) < 64)
        zmsg_addmem (raw, part, part_size);
    if (sign) {
        //  Replace the frame after the delimiter with the right signature.
        zframe_t *frame = zmsg_first (raw);
        while (frame && !zframe_streq (frame, ZPAR_DELIM))
            frame = zmsg_next (raw);
        zframe_t *signature = frame? zmsg_next (raw): NULL;
        //  The JSON frames, then each buffer after its 8-byte length.
        const void *parts [ZPAR_JSON_FRAMES + 128];
        size_t sizes [ZPAR_JSON_FRAMES + 128];
        uint8_t lengths [64][8];
        size_t found = 0, buffers = 0;
        for (zframe_t *next = signature? zmsg_next (raw): NULL; next; next = zmsg_next (raw)) {
            if (found >= ZPAR_JSON_FRAMES) {
                uint64_t length = zframe_size (next);
                for (int k = 0; k < 8; k++)
                    lengths [buffers][k] = (uint8_t) (length >> (56 - 8 * k));
                parts [found] = lengths [buffers++];
                sizes [found++] = 8;
            }
            parts [found] = zframe_data (next);
            sizes [found++] = zframe_size (next);
        }
        if (found >= ZPAR_JSON_FRAMES) {
            char text [ZPAR_SIGNATURE_LEN + 1];
            zpar_sign_parts (s_signer, parts, sizes, found, text);
            zframe_reset (signature, text, ZPAR_SIGNATURE_LEN);
        }
    }
    zmsg_t *copy = zmsg_dup (raw);
    zpar_drop_t reason;
    //  Replay checks are kept apart per run: each input is new.
    zpar_msg_t *msg = zpar_msg_decode (&raw, s_signer, 1 << 20, NULL, &reason);
    zpar_msg_t *frames = zpar_msg_decode_frames (&copy, s_signer, 1 << 20, "frames", &reason);
    for (zpar_msg_t *each = msg; each; each = each == msg? frames: NULL) {
        const char *type = zpar_msg_type (each), *id = zpar_msg_id (each);
        const char *date = zpar_msg_date (each), *parent_id = zpar_msg_parent_id (each);
        const char *status = zpar_msg_status (each);
        long long engine_id;
        bool has_engine = zpar_msg_metadata_integer (each, "engine_id", &engine_id);
        s_agree (type, zpar_msg_header (each), "msg_type");
        s_agree (id, zpar_msg_header (each), "msg_id");
        s_agree (date, zpar_msg_header (each), "date");
        s_agree (parent_id, zpar_msg_parent (each), "msg_id");
        s_agree (status, zpar_msg_metadata (each), "status");
        json_t *member = json_object_get (zpar_msg_metadata (each), "engine_id");
        s_check (has_engine == json_is_integer (member), "engine_id found by one reader only");
        if (has_engine)
            s_check (engine_id == json_integer_value (member), "engine_id read two ways");
        zpar_msg_content (each);
        zpar_msg_t *dup = zpar_msg_dup (each);
        zmsg_t *encoded = zpar_msg_encode (dup, s_signer, true, true);
        s_check (zmsg_content_size (encoded) == zpar_msg_size (dup, s_signer), "size and encoding differ");
        zmsg_destroy (&encoded);
        zpar_msg_destroy (&dup);
    }
    zpar_msg_destroy (&msg);
    zpar_msg_destroy (&frames);
    zmsg_destroy (&raw);
    zmsg_destroy (&copy);
}

static void
s_fuzz_signature (const uint8_t *data, size_t size)
{
    const uint8_t *at = data, *end = data + size, *key, *part;
    size_t key_size, part_size;
    if (!s_next_part (&at, end, &key, &key_size) || !zpar_sha256_fast ())
        return;
    const void *parts [16];
    size_t sizes [16], count = 0;
    crypto_auth_hmacsha256_state state;
    crypto_auth_hmacsha256_init (&state, key, key_size);
    while (count < 16 && s_next_part (&at, end, &part, &part_size)) {
        parts [count] = part;
        sizes [count++] = part_size;
        crypto_auth_hmacsha256_update (&state, part, part_size);
    }
    uint8_t theirs [32], mine [32];
    crypto_auth_hmacsha256_final (&state, theirs);
    zpar_hmac_key_t fast;
    zpar_hmac_key_init (&fast, key, key_size);
    zpar_hmac_parts (&fast, parts, sizes, count, mine);
    s_check (memcmp (mine, theirs, sizeof mine) == 0, "SHA-instruction HMAC differs from libsodium's");
    //  The last part, taken as a signature of the others, verifies only
    //  if it is exactly theirs in lowercase hex.
    if (count) {
        char hex [ZPAR_SIGNATURE_LEN + 1];
        zpar_sign_parts (s_signer, parts, sizes, count - 1, hex);
        bool same = sizes [count - 1] == ZPAR_SIGNATURE_LEN && memcmp (parts [count - 1], hex, ZPAR_SIGNATURE_LEN) == 0;
        int rc = zpar_sign_verify (s_signer, parts, sizes, count - 1, parts [count - 1], sizes [count - 1]);
        s_check ((rc == 0) == same, "verify accepts what it should not, or refuses its own");
    }
}

static void
s_fuzz_connfile (const uint8_t *data, size_t size)
{
    char *error = NULL;
    zpar_connfile_t *conn = zpar_connfile_parse ((const char *) data, size, &error);
    s_check (!conn || !error, "a connection file both parsed and failed");
    s_check (conn || error, "a connection file failed without a reason");
    zpar_connfile_destroy (&conn);
    free (error);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_signer) {
        s_signer = zpar_sign_new (S_KEY, 0);
        s_check (s_signer && sodium_init () >= 0, "no signer");
    }
    if (!size)
        return 0;
    if (data [0] == 0)
        s_fuzz_message (data + 1, size - 1);
    else
    if (data [0] == 1)
        s_fuzz_signature (data + 1, size - 1);
    else
    if (data [0] == 2)
        s_fuzz_connfile (data + 1, size - 1);
    return 0;
}

#ifndef ZPAR_FUZZ_ENGINE

//  -- replay and seeds, without libFuzzer --------------------------------------

static int
s_replay_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "fuzz_wire: cannot read %s\n", path);
        return -1;
    }
    size_t capacity = 1 << 16, size = 0, got;
    uint8_t *data = malloc (capacity);
    while ((got = fread (data + size, 1, capacity - size, file)) > 0) {
        size += got;
        if (size == capacity)
            data = realloc (data, capacity *= 2);
    }
    fclose (file);
    LLVMFuzzerTestOneInput (data, size);
    free (data);
    return 0;
}

//  Files, and the files in folders (one level, as libFuzzer keeps them).
static int
s_replay (const char *path, size_t *count)
{
    struct stat info;
    if (stat (path, &info) != 0) {
        fprintf (stderr, "fuzz_wire: no such file or folder: %s\n", path);
        return -1;
    }
    if (!S_ISDIR (info.st_mode)) {
        (*count)++;
        return s_replay_file (path);
    }
    DIR *dir = opendir (path);
    struct dirent *entry;
    int rc = dir? 0: -1;
    while (dir && (entry = readdir (dir))) {
        char child [4096];
        snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
        if (entry->d_name [0] != '.' && stat (child, &info) == 0 && S_ISREG (info.st_mode)) {
            (*count)++;
            rc |= s_replay_file (child);
        }
    }
    if (dir)
        closedir (dir);
    return rc;
}

static void
s_write_seed (const char *dir, const char *name, const void *data, size_t size)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    if (file) {
        fwrite (data, 1, size, file);
        fclose (file);
    }
}

//  A message input: target byte, sign flag, frames joined by separators.
static void
s_seed_message (const char *dir, const char *name, const char *const frames [], size_t count)
{
    char data [4096];
    size_t size = 0;
    data [size++] = 0;
    data [size++] = 1;
    for (size_t i = 0; i < count; i++) {
        if (i)
            data [size++] = (char) S_SEPARATOR;
        size_t length = strlen (frames [i]);
        memcpy (data + size, frames [i], length);
        size += length;
    }
    s_write_seed (dir, name, data, size);
}

static void
s_seeds (const char *dir)
{
    const char *request [] = {
        "client", ZPAR_DELIM, "signature",
        ("{\"msg_id\":\"s_1\",\"msg_type\":\"apply_request\",\"session\":\"s\",\"username\":\"u\","
         "\"date\":\"2026-11-25T15:08:09.000001Z\",\"version\":\"5.3\"}"),
        "{}", "{\"retries\":1,\"after\":[\"s_0\"],\"timeout\":2.5}",
        "{\"fn\":\"echo\",\"args\":[1,\"two\",{\"x\":null}],\"kwargs\":{}}"
    };
    s_seed_message (dir, "message-request", request, 7);
    const char *reply [] = {
        "engine", "client", ZPAR_DELIM, "signature",
        ("{\"msg_id\":\"e_1\",\"msg_type\":\"apply_reply\",\"session\":\"e\",\"username\":\"u\","
         "\"date\":\"2026-11-25T15:08:09.000002Z\",\"version\":\"5.3\"}"),
        "{\"msg_id\":\"s_1\",\"msg_type\":\"apply_request\"}",
        "{\"status\":\"ok\",\"engine_id\":3,\"engine_uuid\":\"u-1\",\"started\":\"2026-11-25T15:08:09.000001Z\"}",
        "{\"status\":\"ok\",\"result\":[1,2.5e3,true,\"caf\\u00e9\"]}", "buffer"
    };
    s_seed_message (dir, "message-reply", reply, 9);
    const char signature [] = "\001key\377{\"a\":1}\377{}\377"
        "0000000000000000000000000000000000000000000000000000000000000000";
    s_write_seed (dir, "signature", signature, sizeof signature - 1);
    const char connfile [] = "\002{\"registration\":\"tcp://127.0.0.1:5555\",\"key\":\"abc\","
        "\"signature_scheme\":\"hmac-sha256\",\"location\":\"127.0.0.1\",\"max_message_size\":1024,"
        "\"hub_pid\":42,\"hub_ports\":{\"hb_ping\":5556,\"hb_pong\":5557,\"notification\":5558,"
        "\"monitor\":5559}}";
    s_write_seed (dir, "connfile", connfile, sizeof connfile - 1);
}

int
main (int argc, char *argv [])
{
    if (argc == 3 && strcmp (argv [1], "--seed") == 0) {
        s_seeds (argv [2]);
        return 0;
    }
    if (argc < 2 || argv [1][0] == '-') {
        fprintf (stderr, "usage: fuzz_wire FILE-OR-FOLDER...   replay inputs\n"
                         "       fuzz_wire --seed FOLDER       write the starting inputs\n");
        return 2;
    }
    size_t count = 0;
    int rc = 0;
    for (int i = 1; i < argc; i++)
        rc |= s_replay (argv [i], &count);
    zpar_sign_destroy (&s_signer);
    printf ("fuzz_wire: %zu inputs replayed\n", count);
    return rc? 1: 0;
}

#endif
