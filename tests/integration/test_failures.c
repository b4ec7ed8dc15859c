/*  Engines that die: what their callers get, and how soon. The cluster
    runs with a 5 s heartbeat, so an answer within a few seconds can only
    come from the supervisor, which sees the process end and tells the
    hub how.                                                             */

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <zpar/zpar.h>

#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (failures, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

//  Heartbeats would take 5 s x 3 to notice a death: far beyond this.
#define S_SOON_MS 4000

//  A client of the test's cluster.
static zpar_client_t *
s_connect (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    return client;
}

static zpar_client_t *
s_start (int engines)
{
    char extra [512];
    //  No restarts here: dead engines stay dead, so they can be counted.
    snprintf (extra, sizeof extra, "--hb-period 5000 --hb-liveness 3 --restart-limit 0 --load %s",
              zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (engines, extra);
    return s_connect ();
}

//  Waits for result; asserts it failed with ename, its text holding what.
static void
s_assert_failed (zpar_result_t *result, const char *ename, const char *what)
{
    cr_assert_not_null (result, "%s", zpar_last_error ());
    int64_t started = zpar_mono_ms ();
    cr_assert_eq (zpar_result_wait (result, S_SOON_MS), 0, "no answer within %d ms", S_SOON_MS);
    cr_assert_lt (zpar_mono_ms () - started, S_SOON_MS);
    json_t *error = zpar_result_item_error (result, 0);
    cr_assert_not_null (error);
    const char *name = json_string_value (json_object_get (error, "ename"));
    const char *text = json_string_value (json_object_get (error, "evalue"));
    cr_assert_str_eq (name, ename, "%s: %s", name, text);
    cr_assert (text && strstr (text, what), "%s", text);
}

//  Engines the hub still has, asked of the hub itself.
static size_t
s_engines_left (zpar_client_t *client)
{
    json_t *engines = zpar_client_engines (client);
    size_t count = json_array_size (engines);
    json_decref (engines);
    return count;
}

//  Engine id's record in the hub, or NULL (caller owns).
static json_t *
s_engine (zpar_client_t *client, int id)
{
    json_t *engines = zpar_client_engines (client), *found = NULL;
    size_t i;
    json_t *engine;
    json_array_foreach (engines, i, engine)
        if (json_integer_value (json_object_get (engine, "id")) == id)
            found = json_incref (engine);
    json_decref (engines);
    return found;
}

//  The pid of engine id, as the hub knows it.
static pid_t
s_pid (zpar_client_t *client, int id)
{
    json_t *engine = s_engine (client, id);
    cr_assert_not_null (engine, "no engine %d", id);
    pid_t pid = (pid_t) json_integer_value (json_object_get (engine, "pid"));
    json_decref (engine);
    return pid;
}

Test (failures, a_balanced_task_that_segfaults_its_engine_fails_naming_the_signal)
{
    zpar_client_t *client = s_start (2);
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_result_t *result = zpar_view_apply_async (balanced, "segfault", NULL);
    s_assert_failed (result, "EngineError", "SIGSEGV");
    zpar_result_destroy (&result);
    //  The engine left the hub's registry (before the hub said so, which
    //  is how the task scheduler learnt it); the other one still works.
    json_t *engines = zpar_client_engines (client);
    cr_assert_eq (json_array_size (engines), 1);
    json_decref (engines);
    json_t *error = NULL, *args = zt_json ("[7]");
    json_t *value = zpar_view_apply_sync (balanced, "echo", args, &error);
    cr_assert_not_null (value, "%s", error? json_dumps (error, 0): "");
    json_decref (value);
    json_decref (args);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, a_direct_call_that_aborts_its_engine_fails_naming_the_signal)
{
    zpar_client_t *client = s_start (2);
    zpar_view_t *one = zpar_client_direct (client, "1");
    zpar_result_t *result = zpar_view_apply_async (one, "abort", NULL);
    s_assert_failed (result, "EngineError", "SIGABRT");
    zpar_result_destroy (&result);
    zpar_view_destroy (&one);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, an_engine_killed_mid_task_fails_its_task_at_once)
{
    zpar_client_t *client = s_start (1);
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *args = zt_json ("[30]");
    zpar_result_t *result = zpar_view_apply_async (balanced, "sleep", args);
    json_decref (args);
    //  Running: the hub counts it queued on the engine.
    json_int_t pid = 0;
    for (int64_t deadline = zpar_mono_ms () + 5000; !pid && zpar_mono_ms () < deadline;) {
        json_t *engines = zpar_client_engines (client);
        json_t *engine = json_array_get (engines, 0);
        if (json_integer_value (json_object_get (engine, "queued")) == 1)
            pid = json_integer_value (json_object_get (engine, "pid"));
        json_decref (engines);
    }
    cr_assert_gt (pid, 0, "the task never started");
    kill ((pid_t) pid, SIGKILL);
    s_assert_failed (result, "EngineError", "SIGKILL");
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, a_task_with_retries_runs_again_after_its_engine_segfaults)
{
    //  The first engine to take it dies; the retry finds the other, whose
    //  segfault ends the retries: the error names the second death.
    zpar_client_t *client = s_start (2);
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_retries (balanced, 1), 0);
    zpar_result_t *result = zpar_view_apply_async (balanced, "segfault", NULL);
    s_assert_failed (result, "EngineError", "SIGSEGV");
    json_t *engines = zpar_client_engines (client);
    cr_assert_eq (json_array_size (engines), 0, "both engines ran it");
    json_decref (engines);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}


Test (failures, a_poison_task_stops_after_three_engine_deaths)
{
    zpar_client_t *client = s_start (4);
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_retries (balanced, 10), 0);
    zpar_result_t *result = zpar_view_apply_async (balanced, "segfault", NULL);
    s_assert_failed (result, "EngineError", "3 engines died while running the task");
    cr_assert_eq (s_engines_left (client), 1, "the fourth engine was spared");
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, the_poison_limit_is_an_option_of_ipcluster_start)
{
    char extra [512];
    snprintf (extra, sizeof extra, "--hb-period 5000 --poison-limit 1 --restart-limit 0 --load %s",
              zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (2, extra);
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_retries (balanced, 5), 0);
    zpar_result_t *result = zpar_view_apply_async (balanced, "abort", NULL);
    s_assert_failed (result, "EngineError", "1 engine died while running the task");
    cr_assert_eq (s_engines_left (client), 1);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}



Test (failures, a_dead_engine_starts_again_in_its_slot_until_the_restart_limit)
{
    char extra [512];
    snprintf (extra, sizeof extra, "--hb-period 5000 --restart-limit 1 --load %s",
              zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (1, extra);
    zpar_client_t *client = s_connect ();
    zpar_view_t *engine0 = zpar_client_direct (client, "0");
    zpar_result_t *result = zpar_view_apply_async (engine0, "segfault", NULL);
    s_assert_failed (result, "EngineError", "SIGSEGV");
    zpar_result_destroy (&result);
    //  Back as engine 0 (its slot's id), counted as restarted once.
    cr_assert_eq (zpar_client_wait_for_engines (client, 1, 10000), 0, "%s", zpar_last_error ());
    json_t *engine = s_engine (client, 0);
    cr_assert_not_null (engine);
    cr_assert_eq (json_integer_value (json_object_get (engine, "restarts")), 1);
    json_decref (engine);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s engines --profile %s", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    cr_assert (strstr (out, "RESTARTS"), "%s", out);
    free (out);
    json_t *error = NULL, *args = zt_json ("[5]");
    zpar_view_t *again = zpar_client_direct (client, "0");
    json_t *value = zpar_view_apply_sync (again, "echo", args, &error);
    cr_assert_not_null (value, "%s", error? json_dumps (error, 0): "");
    json_decref (value);
    json_decref (args);
    //  The second death is the last: the limit is 1.
    result = zpar_view_apply_async (again, "abort", NULL);
    s_assert_failed (result, "EngineError", "SIGABRT");
    zpar_result_destroy (&result);
    cr_assert (zt_log_says ("engine-0 is not started again", 5000));
    zpar_view_destroy (&again);
    zpar_view_destroy (&engine0);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, an_engine_declared_dead_while_stopped_leaves_when_it_wakes)
{
    zt_cluster_start (2, "--hb-period 100 --hb-liveness 3");
    zpar_client_t *client = s_connect ();
    pid_t pid = s_pid (client, 1);
    zpar_view_t *one = zpar_client_direct (client, "1");
    json_t *args = zt_json ("[1.0]");
    zpar_result_t *result = zpar_view_apply_async (one, "sleep", args);
    json_decref (args);
    //  Stopped, it misses its heartbeats: its call fails.
    kill (pid, SIGSTOP);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    json_t *error = zpar_result_item_error (result, 0);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "EngineError");
    //  Woken, it learns from the hub that it is dead, and leaves, rather
    //  than answer a call that was already answered.
    kill (pid, SIGCONT);
    cr_assert (zt_wait_gone (pid, 10000), "the woken engine did not leave");
    //  Its slot starts afresh, as engine 1 again.
    cr_assert_eq (zpar_client_wait_for_engines (client, 2, 10000), 0, "%s", zpar_last_error ());
    json_t *engine = s_engine (client, 1);
    cr_assert_not_null (engine);
    cr_assert_neq ((pid_t) json_integer_value (json_object_get (engine, "pid")), pid);
    cr_assert_eq (json_integer_value (json_object_get (engine, "restarts")), 1);
    json_decref (engine);
    //  The call's answer is still the first one.
    error = zpar_result_item_error (result, 0);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "EngineError");
    cr_assert_null (zpar_result_item (result, 0));
    zpar_result_destroy (&result);
    zpar_view_destroy (&one);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

//  One engine busy for a second (high-water mark 1), and three tasks
//  queued behind it in the task scheduler.
static void
s_busy_and_queued (zpar_view_t *balanced, zpar_result_t **running, zpar_result_t **queued)
{
    json_t *args = zt_json ("[1.0]"), *inputs = zt_json ("[[1], [2], [3]]");
    *running = zpar_view_apply_async (balanced, "sleep", args);
    *queued = zpar_view_map_async (balanced, "echo", inputs, 1);
    cr_assert (*running && *queued, "%s", zpar_last_error ());
    json_decref (args);
    json_decref (inputs);
}

static void
s_assert_aborted (zpar_result_t *queued)
{
    cr_assert_eq (zpar_result_wait (queued, 10000), 0);
    for (size_t i = 0; i < 3; i++) {
        json_t *error = zpar_result_item_error (queued, i);
        cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "TaskAborted",
                          "item %zu: %s", i, json_dumps (error, 0));
    }
}

Test (failures, queued_tasks_are_aborted_and_can_be_resubmitted)
{
    zt_cluster_start (1, NULL);
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_result_t *running, *queued;
    s_busy_and_queued (balanced, &running, &queued);
    cr_assert_eq (zpar_view_abort (balanced, queued), 0, "%s", zpar_last_error ());
    s_assert_aborted (queued);
    //  The task already running goes on.
    cr_assert_eq (zpar_result_wait (running, 10000), 0);
    cr_assert (zpar_result_successful (running));
    //  Sent again, as new tasks, they run.
    zpar_result_t *again = zpar_view_resubmit (balanced, queued);
    cr_assert_not_null (again, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (again, 10000), 0);
    cr_assert (zpar_result_successful (again), "%s", json_dumps (zpar_result_error (again), 0));
    char *values = json_dumps (zpar_result_get (again), JSON_COMPACT);
    cr_assert_str_eq (values, "[1,2,3]");
    free (values);
    cr_assert_str_neq (zpar_result_msg_id (again, 0), zpar_result_msg_id (queued, 0));
    zpar_result_destroy (&again);
    zpar_result_destroy (&running);
    zpar_result_destroy (&queued);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, zpar_abort_aborts_tasks_by_msg_id)
{
    zt_cluster_start (1, NULL);
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    zpar_result_t *running, *queued;
    s_busy_and_queued (balanced, &running, &queued);
    char *out = NULL;
    int rc = zt_runf (&out, NULL, "%s --profile %s abort %s %s %s", zt_build_path ("bin/zpar"), ZT_PROFILE,
                      zpar_result_msg_id (queued, 0), zpar_result_msg_id (queued, 1),
                      zpar_result_msg_id (queued, 2));
    cr_assert_eq (rc, 0, "%s", out);
    cr_assert (strstr (out, "3 tasks aborted"), "%s", out);
    free (out);
    s_assert_aborted (queued);
    cr_assert_eq (zpar_result_wait (running, 10000), 0);
    //  Usage: nothing to abort.
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s --profile %s abort", zt_build_path ("bin/zpar"), ZT_PROFILE), 2);
    cr_assert (strstr (err, "abort needs the msg_ids"), "%s", err);
    free (err);
    zpar_result_destroy (&running);
    zpar_result_destroy (&queued);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, a_task_past_its_walltime_fails_and_its_engine_starts_afresh)
{
    zt_cluster_start (1, "--hb-period 5000");
    zpar_client_t *client = s_connect ();
    pid_t pid = s_pid (client, 0);
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_walltime (balanced, -1), -1);
    cr_assert_eq (zpar_view_set_walltime (balanced, 0.3), 0);
    cr_assert_eq (zpar_view_set_retries (balanced, 2), 0);
    json_t *args = zt_json ("[30]");
    zpar_result_t *result = zpar_view_apply_async (balanced, "sleep", args);
    json_decref (args);
    s_assert_failed (result, "TaskTimeout", "walltime");
    zpar_result_destroy (&result);
    //  The engine ended itself (it could not be stopped inside the call)
    //  and its slot started again.
    cr_assert (zt_wait_gone (pid, 5000), "the engine outlived the walltime");
    int64_t deadline = zpar_mono_ms () + 10000;
    json_int_t restarts = 0;
    while (restarts < 1 && zpar_mono_ms () < deadline) {
        zpar_client_wait_for_engines (client, 2, 100);      //  takes in notifications
        json_t *engine = s_engine (client, 0);
        restarts = json_integer_value (json_object_get (engine, "restarts"));
        json_decref (engine);
    }
    cr_assert_eq (restarts, 1);
    //  A task within its walltime runs as any other, on the new engine.
    zpar_view_set_walltime (balanced, 5);
    args = zt_json ("[0.01]");
    json_t *error = NULL, *value = zpar_view_apply_sync (balanced, "sleep", args, &error);
    cr_assert_not_null (value, "%s", error? json_dumps (error, 0): "");
    json_decref (value);
    json_decref (args);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (failures, a_second_client_fetches_the_answers_of_a_map_its_client_left)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *first = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (first);
    //  40 tasks of 50 ms on two engines: a second's work, most of it still
    //  to do when its client goes.
    json_t *inputs = json_array ();
    for (int i = 0; i < 40; i++)
        json_array_append_new (inputs, json_pack ("[f]", 0.05));
    zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
    json_decref (inputs);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    json_t *ids = zpar_result_msg_ids (result);
    cr_assert_eq (json_array_size (ids), 40);
    cr_assert_not (zpar_result_ready (result));
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&first);

    zpar_client_t *second = s_connect ();
    json_t *answers = zpar_client_fetch (second, ids, 20000);
    cr_assert_not_null (answers, "%s", zpar_last_error ());
    cr_assert_eq (json_array_size (answers), 40);
    size_t i;
    json_t *answer;
    json_array_foreach (answers, i, answer) {
        cr_assert_str_eq (json_string_value (json_object_get (answer, "status")), "ok",
                          "task %zu: %s", i, json_dumps (answer, 0));
        cr_assert (json_is_integer (json_object_get (json_object_get (answer, "metadata"), "engine_id")));
    }
    json_decref (answers);
    json_decref (ids);
    //  A failed task is kept with its error; a msg_id never seen is unknown.
    zpar_view_t *one = zpar_client_direct (second, "0");
    result = zpar_view_apply_async (one, "no_such_function", NULL);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    //  (The hub gets its copy of the answer a moment after the client.)
    ids = json_pack ("[s]", zpar_result_msg_id (result, 0));
    answers = zpar_client_fetch (second, ids, 5000);
    cr_assert_not_null (answers);
    json_t *failed = json_array_get (answers, 0);
    cr_assert_str_eq (json_string_value (json_object_get (failed, "status")), "error", "%s",
                      json_dumps (failed, 0));
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (failed, "error"), "ename")),
                      "NameError");
    json_decref (answers);
    json_decref (ids);
    //  Never seen: unknown, even without a deadline (no wait for ever).
    ids = json_pack ("[s]", "no-such-msg-id");
    answers = zpar_client_fetch (second, ids, -1);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (answers, 0), "status")), "unknown");
    json_decref (answers);
    json_decref (ids);
    zpar_result_destroy (&result);
    zpar_view_destroy (&one);
    zpar_client_destroy (&second);
    zt_cluster_stop ();
}
