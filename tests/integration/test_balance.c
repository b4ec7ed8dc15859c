/*  Load-balanced work: schemes, the high-water mark, map, dependencies,
    retries and timeouts, through libzpar against a real cluster.        */

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zpar/zpar.h>

#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (balance, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 90);

static zpar_client_t *
s_client (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    return client;
}

//  [[value], [value], ...] count times.
static json_t *
s_inputs (size_t count, json_t *value)
{
    json_t *inputs = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (inputs, json_pack ("[O]", value));
    json_decref (value);
    return inputs;
}

//  [[0], [1], ...]
static json_t *
s_range (size_t count)
{
    json_t *inputs = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (inputs, json_pack ("[I]", (json_int_t) i));
    return inputs;
}

static const char *
s_ename (json_t *error)
{
    return json_string_value (json_object_get (error, "ename"));
}

Test (balance, every_scheme_spreads_tasks_over_all_engines)
{
    const char *schemes [] = { "leastload", "lru", "twobin", "weighted", "plainrandom" };
    for (int s = 0; s < 5; s++) {
        char extra [64];
        snprintf (extra, sizeof extra, "--scheme %s", schemes [s]);
        zt_cluster_start (3, extra);
        zpar_client_t *client = s_client ();
        zpar_view_t *balanced = zpar_client_balanced (client);
        //  One task in flight per engine (the default high-water mark):
        //  six sleeps must use all three engines.
        json_t *inputs = s_inputs (6, json_real (0.2));
        zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
        json_decref (inputs);
        cr_assert_eq (zpar_result_wait (result, 20000), 0, "%s", zpar_last_error ());
        cr_assert (zpar_result_successful (result));
        bool used [3] = { false };
        for (size_t i = 0; i < 6; i++) {
            int id = zpar_result_engine_id (result, i);
            cr_assert (id >= 0 && id < 3);
            used [id] = true;
        }
        cr_assert (used [0] && used [1] && used [2], "%s left an engine idle", schemes [s]);
        zpar_result_destroy (&result);
        zpar_view_destroy (&balanced);
        zpar_client_destroy (&client);
        zt_cluster_stop ();
    }
}

Test (balance, lru_goes_round_robin)
{
    zt_cluster_start (3, "--scheme lru --hwm 0");
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    int ids [9];
    for (int i = 0; i < 9; i++) {
        zpar_result_t *result = zpar_view_apply_async (balanced, "hostname", NULL);
        cr_assert_eq (zpar_result_wait (result, 10000), 0);
        ids [i] = zpar_result_engine_id (result, 0);
        zpar_result_destroy (&result);
    }
    cr_assert (ids [0] != ids [1] && ids [1] != ids [2] && ids [0] != ids [2]);
    for (int i = 3; i < 9; i++)
        cr_assert_eq (ids [i], ids [i - 3], "call %d went to engine %d, not %d", i, ids [i], ids [i - 3]);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, the_high_water_mark_is_never_exceeded)
{
    zt_cluster_start (2, "--hwm 2");
    zpar_client_t *client = s_client ();
    zpar_client_t *watcher = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = s_inputs (16, json_real (0.05));
    zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
    json_decref (inputs);
    //  The hub counts what the scheduler routed: never more than 2 queued.
    json_int_t most = 0;
    while (!zpar_result_ready (result)) {
        json_t *engines = zpar_client_engines (watcher);
        size_t i;
        json_t *engine;
        json_array_foreach (engines, i, engine) {
            json_int_t queued = json_integer_value (json_object_get (engine, "queued"));
            cr_assert_leq (queued, 2, "engine %zu holds %lld tasks", i, (long long) queued);
            if (queued > most)
                most = queued;
        }
        json_decref (engines);
        zpar_result_wait (result, 20);
    }
    cr_assert (zpar_result_successful (result));
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&watcher);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, map_keeps_input_order_with_and_without_chunks)
{
    zt_cluster_start (3, "--hwm 0");
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_view_t *direct = zpar_client_direct (client, ZPAR_ALL);
    json_t *inputs = s_range (50);
    size_t chunks [] = { 0, 1, 7, 100 };
    for (int c = 0; c < 4; c++) {
        zpar_view_t *views [] = { balanced, direct };
        for (int v = 0; v < 2; v++) {
            json_t *error = NULL;
            json_t *values = zpar_view_map_sync (views [v], "echo", inputs, chunks [c], &error);
            cr_assert_not_null (values, "%s", zpar_last_error ());
            cr_assert_eq (json_array_size (values), 50);
            for (size_t i = 0; i < 50; i++)
                cr_assert_eq (json_integer_value (json_array_get (values, i)), (json_int_t) i,
                              "chunk %zu, %s view: item %zu out of place", chunks [c], v? "direct": "balanced", i);
            json_decref (values);
        }
    }
    //  A direct map without chunksize gives each engine one contiguous share.
    zpar_result_t *result = zpar_view_map_async (direct, "echo", inputs, 0);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert_eq (zpar_result_engine_id (result, 0), 0);
    cr_assert_eq (zpar_result_engine_id (result, 49), 2);
    size_t done = 0, total = 0;
    zpar_result_progress (result, &done, &total);
    cr_assert_eq (done, 50);
    cr_assert_eq (total, 50);
    json_t *metadata = zpar_result_metadata (result, 10);
    cr_assert (zpar_iso_parse (json_string_value (json_object_get (metadata, "submitted"))) > 0);
    cr_assert (zpar_iso_parse (json_string_value (json_object_get (metadata, "started"))) > 0);
    cr_assert (zpar_iso_parse (json_string_value (json_object_get (metadata, "completed"))) > 0);
    zpar_result_destroy (&result);
    //  Per-input errors, the rest answered.
    json_t *mixed = json_pack ("[[i], [s], [i]]", 10, "ten", 5);
    result = zpar_view_map_async (balanced, "primes", mixed, 3);
    json_decref (mixed);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert_not (zpar_result_successful (result));
    cr_assert_eq (json_array_size (zpar_result_item (result, 0)), 4);
    cr_assert_str_eq (s_ename (zpar_result_item_error (result, 1)), "ValueError");
    cr_assert_eq (json_array_size (zpar_result_item (result, 2)), 2);
    zpar_result_destroy (&result);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    zpar_view_destroy (&direct);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

static zpar_result_t *
s_sleep (zpar_view_t *view, double seconds)
{
    json_t *args = json_pack ("[f]", seconds);
    zpar_result_t *result = zpar_view_apply_async (view, "sleep", args);
    json_decref (args);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    return result;
}

static int64_t
s_time (zpar_result_t *result, const char *key)
{
    return zpar_iso_parse (json_string_value (json_object_get (zpar_result_metadata (result, 0), key)));
}

Test (balance, after_waits_for_its_dependencies)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_result_t *first = s_sleep (balanced, 0.3);
    json_t *ids = zpar_result_msg_ids (first);
    cr_assert_eq (zpar_view_set_after (balanced, ids, true, true, false), 0);
    zpar_result_t *second = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (second, 10000), 0);
    cr_assert (zpar_result_successful (second), "%s", json_dumps (zpar_result_error (second), 0));
    cr_assert_eq (zpar_result_wait (first, 10000), 0);
    cr_assert_geq (s_time (second, "started"), s_time (first, "completed"),
                   "the after task started before its dependency completed");

    //  An unknown msg_id is an invalid dependency.
    json_t *unknown = json_pack ("[s]", "no-such-task");
    zpar_view_set_after (balanced, unknown, true, true, false);
    zpar_result_t *invalid = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (invalid, 10000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (invalid)), "InvalidDependency");
    json_decref (unknown);

    //  Success only, after a task that failed: impossible.
    zpar_view_set_after (balanced, NULL, true, true, false);
    json_t *bad = json_pack ("[s]", "not a number");
    zpar_result_t *failing = zpar_view_apply_async (balanced, "sleep", bad);
    json_decref (bad);
    json_t *failing_ids = zpar_result_msg_ids (failing);
    zpar_view_set_after (balanced, failing_ids, true, true, false);
    zpar_result_t *impossible = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (impossible, 10000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (impossible)), "ImpossibleDependency");
    //  ... but possible when failure is what it waits for.
    zpar_view_set_after (balanced, failing_ids, true, false, true);
    zpar_result_t *on_failure = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (on_failure, 10000), 0);
    cr_assert (zpar_result_successful (on_failure));
    json_decref (failing_ids);
    json_decref (ids);
    zpar_result_t *results [] = { first, second, invalid, failing, impossible, on_failure };
    for (int i = 0; i < 6; i++)
        zpar_result_destroy (&results [i]);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, follow_runs_where_its_dependencies_ran)
{
    zt_cluster_start (2, "--hwm 0");
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_view_set_targets (balanced, "1");
    zpar_result_t *on_one = s_sleep (balanced, 0.01);
    zpar_view_set_targets (balanced, "0");
    zpar_result_t *on_zero = s_sleep (balanced, 0.01);
    zpar_view_set_targets (balanced, ZPAR_ALL);
    cr_assert_eq (zpar_result_wait (on_one, 10000), 0);
    cr_assert_eq (zpar_result_wait (on_zero, 10000), 0);
    cr_assert_eq (zpar_result_engine_id (on_one, 0), 1);
    cr_assert_eq (zpar_result_engine_id (on_zero, 0), 0);

    json_t *ids = zpar_result_msg_ids (on_one);
    zpar_view_set_follow (balanced, ids, true, true, false);
    for (int i = 0; i < 4; i++) {
        zpar_result_t *follower = s_sleep (balanced, 0.01);
        cr_assert_eq (zpar_result_wait (follower, 10000), 0);
        cr_assert_eq (zpar_result_engine_id (follower, 0), 1, "a follower ran elsewhere");
        zpar_result_destroy (&follower);
    }
    json_decref (ids);
    //  Following tasks that ran on two engines: impossible.
    ids = json_pack ("[s, s]", zpar_result_msg_id (on_one, 0), zpar_result_msg_id (on_zero, 0));
    zpar_view_set_follow (balanced, ids, true, true, false);
    zpar_result_t *split = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (split, 10000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (split)), "ImpossibleDependency");
    json_decref (ids);
    zpar_result_destroy (&split);
    zpar_result_destroy (&on_one);
    zpar_result_destroy (&on_zero);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, a_task_that_cannot_start_in_time_fails_with_task_timeout)
{
    zt_cluster_start (1, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    //  The one engine is busy for a second; a task with a 0.2 s timeout
    //  behind it cannot start in time.
    zpar_result_t *busy = s_sleep (balanced, 1.0);
    zpar_view_set_timeout (balanced, 0.2);
    zpar_result_t *late = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (late, 10000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (late)), "TaskTimeout");
    cr_assert_eq (zpar_result_wait (busy, 10000), 0);
    cr_assert (zpar_result_successful (busy));
    //  Bad flags are refused at once.
    cr_assert_eq (zpar_view_set_timeout (balanced, -1), -1);
    cr_assert_eq (zpar_view_set_retries (balanced, -2), -1);
    cr_assert_eq (zpar_view_set_targets (balanced, "x"), -1);
    zpar_result_destroy (&busy);
    zpar_result_destroy (&late);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, retries_move_a_failing_task_to_another_engine)
{
    zt_cluster_start (2, "--scheme lru");
    zpar_client_t *client = s_client ();
    //  Only engine 1 has x: pull fails on engine 0.
    zpar_view_t *one = zpar_client_direct (client, "1");
    json_t *push = json_pack ("[{s:i}]", "x", 42), *error = NULL;
    json_decref (zpar_view_apply_sync (one, "push", push, &error));
    json_decref (push);
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = s_inputs (6, json_string ("x"));
    //  Round robin: without retries, some land on engine 0 and fail.
    zpar_result_t *plain = zpar_view_map_async (balanced, "pull", inputs, 1);
    cr_assert_eq (zpar_result_wait (plain, 10000), 0);
    cr_assert_not (zpar_result_successful (plain));
    zpar_view_set_retries (balanced, 1);
    zpar_result_t *retried = zpar_view_map_async (balanced, "pull", inputs, 1);
    cr_assert_eq (zpar_result_wait (retried, 10000), 0);
    cr_assert (zpar_result_successful (retried), "%s", json_dumps (zpar_result_error (retried), 0));
    for (size_t i = 0; i < 6; i++) {
        cr_assert_eq (json_integer_value (zpar_result_item (retried, i)), 42);
        cr_assert_eq (zpar_result_engine_id (retried, i), 1);
    }
    json_decref (inputs);
    zpar_result_destroy (&plain);
    zpar_result_destroy (&retried);
    zpar_view_destroy (&one);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, bad_task_flags_are_value_errors)
{
    zt_cluster_start (1, NULL);
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s start -n 1 --scheme fastest", zt_build_path ("bin/ipcluster")), 2);
    cr_assert (strstr (err, "--scheme"), "%s", err);
    free (err);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    //  Map inputs must be argument lists.
    json_t *error = NULL, *inputs = json_pack ("[i]", 1);
    cr_assert_null (zpar_view_map_sync (balanced, "echo", inputs, 0, &error));
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "not an argument list"));
    json_decref (error);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, a_task_whose_engine_dies_runs_again_elsewhere)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_view_set_retries (balanced, 1);
    zpar_result_t *result = s_sleep (balanced, 1.0);
    //  Find the engine running it (the hub counts it as queued) and kill it.
    json_int_t victim = -1, pid = 0;
    int64_t deadline = zpar_test_now_ms () + 10000;
    while (victim < 0 && zpar_test_now_ms () < deadline) {
        json_t *engines = zpar_client_engines (client);
        size_t i;
        json_t *engine;
        json_array_foreach (engines, i, engine)
            if (json_integer_value (json_object_get (engine, "queued")) == 1) {
                victim = json_integer_value (json_object_get (engine, "id"));
                pid = json_integer_value (json_object_get (engine, "pid"));
            }
        json_decref (engines);
        if (victim < 0)
            zpar_result_wait (result, 10);
    }
    cr_assert_geq (victim, 0, "no engine took the task");
    kill ((pid_t) pid, SIGKILL);
    cr_assert_eq (zpar_result_wait (result, 20000), 0);
    cr_assert (zpar_result_successful (result), "%s", json_dumps (zpar_result_error (result), 0));
    cr_assert_neq (zpar_result_engine_id (result, 0), victim);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, a_task_whose_targets_are_all_gone_fails)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    //  Targets that never registered: the call fails at once.
    cr_assert_eq (zpar_view_set_targets (balanced, "7"), 0);
    json_t *args = json_pack ("[f]", 0.01);
    cr_assert_null (zpar_view_apply_async (balanced, "sleep", args));
    json_decref (args);
    cr_assert (strstr (zpar_last_error (), "none of the target engines"), "%s", zpar_last_error ());
    //  Engine 1 runs one task and holds the next (high-water mark 1);
    //  when it dies the held one has nowhere to go.
    cr_assert_eq (zpar_view_set_targets (balanced, "1"), 0);
    zpar_result_t *running = s_sleep (balanced, 5.0);
    zpar_result_t *held = s_sleep (balanced, 0.01);
    json_int_t pid = 0;
    json_t *engines = zpar_client_engines (client);
    size_t i;
    json_t *engine;
    json_array_foreach (engines, i, engine)
        if (json_integer_value (json_object_get (engine, "id")) == 1)
            pid = json_integer_value (json_object_get (engine, "pid"));
    json_decref (engines);
    cr_assert_gt (pid, 0);
    kill ((pid_t) pid, SIGKILL);
    cr_assert_eq (zpar_result_wait (held, 20000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (held)), "ImpossibleDependency");
    cr_assert_eq (zpar_result_wait (running, 20000), 0);
    cr_assert_not (zpar_result_successful (running));
    zpar_result_destroy (&running);
    zpar_result_destroy (&held);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, dependents_are_decided_when_their_dependency_is)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    //  Both engines busy for long, and a plain task queued behind them.
    zpar_view_set_targets (balanced, "0");
    zpar_result_t *busy0 = s_sleep (balanced, 20.0);
    //  A cannot start within its timeout.
    zpar_view_set_timeout (balanced, 0.2);
    zpar_result_t *late = s_sleep (balanced, 0.01);
    zpar_view_set_timeout (balanced, 0);
    zpar_view_set_targets (balanced, "1");
    zpar_result_t *busy1 = s_sleep (balanced, 20.0);
    zpar_view_set_targets (balanced, NULL);
    zpar_result_t *queued = s_sleep (balanced, 0.01);
    //  A task needing A's success fails when A times out, though no engine
    //  is free and nothing else happens meanwhile.
    json_t *ids = zpar_result_msg_ids (late);
    zpar_view_set_after (balanced, ids, true, true, false);
    zpar_result_t *dependent = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (dependent, 10000), 0, "the dependent was not decided");
    cr_assert_str_eq (s_ename (zpar_result_error (late)), "TaskTimeout");
    cr_assert_str_eq (s_ename (zpar_result_error (dependent)), "ImpossibleDependency");
    cr_assert_not (zpar_result_ready (queued));
    json_decref (ids);

    //  A task naming itself is invalid (msg_ids are session_N, N counting up).
    const char *last = zpar_result_msg_id (dependent, 0);
    const char *underscore = strrchr (last, '_');
    char next [128];
    snprintf (next, sizeof next, "%.*s_%lld", (int) (underscore - last), last, atoll (underscore + 1) + 1);
    json_t *self_ids = json_pack ("[s]", next);
    zpar_view_set_after (balanced, self_ids, true, true, false);
    zpar_result_t *itself = s_sleep (balanced, 0.01);
    cr_assert_str_eq (zpar_result_msg_id (itself, 0), next);
    cr_assert_eq (zpar_result_wait (itself, 10000), 0);
    cr_assert_str_eq (s_ename (zpar_result_error (itself)), "InvalidDependency");
    json_decref (self_ids);

    zpar_result_t *results [] = { busy0, late, busy1, queued, dependent, itself };
    for (int i = 0; i < 6; i++)
        zpar_result_destroy (&results [i]);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, tasks_sent_as_an_idle_engine_dies_go_to_another)
{
    zt_cluster_start (2, "--scheme lru");
    zpar_client_t *client = s_client ();
    json_int_t pid = 0;
    json_t *engines = zpar_client_engines (client);
    size_t i;
    json_t *engine;
    json_array_foreach (engines, i, engine)
        if (json_integer_value (json_object_get (engine, "id")) == 1)
            pid = json_integer_value (json_object_get (engine, "pid"));
    json_decref (engines);
    cr_assert_gt (pid, 0);
    //  Before the hub notices, the scheduler finds the connection gone
    //  when it sends and keeps the task for engine 0. ZeroMQ sees the
    //  close a moment after the process is gone: a task handed to the
    //  connection inside that moment goes down with it, and comes back
    //  with the hub's notice as a retry. Either way, every task succeeds
    //  on engine 0.
    kill ((pid_t) pid, SIGKILL);
    cr_assert (zt_wait_gone ((pid_t) pid, 10000));
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_retries (balanced, 1), 0);
    json_t *inputs = s_range (6);
    zpar_result_t *result = zpar_view_map_async (balanced, "echo", inputs, 1);
    cr_assert_eq (zpar_result_wait (result, 20000), 0);
    cr_assert (zpar_result_successful (result), "%s", json_dumps (zpar_result_error (result), 0));
    for (i = 0; i < 6; i++)
        cr_assert_eq (zpar_result_engine_id (result, i), 0);
    json_decref (inputs);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (balance, follow_any_may_run_where_any_of_its_tasks_ran)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *on0 = zpar_client_balanced (client), *on1 = zpar_client_balanced (client);
    zpar_view_set_targets (on0, "0");
    zpar_view_set_targets (on1, "1");
    //  a ran on engine 0, which is then busy for long; b ends on engine 1
    //  after the follower is queued.
    zpar_result_t *a = s_sleep (on0, 0.01);
    cr_assert_eq (zpar_result_wait (a, 10000), 0);
    zpar_result_t *busy = s_sleep (on0, 20.0);
    zpar_result_t *b = s_sleep (on1, 0.3);
    json_t *ids = json_pack ("[s, s]", zpar_result_msg_id (a, 0), zpar_result_msg_id (b, 0));
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_follow (balanced, ids, false, true, false), 0);
    zpar_result_t *follower = s_sleep (balanced, 0.01);
    cr_assert_eq (zpar_result_wait (follower, 10000), 0, "the follower waited for engine 0");
    cr_assert (zpar_result_successful (follower), "%s", json_dumps (zpar_result_error (follower), 0));
    cr_assert_eq (zpar_result_engine_id (follower, 0), 1);
    json_decref (ids);
    zpar_result_t *results [] = { a, busy, b, follower };
    for (int i = 0; i < 4; i++)
        zpar_result_destroy (&results [i]);
    zpar_view_destroy (&on0);
    zpar_view_destroy (&on1);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
