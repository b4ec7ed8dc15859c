/*  Data between the client and engines: the engines' namespaces (push,
    pull, scatter, gather, a plugin function working on what was pushed,
    zpar push and pull), and binary buffers with a call, up to 100 MiB,
    or refused over the cluster's limit.                                 */

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zpar/zpar.h>

#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (namespace, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

static zpar_client_t *
s_client (size_t engines)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, engines, 10000), 0);
    return client;
}

Test (namespace, push_pull_scatter_gather_round_trip)
{
    char extra [512];
    snprintf (extra, sizeof extra, "--load %s", zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (3, extra);
    zpar_client_t *client = s_client (3);
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;

    json_t *values = zt_json ("{\"a\": 5, \"b\": {\"nested\": [true, null, \"x\"]}}");
    cr_assert_eq (zpar_view_push (all, values, &error), 0);
    json_t *name_b = json_string ("b");
    json_t *pulled = zpar_view_pull (all, name_b, &error);
    json_decref (name_b);
    cr_assert_not_null (pulled);
    cr_assert_eq (json_array_size (pulled), 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert (json_equal (json_array_get (pulled, i), json_object_get (values, "b")));
    json_decref (pulled);
    json_decref (values);

    //  Ten items over three engines: 4, 3 and 3, in order.
    json_t *items = zt_json ("[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]");
    cr_assert_eq (zpar_view_scatter (all, "part", items, &error), 0);
    json_t *names = json_string ("part");
    pulled = zpar_view_pull (all, names, &error);
    cr_assert_eq (json_array_size (json_array_get (pulled, 0)), 4);
    cr_assert_eq (json_array_size (json_array_get (pulled, 1)), 3);
    cr_assert_eq (json_integer_value (json_array_get (json_array_get (pulled, 1), 0)), 4);
    json_decref (pulled);
    json_t *joined = zpar_view_gather (all, "part", &error);
    cr_assert (json_equal (joined, items), "gather did not give scatter's input back");
    json_decref (joined);

    //  A function works on what was scattered; the result is pulled back.
    json_t *args = zt_json ("[\"part\", \"twice\"]");
    json_t *counts = zpar_view_apply_sync (all, "double_all", args, &error);
    cr_assert_not_null (counts);
    json_decref (counts);
    json_decref (args);
    json_t *twice = zpar_view_gather (all, "twice", &error);
    cr_assert_eq (json_array_size (twice), 10);
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq (json_number_value (json_array_get (twice, i)), 2.0 * (double) i);
    json_decref (twice);

    //  A name an engine lacks, and a view without namespaces.
    json_t *missing = json_string ("nowhere");
    cr_assert_null (zpar_view_pull (all, missing, &error));
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "no name 'nowhere'"));
    json_decref (error);
    error = NULL;
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_scatter (balanced, "part", items, &error), -1);
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "direct view"));
    json_decref (error);
    json_decref (missing);
    json_decref (names);
    json_decref (items);
    zpar_view_destroy (&balanced);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (namespace, zpar_push_and_pull_on_the_command_line)
{
    zt_cluster_start (2, NULL);
    char *out = NULL, *err = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s push '{\"k\": [1, 2]}' --targets 1",
                           zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    cr_assert (strstr (out, "pushed 1 name to 1 engine"), "%s", out);
    free (out);
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s --json pull k --targets 1", zt_build_path ("bin/zpar"),
                           ZT_PROFILE), 0);
    json_t *pulled = zt_json (out), *expected = zt_json ("[1, 2]");
    cr_assert (json_equal (json_object_get (pulled, "1"), expected), "%s", out);
    json_decref (expected);
    json_decref (pulled);
    free (out);
    //  Engine 0 never had it: a KeyError, exit 1.
    cr_assert_eq (zt_runf (NULL, &err, "%s --profile %s pull k", zt_build_path ("bin/zpar"), ZT_PROFILE), 1);
    cr_assert (strstr (err, "KeyError"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s --profile %s push '[1]'", zt_build_path ("bin/zpar"), ZT_PROFILE), 2);
    free (err);
    zt_cluster_stop ();
}

Test (namespace, a_100_mib_buffer_goes_and_comes_back_the_same)
{
    char extra [600];
    snprintf (extra, sizeof extra, "--max-message-size %d --load %s", 200 * 1024 * 1024,
              zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (1, extra);
    zpar_client_t *client = s_client (1);
    zpar_view_t *one = zpar_client_direct (client, "0");
    size_t size = 100 * 1024 * 1024;
    uint8_t *bytes = malloc (size);
    for (size_t i = 0; i < size; i++)
        bytes [i] = (uint8_t) (i * 2654435761u >> 13);
    zpar_buffer_t buffers [] = { { bytes, size }, { "small", 5 } };
    zpar_result_t *result = zpar_view_apply_buffers_async (one, "echo_buffers", NULL, NULL, buffers, 2);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (result, 30000), 0);
    cr_assert (zpar_result_successful (result));
    cr_assert_eq (json_integer_value (zpar_result_item (result, 0)), (json_int_t) (size + 5));
    cr_assert_eq (zpar_result_buffers (result, 0), 2);
    size_t back_size = 0;
    const void *back = zpar_result_buffer (result, 0, 0, &back_size);
    cr_assert_eq (back_size, size);
    cr_assert (memcmp (back, bytes, size) == 0, "the bytes came back changed");
    back = zpar_result_buffer (result, 0, 1, &back_size);
    cr_assert (back_size == 5 && memcmp (back, "small", 5) == 0);
    cr_assert_null (zpar_result_buffer (result, 0, 2, NULL));
    //  A buffer the function made and gave to the reply, uncopied.
    json_t *args = zt_json ("[104857600, 90]");
    zpar_result_t *made = zpar_view_apply_async (one, "fill_bytes", args);
    json_decref (args);
    cr_assert_eq (zpar_result_wait (made, 30000), 0);
    cr_assert (zpar_result_successful (made));
    cr_assert_eq (zpar_result_buffers (made, 0), 1);
    const uint8_t *filled = zpar_result_buffer (made, 0, 0, &back_size);
    cr_assert_eq (back_size, size);
    size_t wrong = 0;
    for (size_t i = 0; i < size; i++)
        wrong += filled [i] != 90;
    cr_assert_eq (wrong, 0, "%zu bytes of the given buffer came back changed", wrong);
    zpar_result_destroy (&made);
    //  Not kept, so not sent again.
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_null (zpar_view_resubmit (balanced, result));
    cr_assert (strstr (zpar_last_error (), "binary buffers"), "%s", zpar_last_error ());
    zpar_view_destroy (&balanced);
    zpar_result_destroy (&result);
    free (bytes);
    zpar_view_destroy (&one);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (namespace, a_buffer_over_the_limit_is_refused_with_a_reason)
{
    char extra [600];
    snprintf (extra, sizeof extra, "--max-message-size 1048576 --load %s",
              zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (1, extra);
    zpar_client_t *client = s_client (1);
    zpar_view_t *one = zpar_client_direct (client, "0");
    size_t size = 2 * 1024 * 1024;
    char *bytes = calloc (1, size);
    zpar_buffer_t buffer = { bytes, size };
    cr_assert_null (zpar_view_apply_buffers_async (one, "echo_buffers", NULL, NULL, &buffer, 1));
    cr_assert (strstr (zpar_last_error (), "over the cluster's message limit of 1048576"), "%s", zpar_last_error ());
    free (bytes);
    //  And the cluster carries on.
    json_t *error = NULL;
    json_t *hosts = zpar_view_apply_sync (one, "hostname", NULL, &error);
    cr_assert_not_null (hosts);
    json_decref (hosts);
    zpar_view_destroy (&one);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (namespace, buffers_reach_every_engine_of_a_view_and_the_balanced_one)
{
    char extra [600];
    snprintf (extra, sizeof extra, "--load %s", zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (3, extra);
    zpar_client_t *client = s_client (3);
    zpar_buffer_t buffer = { "\x00\x01binary\xff", 9 };
    zpar_view_t *views [] = { zpar_client_direct (client, ZPAR_ALL), zpar_client_balanced (client) };
    for (int v = 0; v < 2; v++) {
        zpar_result_t *result = zpar_view_apply_buffers_async (views [v], "echo_buffers", NULL, NULL, &buffer, 1);
        cr_assert_not_null (result, "%s", zpar_last_error ());
        cr_assert_eq (zpar_result_wait (result, 10000), 0);
        cr_assert_eq (zpar_result_size (result), v? 1: 3);
        for (size_t i = 0; i < zpar_result_size (result); i++) {
            size_t size = 0;
            const void *back = zpar_result_buffer (result, i, 0, &size);
            cr_assert (back && size == 9 && memcmp (back, buffer.data, 9) == 0, "item %zu", i);
        }
        if (v == 1) {
            //  The hub's record says so, and the hub will not resubmit it.
            json_t *ids = zpar_result_msg_ids (result), *query = json_pack ("{s:O}", "msg_ids", ids);
            for (int64_t deadline = zpar_mono_ms () + 5000; ; zclock_sleep (20)) {
                json_t *found = zpar_client_db (client, query, NULL, 0, false);
                bool recorded = json_array_size (found) == 1
                             && !streq (json_string_value (json_object_get (json_array_get (found, 0), "status")),
                                        "pending");
                json_decref (found);
                if (recorded)
                    break;
                cr_assert (zpar_mono_ms () < deadline, "no record of the call");
            }
            cr_assert_null (zpar_client_resubmit (client, ids));
            cr_assert (strstr (zpar_last_error (), "binary buffers"), "%s", zpar_last_error ());
            json_decref (query);
            json_decref (ids);
        }
        zpar_result_destroy (&result);
        zpar_view_destroy (&views [v]);
    }

    //  A map with a buffer an input: each call gets its own, and each
    //  item its own back, balanced in chunks and direct in shares.
    enum { INPUTS = 7 };
    char *bytes [INPUTS];
    zpar_buffer_t inputs_bytes [INPUTS];
    json_t *inputs = json_array ();
    for (size_t i = 0; i < INPUTS; i++) {
        size_t size = 1000 * i + 1;
        bytes [i] = malloc (size);
        memset (bytes [i], (int) ('a' + i), size);
        inputs_bytes [i] = (zpar_buffer_t) { bytes [i], size };
        json_array_append_new (inputs, json_array ());
    }
    zpar_view_t *pools [] = { zpar_client_balanced (client), zpar_client_direct (client, ZPAR_ALL) };
    size_t chunks [] = { 3, 0 };
    for (int v = 0; v < 2; v++) {
        zpar_result_t *result = zpar_view_map_buffers_async (pools [v], "echo_buffers", inputs, inputs_bytes,
                                                             chunks [v]);
        cr_assert_not_null (result, "%s", zpar_last_error ());
        cr_assert_eq (zpar_result_wait (result, 10000), 0);
        cr_assert (zpar_result_successful (result));
        for (size_t i = 0; i < INPUTS; i++) {
            cr_assert_eq (json_integer_value (zpar_result_item (result, i)), (json_int_t) inputs_bytes [i].size);
            cr_assert_eq (zpar_result_buffers (result, i), 1, "item %zu has %zu buffers", i,
                          zpar_result_buffers (result, i));
            size_t size = 0;
            const void *back = zpar_result_buffer (result, i, 0, &size);
            cr_assert (back && size == inputs_bytes [i].size && memcmp (back, bytes [i], size) == 0,
                       "item %zu came back with other bytes", i);
            cr_assert_null (zpar_result_buffer (result, i, 1, NULL));
        }
        zpar_result_destroy (&result);
        zpar_view_destroy (&pools [v]);
    }
    json_decref (inputs);
    for (size_t i = 0; i < INPUTS; i++)
        free (bytes [i]);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (namespace, binary_values_push_work_and_pull_back)
{
    char extra [600];
    snprintf (extra, sizeof extra, "--load %s", zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (2, extra);
    zpar_client_t *client = s_client (2);
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    unsigned char blob [1000];
    for (size_t i = 0; i < sizeof blob; i++)
        blob [i] = (unsigned char) (i * 7);
    json_t *error = NULL;
    cr_assert_eq (zpar_view_push_bytes (all, "blob", blob, sizeof blob, &error), 0);
    json_t *args = zt_json ("[\"blob\", \"inverted\"]");
    json_t *sizes = zpar_view_apply_sync (all, "invert_bytes", args, &error);
    cr_assert_not_null (sizes);
    json_decref (sizes);
    json_decref (args);
    zpar_result_t *result = zpar_view_pull_bytes (all, "inverted");
    cr_assert_not_null (result, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert_eq (zpar_result_size (result), 2);
    for (size_t e = 0; e < 2; e++) {
        size_t size = 0;
        const unsigned char *back = zpar_result_buffer (result, e, 0, &size);
        cr_assert (back && size == sizeof blob, "engine item %zu", e);
        for (size_t i = 0; i < size; i++)
            cr_assert_eq (back [i], (unsigned char) ~blob [i]);
    }
    zpar_result_destroy (&result);
    //  A name never pushed: a KeyError from each engine.
    result = zpar_view_pull_bytes (all, "nothing");
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert (!zpar_result_successful (result));
    cr_assert (strstr (json_string_value (json_object_get (zpar_result_item_error (result, 0), "ename")),
                       "KeyError"));
    zpar_result_destroy (&result);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
