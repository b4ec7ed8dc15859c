/*  A real cluster through the user's paths: ipcluster, libzpar, zpar.   */

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zpar/zpar.h>

#include "zpar_test.h"

TestSuite (cluster, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

static zpar_client_t *
s_client (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    return client;
}

Test (cluster, start_then_stop_leaves_no_process_behind)
{
    zt_cluster_start (2, NULL);
    pid_t pids [16];
    size_t count = zt_cluster_pids (pids, 16);
    cr_assert_eq (count, 5, "ipcluster, hub, scheduler and 2 engines: %zu pid files", count);
    for (size_t i = 0; i < count; i++)
        cr_assert (zt_pid_alive (pids [i]));
    zt_cluster_stop ();
    cr_assert_eq (zt_cluster_pids (pids, 16), 0, "pid files left behind");
    char *connfile = zt_profile_path ("security/zpar-client.json");
    cr_assert_neq (access (connfile, F_OK), 0, "connection file left behind");
    free (connfile);
}

Test (cluster, apply_sync_hostname_on_four_engines)
{
    zt_cluster_start (4, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    json_t *hosts = zpar_view_apply_sync (all, "hostname", NULL, &error);
    cr_assert_not_null (hosts, "%s", zpar_last_error ());
    cr_assert_eq (json_array_size (hosts), 4);
    char name [256] = "";
    gethostname (name, sizeof name - 1);
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq (json_string_value (json_array_get (hosts, i)), name);
    json_decref (hosts);

    //  Four replies, from four different engines.
    zpar_result_t *result = zpar_view_apply_async (all, "hostname", NULL);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert_eq (zpar_result_size (result), 4);
    bool seen [4] = { false };
    for (size_t i = 0; i < 4; i++) {
        int id = zpar_result_engine_id (result, i);
        cr_assert (id >= 0 && id < 4, "engine id %d", id);
        cr_assert_not (seen [id], "engine %d answered twice", id);
        seen [id] = true;
        json_t *metadata = zpar_result_metadata (result, i);
        cr_assert_eq (json_integer_value (json_object_get (metadata, "engine_id")), id);
        cr_assert_not_null (json_object_get (metadata, "started"));
    }
    zpar_result_destroy (&result);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, direct_targets_reach_only_those_engines)
{
    zt_cluster_start (4, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *view = zpar_client_direct (client, "0,2");
    json_t *error = NULL;
    json_t *infos = zpar_view_apply_sync (view, "engine_info", NULL, &error);
    cr_assert_not_null (infos, "%s", zpar_last_error ());
    cr_assert_eq (json_array_size (infos), 2);
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (infos, 0), "id")), 0);
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (infos, 1), "id")), 2);
    json_decref (infos);
    zpar_view_destroy (&view);

    //  An engine named twice is addressed once.
    view = zpar_client_direct (client, "2,2,0");
    json_t *twice = zpar_view_targets (view);
    cr_assert_eq (json_array_size (twice), 2);
    cr_assert_eq (json_integer_value (json_array_get (twice, 0)), 2);
    json_decref (twice);
    zpar_view_destroy (&view);

    //  An engine that does not exist is refused before anything is sent.
    view = zpar_client_direct (client, "7");
    cr_assert_null (zpar_view_apply_async (view, "echo", NULL));
    cr_assert (strstr (zpar_last_error (), "engine 7 is not registered"), "%s", zpar_last_error ());
    zpar_view_destroy (&view);
    cr_assert_null (zpar_client_direct (client, "1,,2"));
    cr_assert_null (zpar_client_direct (client, "3-1"));
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, balanced_apply_spreads_over_engines)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *args = json_pack ("[s]", "balanced");
    json_t *error = NULL;
    json_t *value = zpar_view_apply_sync (balanced, "echo", args, &error);
    cr_assert_not_null (value, "%s", zpar_last_error ());
    cr_assert_str_eq (json_string_value (value), "balanced");
    json_decref (value);
    json_decref (args);

    //  Two sleeps at once land on two engines (one task per engine at a time).
    args = json_pack ("[f]", 0.3);
    zpar_result_t *first = zpar_view_apply_async (balanced, "sleep", args);
    zpar_result_t *second = zpar_view_apply_async (balanced, "sleep", args);
    json_decref (args);
    cr_assert_eq (zpar_result_wait (first, 10000), 0);
    cr_assert_eq (zpar_result_wait (second, 10000), 0);
    cr_assert (zpar_result_successful (first));
    cr_assert_neq (zpar_result_engine_id (first, 0), zpar_result_engine_id (second, 0));
    zpar_result_destroy (&first);
    zpar_result_destroy (&second);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, unknown_function_is_a_name_error_listing_what_exists)
{
    zt_cluster_start (1, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *error = NULL;
    cr_assert_null (zpar_view_apply_sync (all, "no_such_fn", NULL, &error));
    cr_assert_not_null (error);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "NameError");
    const char *evalue = json_string_value (json_object_get (error, "evalue"));
    cr_assert (strstr (evalue, "no_such_fn") && strstr (evalue, "busy_wait") && strstr (evalue, "echo"),
               "%s", evalue);
    json_decref (error);
    //  Bad arguments are a ValueError, and the engine goes on.
    json_t *args = json_pack ("[s]", "not a number");
    cr_assert_null (zpar_view_apply_sync (all, "busy_wait", args, &error));
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "ValueError");
    json_decref (error);
    json_decref (args);
    json_t *value = zpar_view_apply_sync (all, "hostname", NULL, &error);
    cr_assert_not_null (value);
    json_decref (value);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, plugin_functions_values_errors_and_output)
{
    char extra [4096];
    snprintf (extra, sizeof extra, "--load %s", zt_build_path ("examples/libzpar_example_plugin.so"));
    zt_cluster_start (2, extra);
    zpar_client_t *client = s_client ();
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *args = json_pack ("[i]", 7), *error = NULL;
    json_t *squares = zpar_view_apply_sync (all, "square", args, &error);
    cr_assert_not_null (squares, "%s", zpar_last_error ());
    cr_assert_eq (json_integer_value (json_array_get (squares, 0)), 49);
    cr_assert_eq (json_integer_value (json_array_get (squares, 1)), 49);
    json_decref (squares);
    json_decref (args);

    //  A nonzero return is a FunctionError naming the code.
    args = json_pack ("[i]", 3);
    cr_assert_null (zpar_view_apply_sync (all, "fail", args, &error));
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "CompositeError");
    json_t *each = json_array_get (json_object_get (error, "errors"), 0);
    cr_assert_str_eq (json_string_value (json_object_get (each, "ename")), "FunctionError");
    cr_assert (strstr (json_string_value (json_object_get (each, "evalue")), "returned 3"));
    json_decref (error);
    json_decref (args);

    //  What a function prints comes back through iopub.
    zpar_view_t *one = zpar_client_direct (client, "1");
    args = json_pack ("[s]", "Ada");
    zpar_result_t *result = zpar_view_apply_async (one, "greet", args);
    json_decref (args);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    //  A direct view answers with a list, one value per target.
    cr_assert_str_eq (json_string_value (json_array_get (zpar_result_get (result), 0)),
                      "Hello, Ada, from engine 1");
    cr_assert_str_eq (zpar_result_stdout (result, 0), "greeting Ada\n");
    zpar_result_destroy (&result);
    //  Output comes with the answer, from a brand new client's first call too.
    zpar_client_t *fresh = s_client ();
    zpar_view_t *zero = zpar_client_direct (fresh, "0");
    args = json_pack ("[s]", "Bo");
    result = zpar_view_apply_async (zero, "greet", args);
    json_decref (args);
    cr_assert_eq (zpar_result_wait (result, 10000), 0);
    cr_assert_str_eq (zpar_result_stdout (result, 0), "greeting Bo\n");
    cr_assert_str_eq (json_string_value (json_object_get (zpar_result_metadata (result, 0), "output")),
                      "greeting Bo\n");
    zpar_view_destroy (&zero);
    zpar_client_destroy (&fresh);
    zpar_result_destroy (&result);
    zpar_view_destroy (&one);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, connection_files_are_private)
{
    zt_cluster_start (1, NULL);
    const char *files [] = { "security/zpar-client.json", "security/zpar-engine.json", "security" };
    mode_t modes [] = { 0600, 0600, 0700 };
    for (int i = 0; i < 3; i++) {
        char *path = zt_profile_path (files [i]);
        struct stat st;
        cr_assert_eq (stat (path, &st), 0, "%s missing", path);
        cr_assert_eq (st.st_mode & 0777, modes [i], "%s has mode %o", path, st.st_mode & 0777);
        free (path);
    }
    zt_cluster_stop ();
}

Test (cluster, a_client_without_a_cluster_gets_a_clear_error, .timeout = 30)
{
    //  No profile at all: at once.
    zpar_client_t *client = zpar_client_new ("nothing_here");
    cr_assert_null (client);
    cr_assert (strstr (zpar_last_error (), "ipcluster start"), "%s", zpar_last_error ());

    //  A connection file whose hub is gone: within the hub timeout.
    zt_cluster_start (1, NULL);
    char *path = zt_profile_path ("security/zpar-client.json");
    char *saved = NULL;
    cr_assert_eq (zt_runf (NULL, NULL, "cp %s %s.saved", path, path), 0);
    zt_cluster_stop ();
    cr_assert_eq (zt_runf (NULL, NULL, "mv %s.saved %s", path, path), 0);
    client = zpar_client_new (ZT_PROFILE);
    cr_assert_null (client);
    cr_assert (strstr (zpar_last_error (), "did not answer"), "%s", zpar_last_error ());
    free (saved);
    free (path);

    //  The command line says the same and exits 1.
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s status --hub-timeout 200", zt_build_path ("bin/zpar")), 1);
    cr_assert (strstr (err, "did not answer"), "%s", err);
    free (err);
}

Test (cluster, a_killed_engine_fails_its_call_instead_of_hanging)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    zpar_view_t *one = zpar_client_direct (client, "0");
    json_t *args = json_pack ("[i]", 600);
    zpar_result_t *result = zpar_view_apply_async (one, "sleep", args);
    json_decref (args);
    //  The engine is asleep in the call; kill it.
    cr_assert_eq (zpar_result_wait (result, 200), -1);
    zpar_view_t *other = zpar_client_direct (client, "1");
    json_t *error = NULL;
    json_t *infos = zpar_view_apply_sync (other, "engine_info", NULL, &error);
    zpar_view_destroy (&other);
    cr_assert_not_null (infos);
    //  Engine ids follow registration order, not slots: ask which pid.
    pid_t engine = zt_pid_of ("engine-0") == json_integer_value (
        json_object_get (json_array_get (infos, 0), "pid"))? zt_pid_of ("engine-1"): zt_pid_of ("engine-0");
    json_decref (infos);
    cr_assert_gt (engine, 0);
    kill (engine, SIGKILL);
    cr_assert_eq (zpar_result_wait (result, 20000), 0, "no answer after the engine died");
    error = zpar_result_error (result);
    cr_assert_not_null (error);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "EngineError");
    zpar_result_destroy (&result);
    zpar_view_destroy (&one);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, a_second_start_in_the_same_profile_is_refused)
{
    zt_cluster_start (1, NULL);
    char *err = NULL;
    int rc = zt_runf (NULL, &err, "%s start -n 1 --daemonize --profile %s",
                      zt_build_path ("bin/ipcluster"), ZT_PROFILE);
    cr_assert_eq (rc, 1);
    cr_assert (strstr (err, "already running"), "%s", err);
    free (err);
    zt_cluster_stop ();
}

Test (cluster, zpar_shutdown_stops_every_process)
{
    zt_cluster_start (2, NULL);
    pid_t pids [16];
    size_t count = zt_cluster_pids (pids, 16);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s shutdown", zt_build_path ("bin/zpar")), 0);
    cr_assert (strstr (out, "shut down"), "%s", out);
    free (out);
    for (size_t i = 0; i < count; i++)
        cr_assert (zt_wait_gone (pids [i], 15000), "process %d still runs", (int) pids [i]);
    //  The supervisor cleaned up after the cluster it ran.
    cr_assert_eq (zt_cluster_pids (pids, 16), 0);
    zt_assert_clean_logs ();
    zt_cleanup ();
}

Test (cluster, hello_example_greets_from_every_engine)
{
    zt_cluster_start (4, NULL);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s %s", zt_build_path ("examples/hello"), ZT_PROFILE), 0);
    int lines = 0;
    for (const char *line = strstr (out, "Hello, World"); line; line = strstr (line + 1, "Hello, World"))
        lines++;
    cr_assert_eq (lines, 4, "%s", out);
    cr_assert (strstr (out, "engine 3 on "), "%s", out);
    free (out);
    zt_cluster_stop ();
}

Test (cluster, a_busy_engine_keeps_its_heartbeat)
{
    //  Heartbeats every 100 ms, 3 may be missed: a 1.5 s call is fifteen
    //  periods, and the heart thread must answer them all.
    zt_cluster_start (1, "--hb-liveness 3");
    zpar_client_t *client = s_client ();
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *args = json_pack ("[i]", 30000000), *error = NULL;
    json_t *value = zpar_view_apply_sync (all, "busy_wait", args, &error);
    cr_assert_not_null (value, "%s", zpar_last_error ());
    json_decref (value);
    json_decref (args);
    args = json_pack ("[f]", 1.5);
    value = zpar_view_apply_sync (all, "sleep", args, &error);
    cr_assert_not_null (value, "the engine was taken for dead: %s", zpar_last_error ());
    json_decref (value);
    json_decref (args);
    //  Still the same engine, registered all along.
    json_t *engines = zpar_client_engines (client);
    cr_assert_eq (json_array_size (engines), 1);
    cr_assert_eq (json_integer_value (json_object_get (json_array_get (engines, 0), "id")), 0);
    json_decref (engines);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (cluster, a_stopped_engine_is_declared_dead)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_client ();
    pid_t engine = zt_pid_of ("engine-1");
    cr_assert_gt (engine, 0);
    //  SIGSTOP: the process lives but its heart stops answering.
    kill (engine, SIGSTOP);
    json_t *engines = NULL;
    //  The hub's notification is the event; the table follows it.
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    int64_t deadline = zpar_test_now_ms () + 10000;
    while (zpar_test_now_ms () < deadline) {
        json_t *ids = zpar_view_targets (all);
        size_t count = json_array_size (ids);
        json_decref (ids);
        if (count == 1)
            break;
        zpar_client_wait_for_engines (client, 3, 100);      //  takes in notifications
    }
    engines = zpar_client_engines (client);
    cr_assert_eq (json_array_size (engines), 1, "the stopped engine is still registered");
    json_decref (engines);
    kill (engine, SIGCONT);
    zpar_view_destroy (&all);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

//  Every thread of pid has policy (threads started later inherit it).
static void
s_assert_policy (pid_t pid, int policy, const char *what)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *tasks = opendir (path);
    cr_assert_not_null (tasks, "%s: no %s", what, path);
    int threads = 0;
    struct dirent *entry;
    while ((entry = readdir (tasks)))
        if (entry->d_name [0] != '.') {
            pid_t tid = (pid_t) atoi (entry->d_name);
            int got = sched_getscheduler (tid);
            //  A thread may end between readdir and the question.
            if (got >= 0 || errno != ESRCH)
                cr_assert_eq (got, policy, "%s thread %d has policy %d", what, (int) tid, got);
            threads++;
        }
    closedir (tasks);
    cr_assert_geq (threads, 2, "%s: its own thread and ZeroMQ's", what);
}

//  Engines, the compute, run SCHED_BATCH: they do not preempt the
//  processes that route and record tasks when they wake; those keep the
//  default. ipcluster start --engine-policy normal gives engines the
//  default policy too; a wrong policy is a usage error.
Test (cluster, engines_run_as_batch_work_unless_asked_not_to)
{
    zt_cluster_start (1, NULL);
    s_assert_policy (zt_pid_of ("engine-0"), SCHED_BATCH, "engine-0");
    s_assert_policy (zt_pid_of ("scheduler"), SCHED_OTHER, "the scheduler");
    s_assert_policy (zt_pid_of ("hub"), SCHED_OTHER, "the hub");
    zt_cluster_stop ();
    zt_cluster_start (1, "--engine-policy normal");
    s_assert_policy (zt_pid_of ("engine-0"), SCHED_OTHER, "engine-0 with --engine-policy normal");
    zt_cluster_stop ();
    zt_assert_clean_logs ();
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s --policy fast", zt_build_path ("bin/zpar-engine")), 2);
    cr_assert (strstr (err, "--policy is batch or normal"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s start -n 1 --engine-policy fast --profile %s",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE), 2);
    cr_assert (strstr (err, "--engine-policy is batch or normal"), "%s", err);
    free (err);
}
