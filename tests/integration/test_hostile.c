/*  Bad input to every socket a daemon binds: unsigned, forged, replayed,
    malformed, oversize. Each is dropped and counted by reason, and the
    daemon goes on answering valid requests.                             */

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_msg.h"
#include "zpar_request.h"
#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (hostile, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

//  Limit the hostile cluster runs with, so oversize is cheap to reach.
#define S_MAX_SIZE 65536

static zpar_connfile_t *s_conn;
static zpar_sign_t *s_signer;
static zsock_t *s_hub;              //  a raw DEALER to the hub's registration socket

static void
s_start (void)
{
    char extra [64];
    snprintf (extra, sizeof extra, "--max-message-size %d", S_MAX_SIZE);
    zt_cluster_start (1, extra);
    char *path = zt_profile_path ("security/zpar-client.json");
    char *error = NULL;
    s_conn = zpar_connfile_load (path, &error);
    cr_assert_not_null (s_conn, "%s", error);
    free (path);
    s_signer = zpar_sign_new (s_conn->key, 1024);
    s_hub = zsock_new_dealer (s_conn->registration);
    zsock_set_linger (s_hub, 0);
}

static void
s_stop (void)
{
    zsock_destroy (&s_hub);
    zpar_sign_destroy (&s_signer);
    zpar_connfile_destroy (&s_conn);
    zt_cluster_stop ();
}

//  A validly signed message's frames (caller owns).
static zmsg_t *
s_valid (const char *msg_type, json_t *content)
{
    zpar_msg_t *msg = zpar_msg_new (msg_type, "hostile-test");
    zpar_msg_set_content (msg, content? content: json_object ());
    zmsg_t *raw = zpar_msg_encode (msg, s_signer, false, true);
    zpar_msg_destroy (&msg);
    return raw;
}

//  Same frames with the signature replaced.
static zmsg_t *
s_forged (const char *signature)
{
    zmsg_t *raw = s_valid ("status_request", NULL);
    zframe_t *frame = zmsg_first (raw);
    frame = zmsg_next (raw);
    zframe_reset (frame, signature, strlen (signature));
    return raw;
}

#define s_frames zt_frames

//  A signed message with hand-written header and content.
static zmsg_t *
s_signed_text (const char *header, const char *content)
{
    return zt_signed (s_signer, header, "{}", "{}", content);
}

static void
s_send (zsock_t *sock, zmsg_t *raw)
{
    cr_assert_eq (zmsg_send (&raw, sock), 0);
}

//  The hub's status through the same socket the bad messages took: the
//  hub handles a connection's messages in order, so the answer counts them.
static json_t *
s_hub_status (void)
{
    zpar_peer_t peer = { s_hub, s_signer, "hostile-test", 0, NULL, 0 };
    zpar_msg_t *reply = zpar_request (&peer, "status_request", json_object (), 5000);
    cr_assert_not_null (reply, "the hub stopped answering");
    cr_assert (zpar_reply_ok (reply));
    json_t *status = json_incref (zpar_msg_content (reply));
    zpar_msg_destroy (&reply);
    return status;
}

static json_int_t
s_count (json_t *status, const char *path_a, const char *reason)
{
    json_t *dropped = path_a? json_object_get (json_object_get (status, path_a), "dropped")
                            : json_object_get (status, "dropped");
    return json_integer_value (json_object_get (dropped, reason));
}

Test (hostile, forged_and_unsigned_messages_are_dropped_and_counted)
{
    s_start ();
    s_send (s_hub, s_forged ("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    s_send (s_hub, s_forged (""));
    s_send (s_hub, s_forged ("not even hex"));
    json_t *status = s_hub_status ();
    cr_assert_eq (s_count (status, "hub", "bad_signature"), 3);
    cr_assert_eq (s_count (status, NULL, "bad_signature"), 3);
    cr_assert_eq (json_integer_value (json_object_get (status, "engines")), 1);
    json_decref (status);

    //  People see the same count.
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s status --json", zt_build_path ("bin/zpar")), 0);
    json_t *seen = zt_json (out);
    cr_assert_eq (s_count (seen, NULL, "bad_signature"), 3);
    json_decref (seen);
    free (out);
    s_stop ();
}

Test (hostile, a_replayed_message_is_dropped)
{
    s_start ();
    zmsg_t *raw = s_valid ("status_request", NULL);
    zmsg_t *replay = zmsg_dup (raw);
    s_send (s_hub, raw);
    zmsg_t *first = zmsg_recv (s_hub);
    cr_assert_not_null (first, "no answer to the original");
    zmsg_destroy (&first);
    s_send (s_hub, replay);
    //  The next answer is to a fresh request, not to the replay.
    json_t *status = s_hub_status ();
    cr_assert_eq (s_count (status, "hub", "replay"), 1);
    json_decref (status);
    zsock_set_rcvtimeo (s_hub, 0);
    zmsg_t *extra = zmsg_recv (s_hub);
    cr_assert_null (extra, "the replay was answered");
    s_stop ();
}

Test (hostile, malformed_messages_are_dropped)
{
    s_start ();
    s_send (s_hub, s_frames ("no delimiter", "at all", NULL));
    s_send (s_hub, s_frames (ZPAR_DELIM, "too", "few", NULL));
    s_send (s_hub, s_signed_text ("{this is not json", "{}"));
    s_send (s_hub, s_signed_text ("{\"msg_id\":\"m1\"}", "{}"));
    s_send (s_hub, s_signed_text ("{\"msg_id\":\"m2\",\"msg_type\":\"registration_request\"}", "[]"));
    s_send (s_hub, s_signed_text ("{\"msg_id\":\"m3\",\"msg_type\":\"registration_request\"}",
                                  "{\"uuid\":7}"));
    json_t *status = s_hub_status ();
    cr_assert_eq (s_count (status, "hub", "malformed"), 6);
    cr_assert_eq (s_count (status, "hub", "bad_signature"), 0);
    json_decref (status);

    //  A signed message of a type the hub does not take: counted, and not
    //  answered (an answer would be a fresh signed message for whoever
    //  replays someone else's).
    s_send (s_hub, s_valid ("make_coffee", NULL));
    status = s_hub_status ();
    cr_assert_eq (s_count (status, "hub", "unknown_type"), 1);
    json_decref (status);
    zsock_set_rcvtimeo (s_hub, 0);
    zmsg_t *extra = zmsg_recv (s_hub);
    cr_assert_null (extra, "an unknown type was answered");
    s_stop ();
}

Test (hostile, oversize_messages_are_dropped)
{
    s_start ();
    //  Frames each under the limit, more than the limit together.
    zmsg_t *raw = s_valid ("status_request", NULL);
    char *big = calloc (1, S_MAX_SIZE / 2 + 1);
    memset (big, 'x', S_MAX_SIZE / 2);
    zmsg_addstr (raw, big);
    zmsg_addstr (raw, big);
    s_send (s_hub, raw);
    json_t *status = s_hub_status ();
    cr_assert_eq (s_count (status, "hub", "oversize"), 1);
    json_decref (status);

    //  One frame over the limit: ZeroMQ cuts that connection off; the hub
    //  answers everyone else.
    zsock_t *rogue = zsock_new_dealer (s_conn->registration);
    char *huge = calloc (1, 2 * S_MAX_SIZE + 1);
    memset (huge, 'y', 2 * S_MAX_SIZE);
    zstr_send (rogue, huge);
    status = s_hub_status ();
    cr_assert_eq (json_integer_value (json_object_get (status, "engines")), 1);
    json_decref (status);
    zsock_destroy (&rogue);

    //  A request or a result over the limit fails the call at once, with
    //  a reason, instead of vanishing.
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *view = zpar_client_direct (client, "0");
    json_t *args = json_pack ("[s]", huge), *error = NULL;
    cr_assert_null (zpar_view_apply_sync (view, "echo", args, &error));
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "ValueError");
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "over the cluster's limit"));
    json_decref (error);
    json_decref (args);
    args = json_pack ("[i]", 300000);
    cr_assert_null (zpar_view_apply_sync (view, "primes", args, &error));
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "the result is"),
               "%s", json_string_value (json_object_get (error, "evalue")));
    json_decref (error);
    json_decref (args);
    //  And the engine is fine.
    args = json_pack ("[i]", 10);
    json_t *primes = zpar_view_apply_sync (view, "primes", args, &error);
    cr_assert_eq (json_array_size (json_array_get (primes, 0)), 4);
    json_decref (primes);
    json_decref (args);
    zpar_view_destroy (&view);
    zpar_client_destroy (&client);
    free (big);
    free (huge);
    s_stop ();
}

//  A balanced call through a new client comes back.
static void
s_assert_cluster_works (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *args = json_pack ("[i]", 5), *error = NULL;
    json_t *value = zpar_view_apply_sync (balanced, "echo", args, &error);
    cr_assert_eq (json_integer_value (value), 5);
    json_decref (value);
    json_decref (args);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
}

//  Connects a PUB-like socket to a bound SUB and waits until the SUB's
//  subscription arrived, so nothing sent afterwards is lost.
static zsock_t *
s_publisher (const char *endpoint)
{
    zsock_t *pub = zsock_new (ZMQ_XPUB);
    zsock_set_linger (pub, 1000);
    cr_assert_eq (zsock_connect (pub, "%s", endpoint), 0);
    zframe_t *subscription = zframe_recv (pub);
    cr_assert_not_null (subscription);
    zframe_destroy (&subscription);
    return pub;
}

static json_t *
s_role (json_t *status, const char *role)
{
    return json_object_get (json_object_get (status, "schedulers"), role);
}

Test (hostile, every_bound_socket_drops_and_counts_bad_input)
{
    s_start ();
    json_t *status = s_hub_status ();
    json_t *endpoints = json_object_get (json_object_get (status, "hub"), "endpoints");
    const char *forged = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    //  Hub: a pong with a bad signature, monitor copies with bad ones.
    zsock_t *pong = zsock_new_dealer (json_string_value (json_object_get (endpoints, "hb_pong")));
    zsock_set_identity (pong, "not-an-engine");
    zstr_sendx (pong, "1", forged, NULL);
    zsock_t *monitor = s_publisher (json_string_value (json_object_get (endpoints, "monitor")));
    zmsg_t *copy = s_forged (forged);
    zmsg_pushstr (copy, "");
    zmsg_pushstr (copy, "engine");
    zmsg_pushstr (copy, "in");
    s_send (monitor, copy);
    //  Batches of copies: with a forged signature, and two without one.
    const char *entry [] = { "in", "engine", "", "{}", "{}", "{}", "{}" };
    zchunk_t *blob = zchunk_new (NULL, 0);
    for (int i = 0; i < 7; i++) {
        uint8_t length [4] = { 0, 0, 0, (uint8_t) strlen (entry [i]) };
        zchunk_extend (blob, length, 4);
        zchunk_extend (blob, entry [i], strlen (entry [i]));
    }
    zmsg_t *batch = s_frames ("batch", forged, NULL);
    zmsg_addmem (batch, zchunk_data (blob), zchunk_size (blob));
    s_send (monitor, batch);
    s_send (monitor, s_frames ("batch", NULL));
    batch = s_frames ("batch", NULL);
    zmsg_addmem (batch, zchunk_data (blob), zchunk_size (blob));
    s_send (monitor, batch);
    zchunk_destroy (&blob);

    //  Scheduler: both ROUTERs of mux, task, control and broadcast (the
    //  root's, and its first leaf's), and iopub's SUB.
    const char *roles [] = { "mux", "task", "control", "broadcast" };
    int sent_to_scheduler = 0;
    zsock_t *dealers [8];
    for (int i = 0; i < 4; i++) {
        json_t *role = s_role (status, roles [i]);
        cr_assert_not_null (role, "no %s role in status", roles [i]);
        const char *engine_side = json_string_value (json_object_get (role, "engine_endpoint"));
        char first [300];
        snprintf (first, sizeof first, "%.*s", (int) strcspn (engine_side, " "), engine_side);
        dealers [2 * i] = zsock_new_dealer (json_string_value (json_object_get (role, "client_endpoint")));
        dealers [2 * i + 1] = zsock_new_dealer (first);
        s_send (dealers [2 * i], s_forged (forged));
        s_send (dealers [2 * i + 1], s_forged (forged));
        sent_to_scheduler += 2;
    }
    zsock_t *iopub = s_publisher (json_string_value (json_object_get (s_role (status, "iopub"), "engine_endpoint")));
    zmsg_t *output = s_forged (forged);
    zmsg_pushstr (output, "engine.0.stdout");
    s_send (iopub, output);
    sent_to_scheduler++;
    json_decref (status);

    //  The scheduler reports its counters to the hub on its own schedule:
    //  ask until they arrive.
    int64_t deadline = zpar_mono_ms () + 10000;
    json_int_t in_scheduler = 0, in_hub = 0;
    while (zpar_mono_ms () < deadline) {
        status = s_hub_status ();
        in_scheduler = 0;
        for (int i = 0; i < 5; i++) {
            const char *role = i < 4? roles [i]: "iopub";
            in_scheduler += json_integer_value (json_object_get (
                json_object_get (s_role (status, role), "dropped"), "bad_signature"));
        }
        in_hub = s_count (status, "hub", "bad_signature");
        json_int_t total = s_count (status, NULL, "bad_signature");
        json_int_t malformed = s_count (status, "hub", "malformed");
        json_decref (status);
        if (in_scheduler == sent_to_scheduler && in_hub == 3) {
            cr_assert_eq (total, sent_to_scheduler + 3);
            //  The two batches without a signature.
            cr_assert_eq (malformed, 2);
            break;
        }
        zclock_sleep (20);
    }
    cr_assert_eq (in_hub, 3, "hub counted %lld of 3", (long long) in_hub);
    cr_assert_eq (in_scheduler, sent_to_scheduler, "scheduler counted %lld of %d",
                  (long long) in_scheduler, sent_to_scheduler);

    //  And the cluster still works.
    s_assert_cluster_works ();
    for (int i = 0; i < 8; i++)
        zsock_destroy (&dealers [i]);
    zsock_destroy (&pong);
    zsock_destroy (&monitor);
    zsock_destroy (&iopub);
    s_stop ();
}

//  All drops in a "dropped" object, whatever the reason.
static json_int_t
s_total (json_t *dropped)
{
    json_int_t total = 0;
    const char *reason;
    json_t *count;
    json_object_foreach (dropped, reason, count)
        total += json_integer_value (count);
    return total;
}

//  A bad message: random frames, or a valid one with one byte changed
//  (in the delimiter, the signature or a JSON frame).
static uint64_t
s_next (uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 33;
}

static zmsg_t *
s_garbage (uint64_t *seed)
{
    zmsg_t *raw;
    if (s_next (seed) % 2) {
        raw = zmsg_new ();
        size_t frames = 1 + s_next (seed) % 8;
        for (size_t f = 0; f < frames; f++) {
            uint8_t bytes [64];
            size_t size = s_next (seed) % sizeof bytes;
            for (size_t b = 0; b < size; b++)
                bytes [b] = (uint8_t) s_next (seed);
            zmsg_addmem (raw, bytes, size);
        }
    }
    else {
        raw = s_valid ("status_request", NULL);
        zframe_t *frame = zmsg_first (raw);
        for (size_t f = s_next (seed) % zmsg_size (raw); f; f--)
            frame = zmsg_next (raw);
        if (zframe_size (frame) == 0)
            zframe_reset (frame, "x", 1);
        else {
            size_t at = s_next (seed) % zframe_size (frame);
            ((uint8_t *) zframe_data (frame)) [at] ^= (uint8_t) (1 + s_next (seed) % 255);
        }
    }
    return raw;
}

Test (hostile, a_flood_of_garbage_is_dropped_and_counted_to_the_message, .timeout = 120)
{
    enum { TOTAL = 100000, SOCKETS = 10, EACH = TOTAL / SOCKETS };
    s_start ();
    json_t *status = s_hub_status ();
    json_t *hub_endpoints = json_object_get (json_object_get (status, "hub"), "endpoints");
    //  Every socket the hub and the scheduler bind that takes input: the
    //  hub's registration, pong and monitor sockets; both sides of mux,
    //  task and control; iopub's engine side. Publishers never drop: they
    //  block instead, so that every message sent arrives to be counted.
    zsock_t *socks [SOCKETS];
    socks [0] = zsock_new_dealer (s_conn->registration);
    socks [1] = zsock_new_dealer (json_string_value (json_object_get (hub_endpoints, "hb_pong")));
    zsock_set_identity (socks [1], "not-an-engine");
    socks [2] = s_publisher (json_string_value (json_object_get (hub_endpoints, "monitor")));
    const char *roles [] = { "mux", "task", "control" };
    for (int i = 0; i < 3; i++) {
        json_t *role = s_role (status, roles [i]);
        socks [3 + 2 * i] = zsock_new_dealer (json_string_value (json_object_get (role, "client_endpoint")));
        socks [4 + 2 * i] = zsock_new_dealer (json_string_value (json_object_get (role, "engine_endpoint")));
    }
    socks [9] = s_publisher (json_string_value (json_object_get (s_role (status, "iopub"), "engine_endpoint")));
    json_decref (status);
    for (int k = 0; k < SOCKETS; k++) {
        zsock_set_sndhwm (socks [k], 0);
        if (k == 2 || k == 9)
            zsock_set_xpub_nodrop (socks [k], 1);
    }
    uint64_t seed = 2026;
    for (int i = 0; i < EACH; i++)
        for (int k = 0; k < SOCKETS; k++)
            s_send (socks [k], s_garbage (&seed));

    //  The counts reach the hub's status as the daemons get through them.
    json_int_t hub = 0, mux = 0, task = 0, control = 0, iopub = 0;
    for (int64_t deadline = zpar_mono_ms () + 90000; zpar_mono_ms () < deadline;) {
        status = s_hub_status ();
        hub = s_total (json_object_get (json_object_get (status, "hub"), "dropped"));
        mux = s_total (json_object_get (s_role (status, "mux"), "dropped"));
        task = s_total (json_object_get (s_role (status, "task"), "dropped"));
        control = s_total (json_object_get (s_role (status, "control"), "dropped"));
        iopub = s_total (json_object_get (s_role (status, "iopub"), "dropped"));
        json_decref (status);
        if (hub >= 3 * EACH && mux >= 2 * EACH && task >= 2 * EACH && control >= 2 * EACH && iopub >= EACH)
            break;
        zclock_sleep (100);         //  counters travel on their own schedule
    }
    cr_assert_eq (hub, 3 * EACH);
    cr_assert_eq (mux, 2 * EACH);
    cr_assert_eq (task, 2 * EACH);
    cr_assert_eq (control, 2 * EACH);
    cr_assert_eq (iopub, EACH);

    //  Both still answer, and the cluster still works.
    s_assert_cluster_works ();
    for (int k = 0; k < SOCKETS; k++)
        zsock_destroy (&socks [k]);
    s_stop ();
}

//  The fuzz target's checked-in corpus, replayed by the same program built
//  without libFuzzer (see tests/fuzz/fuzz_wire.c): every input that once
//  found a new path runs again, with the scanner/parser and HMAC checks.
Test (hostile, fuzz_corpus_replays_without_a_fault)
{
    const char *source = getenv ("ZPAR_SOURCE");
    cr_assert_not_null (source, "ZPAR_SOURCE is not set (run through make test)");
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "%s %s/tests/fuzz/corpus", zt_build_path ("tests/fuzz_wire"), source);
    cr_assert_eq (rc, 0, "%s%s", out, err);
    size_t replayed = 0;
    cr_assert_eq (sscanf (out, "fuzz_wire: %zu inputs replayed", &replayed), 1, "%s", out);
    cr_assert_geq (replayed, 4, "%s", out);
    free (out);
    free (err);
}

//  A key holder that sends one msg_id twice (other bytes, so no replay):
//  the task scheduler runs the first and drops the second as malformed,
//  whether the first is still waiting or already ended.
Test (hostile, the_same_msg_id_twice_runs_once)
{
    s_start ();
    json_t *status = s_hub_status ();
    zsock_t *task = zsock_new_dealer (json_string_value (json_object_get (s_role (status, "task"),
                                                                          "client_endpoint")));
    json_decref (status);
    const char *header = "{\"msg_id\":\"twice-1\",\"msg_type\":\"apply_request\",\"session\":\"hostile\","
                         "\"username\":\"t\",\"date\":\"2026-01-01T00:00:00.000000Z\",\"version\":\"5.3\"}";
    //  A first that sleeps, so that the second comes while it runs.
    s_send (task, s_signed_text (header, "{\"fn\":\"sleep\",\"args\":[0.3],\"kwargs\":{}}"));
    s_send (task, s_signed_text (header, "{\"fn\":\"echo\",\"args\":[2],\"kwargs\":{}}"));
    zsock_set_rcvtimeo (task, 10000);
    zmsg_t *raw = zmsg_recv (task);
    cr_assert_not_null (raw, "no answer to the first");
    zpar_msg_t *reply = zpar_msg_decode (&raw, s_signer, 0, NULL, NULL);
    cr_assert_not_null (reply);
    cr_assert_str_eq (zpar_msg_parent_id (reply), "twice-1");
    cr_assert_str_eq (json_string_value (json_object_get (zpar_msg_content (reply), "status")), "ok");
    zpar_msg_destroy (&reply);
    //  Once it ended, a third with its msg_id.
    s_send (task, s_signed_text (header, "{\"fn\":\"echo\",\"args\":[3],\"kwargs\":{}}"));
    int64_t deadline = zpar_mono_ms () + 10000;
    json_int_t malformed = 0;
    while (malformed < 2 && zpar_mono_ms () < deadline) {
        status = s_hub_status ();
        malformed = json_integer_value (json_object_get (json_object_get (s_role (status, "task"), "dropped"),
                                                         "malformed"));
        json_decref (status);
    }
    cr_assert_eq (malformed, 2, "the two later copies were not both dropped");
    zsock_set_rcvtimeo (task, 300);
    raw = zmsg_recv (task);
    cr_assert_null (raw, "a copy was answered");
    zsock_destroy (&task);
    s_stop ();
}
