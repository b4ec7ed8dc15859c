/*  The broadcast role: one request fanned out to many engines through the
    scheduler's tree of nodes, one reply per request; errors for engines
    that are unknown or die, requests the role refuses, buffers and
    namespaces through it, and a cluster of 256 engines.                  */

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_msg.h"
#include "zpar_request.h"
#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (broadcast, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 120);

static zpar_client_t *
s_client (size_t engines)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, engines, 60000), 0);
    return client;
}

//  engine_info from every engine of targets, through a broadcast view;
//  asserts the ids come back in the order named.
static void
s_assert_ids (zpar_client_t *client, const char *targets, const int *ids, size_t count)
{
    zpar_view_t *view = zpar_client_broadcast (client, targets);
    cr_assert_not_null (view, "%s", zpar_last_error ());
    json_t *error = NULL;
    json_t *infos = zpar_view_apply_sync (view, "engine_info", NULL, &error);
    cr_assert_not_null (infos, "broadcast failed: %s", json_string_value (json_object_get (error, "evalue")));
    cr_assert_eq (json_array_size (infos), count);
    for (size_t i = 0; i < count; i++)
        cr_assert_eq (json_integer_value (json_object_get (json_array_get (infos, i), "id")), ids [i],
                      "answer %zu is engine %lld, not %d", i,
                      (long long) json_integer_value (json_object_get (json_array_get (infos, i), "id")), ids [i]);
    json_decref (infos);
    zpar_view_destroy (&view);
}

//  A raw DEALER to the broadcast role's client socket, and the key.
typedef struct {
    zpar_connfile_t *conn;
    zpar_sign_t *signer;
    zsock_t *sock;
} s_raw_t;

static s_raw_t
s_raw_open (void)
{
    s_raw_t raw;
    char *path = zt_profile_path ("security/zpar-client.json");
    char *error = NULL;
    raw.conn = zpar_connfile_load (path, &error);
    cr_assert_not_null (raw.conn, "%s", error);
    free (path);
    raw.signer = zpar_sign_new (raw.conn->key, 1024);
    zsock_t *hub = zsock_new_dealer (raw.conn->registration);
    zpar_peer_t peer = { hub, raw.signer, "broadcast-test", 0, NULL, 0 };
    zpar_msg_t *reply = zpar_request (&peer, "status_request", json_object (), 10000);
    cr_assert_not_null (reply);
    json_t *role = json_object_get (json_object_get (zpar_msg_content (reply), "schedulers"), "broadcast");
    const char *endpoint = json_string_value (json_object_get (role, "client_endpoint"));
    cr_assert_not_null (endpoint, "the hub knows no broadcast role");
    raw.sock = zsock_new_dealer (endpoint);
    zsock_set_linger (raw.sock, 0);
    zsock_set_rcvtimeo (raw.sock, 60000);
    zpar_msg_destroy (&reply);
    zsock_destroy (&hub);
    return raw;
}

static void
s_raw_close (s_raw_t *raw)
{
    zsock_destroy (&raw->sock);
    zpar_sign_destroy (&raw->signer);
    zpar_connfile_destroy (&raw->conn);
}

//  Sends an apply_request of fn with metadata (taken) and returns the
//  content of the one message that answers it (caller owns).
static json_t *
s_raw_call (s_raw_t *raw, const char *type, const char *fn, json_t *metadata)
{
    zpar_msg_t *msg = zpar_msg_new (type, "broadcast-test");
    zpar_msg_set_content (msg, json_pack ("{s:s, s:[i], s:{}}", "fn", fn, "args", 1, "kwargs"));
    zpar_msg_set_metadata (msg, metadata);
    cr_assert_eq (zpar_msg_send (&msg, raw->sock, raw->signer), 0);
    zmsg_t *frames = zmsg_recv (raw->sock);
    cr_assert_not_null (frames, "no answer from the broadcast role");
    zpar_drop_t reason;
    zpar_msg_t *reply = zpar_msg_decode (&frames, raw->signer, 1 << 30, NULL, &reason);
    cr_assert_not_null (reply, "the answer is not a signed message (%s)", zpar_drop_name (reason));
    cr_assert_str_eq (zpar_msg_type (reply), "broadcast_reply");
    json_t *content = json_incref (zpar_msg_content (reply));
    zpar_msg_destroy (&reply);
    return content;
}

Test (broadcast, sixty_four_engines_answer_in_one_reply_per_request, .timeout = 180)
{
    zt_cluster_start (64, "--broadcast-depth 2 --hb-period 500 --hb-liveness 10");
    zpar_client_t *client = s_client (64);
    int ids [64];
    for (int i = 0; i < 64; i++)
        ids [i] = i;
    s_assert_ids (client, ZPAR_ALL, ids, 64);
    //  A few, in the order named, whichever leaves they hang from.
    int some [] = { 41, 3, 17, 0 };
    s_assert_ids (client, "41,3,17,0", some, 4);

    //  On the wire: one request, one message back with all 64 answers.
    s_raw_t raw = s_raw_open ();
    json_t *targets = json_array ();
    for (int i = 63; i >= 0; i--)
        json_array_append_new (targets, json_integer (i));
    json_t *content = s_raw_call (&raw, "apply_request", "echo", json_pack ("{s:o}", "targets", targets));
    cr_assert_str_eq (json_string_value (json_object_get (content, "status")), "ok");
    json_t *replies = json_object_get (content, "replies");
    cr_assert_eq (json_array_size (replies), 64, "one message carries %zu answers, not 64",
                  json_array_size (replies));
    for (int i = 0; i < 64; i++) {
        json_t *entry = json_array_get (replies, (size_t) i);
        cr_assert_eq (json_integer_value (json_object_get (entry, "engine_id")), 63 - i);
        json_t *answer = json_object_get (entry, "content");
        cr_assert_str_eq (json_string_value (json_object_get (answer, "status")), "ok");
        cr_assert_eq (json_integer_value (json_object_get (answer, "result")), 1);
        cr_assert_eq (json_integer_value (json_object_get (json_object_get (entry, "metadata"), "engine_id")),
                      63 - i, "the engine's own metadata travels with its answer");
    }
    json_decref (content);
    s_raw_close (&raw);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (broadcast, unknown_and_dead_engines_fail_alone_and_bad_requests_are_refused)
{
    zt_cluster_start (3, "--restart-limit 0");
    zpar_client_t *client = s_client (3);
    s_raw_t raw = s_raw_open ();

    //  An engine that is not there gets an error; the others answer.
    json_t *content = s_raw_call (&raw, "apply_request", "echo", json_pack ("{s:[i, i, i]}", "targets", 2, 999, 0));
    json_t *replies = json_object_get (content, "replies");
    cr_assert_eq (json_array_size (replies), 3);
    json_t *missing = json_object_get (json_array_get (replies, 1), "content");
    cr_assert_str_eq (json_string_value (json_object_get (missing, "ename")), "EngineError");
    cr_assert (strstr (json_string_value (json_object_get (missing, "evalue")), "no engine 999"));
    cr_assert_str_eq (json_string_value (json_object_get (
        json_object_get (json_array_get (replies, 2), "content"), "status")), "ok");
    json_decref (content);

    //  What the role does not take is refused, saying why.
    const char *metadata [] = { "{\"targets\": [0, 0]}", "{\"targets\": []}", "{\"targets\": [\"a\"]}", "{}" };
    const char *why [] = { "twice", "needs targets", "engine ids", "needs targets" };
    for (size_t i = 0; i < 4; i++) {
        content = s_raw_call (&raw, "apply_request", "echo", zt_json (metadata [i]));
        cr_assert_str_eq (json_string_value (json_object_get (content, "status")), "error");
        cr_assert (strstr (json_string_value (json_object_get (content, "evalue")), why [i]),
                   "%s: %s", metadata [i], json_string_value (json_object_get (content, "evalue")));
        json_decref (content);
    }
    content = s_raw_call (&raw, "execute_request", "echo", zt_json ("{\"targets\": [0]}"));
    cr_assert (strstr (json_string_value (json_object_get (content, "evalue")), "apply_request only"));
    json_decref (content);

    //  An engine that dies during a broadcast fails its part only; the
    //  call ends instead of waiting for it.
    zpar_view_t *all = zpar_client_broadcast (client, ZPAR_ALL);
    json_t *args = zt_json ("[1.0]");
    zpar_result_t *result = zpar_view_apply_async (all, "sleep", args);
    json_decref (args);
    cr_assert_not_null (result);
    pid_t victim = zt_pid_of ("engine-1");
    cr_assert (victim > 0);
    kill (victim, SIGKILL);
    cr_assert_eq (zpar_result_wait (result, 30000), 0, "the broadcast did not end");
    json_t *failure = zpar_result_item_error (result, 1);
    cr_assert_not_null (failure, "the dead engine's part did not fail");
    cr_assert_str_eq (json_string_value (json_object_get (failure, "ename")), "EngineError");
    for (size_t i = 0; i < 3; i += 2) {
        cr_assert_null (zpar_result_item_error (result, i));
        cr_assert_eq (json_number_value (zpar_result_item (result, i)), 1.0);
        cr_assert_eq (zpar_result_engine_id (result, i), (int) i);
    }
    zpar_result_destroy (&result);

    //  The role still answers.
    int ids [] = { 0, 2 };
    s_assert_ids (client, "0,2", ids, 2);
    zpar_view_destroy (&all);
    s_raw_close (&raw);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (broadcast, buffers_and_namespaces_travel_through_the_tree)
{
    char extra [512];
    snprintf (extra, sizeof extra, "--broadcast-depth 1 --load %s", zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (4, extra);
    zpar_client_t *client = s_client (4);
    zpar_view_t *all = zpar_client_broadcast (client, ZPAR_ALL);
    json_t *error = NULL;

    //  One buffer out, the same bytes back from every engine.
    size_t size = 1 << 20;
    unsigned char *bytes = malloc (size);
    for (size_t i = 0; i < size; i++)
        bytes [i] = (unsigned char) (i * 7 + 3);
    zpar_buffer_t buffer = { bytes, size };
    zpar_result_t *result = zpar_view_apply_buffers_async (all, "echo_buffers", NULL, NULL, &buffer, 1);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (result, 30000), 0);
    cr_assert (zpar_result_successful (result));
    for (size_t e = 0; e < 4; e++) {
        cr_assert_eq (zpar_result_buffers (result, e), 1);
        size_t got = 0;
        const void *data = zpar_result_buffer (result, e, 0, &got);
        cr_assert_eq (got, size);
        cr_assert_eq (memcmp (data, bytes, size), 0, "engine %zu sent other bytes back", e);
    }
    zpar_result_destroy (&result);
    free (bytes);

    //  push, pull and gather go through the broadcast role as well.
    json_t *values = zt_json ("{\"x\": [1, 2]}");
    cr_assert_eq (zpar_view_push (all, values, &error), 0);
    json_decref (values);
    json_t *joined = zpar_view_gather (all, "x", &error);
    cr_assert_not_null (joined);
    json_t *expected = zt_json ("[1, 2, 1, 2, 1, 2, 1, 2]");
    cr_assert (json_equal (joined, expected));
    json_decref (expected);
    json_decref (joined);

    //  A map on a broadcast view gives each engine its share, through mux.
    json_t *inputs = zt_json ("[[1], [2], [3], [4], [5], [6]]");
    json_t *mapped = zpar_view_map_sync (all, "echo", inputs, 0, &error);
    json_t *wanted_map = zt_json ("[1, 2, 3, 4, 5, 6]");
    cr_assert (json_equal (mapped, wanted_map), "a map on a broadcast view lost its order");
    json_decref (wanted_map);
    json_decref (mapped);
    json_decref (inputs);

    //  And from the command line.
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s apply echo '[5]' --broadcast --targets 3,1 --json --profile %s",
                           zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    json_t *printed = zt_json (out);
    json_t *wanted = zt_json ("{\"3\": 5, \"1\": 5}");
    cr_assert (json_equal (printed, wanted), "zpar apply --broadcast printed %s", out);
    json_decref (printed);
    json_decref (wanted);
    free (out);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (broadcast, more_engines_than_open_files_allow_are_refused_before_anything_starts)
{
    char *err = NULL;
    int rc = zt_runf (NULL, &err, "ulimit -n 300 && exec %s start -n 100 --daemonize --profile %s",
                      zt_build_path ("bin/ipcluster"), ZT_PROFILE);
    cr_assert_eq (rc, 1, "ipcluster start exited %d: %s", rc, err);
    cr_assert (strstr (err, "100 engines need about") && strstr (err, "ulimit -Hn"), "%s", err);
    free (err);
    pid_t pids [8];
    cr_assert_eq (zt_cluster_pids (pids, 8), 0, "a refused start left processes");
}

Test (broadcast, a_cluster_of_256_engines_starts_answers_and_stops, .timeout = 300)
{
    //  Heartbeats as a real cluster has them: 256 engines starting at once
    //  on a small machine (slower still under a sanitizer) may leave one
    //  silent for longer than the suite's fast 100 ms heartbeat allows.
    zt_cluster_start (256, "--timeout 240 --hb-period 1000 --hb-liveness 10");
    zpar_client_t *client = s_client (256);
    int ids [256];
    for (int i = 0; i < 256; i++)
        ids [i] = i;
    s_assert_ids (client, ZPAR_ALL, ids, 256);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
