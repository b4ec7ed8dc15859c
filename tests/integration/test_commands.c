/*  The zpar and ipcluster commands as people type them.                  */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <zpar/zpar.h>

#include "zpar_test.h"

TestSuite (commands, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

static json_t *
s_zpar_json (const char *arguments)
{
    char *out = NULL, *err = NULL;
    int rc = zt_runf (&out, &err, "%s --json %s", zt_build_path ("bin/zpar"), arguments);
    cr_assert_eq (rc, 0, "zpar %s: %d %s", arguments, rc, err);
    json_t *value = zt_json (out);
    free (out);
    free (err);
    return value;
}

Test (commands, status_engines_and_apply_speak_json)
{
    zt_cluster_start (3, NULL);
    json_t *status = s_zpar_json ("status");
    cr_assert_eq (json_integer_value (json_object_get (status, "engines")), 3);
    json_t *dropped = json_object_get (status, "dropped");
    const char *reasons [] = { "bad_signature", "replay", "malformed", "oversize", "unknown_type" };
    for (int i = 0; i < 5; i++)
        cr_assert (json_is_integer (json_object_get (dropped, reasons [i])), "no %s", reasons [i]);
    json_decref (status);

    json_t *engines = s_zpar_json ("engines");
    cr_assert_eq (json_array_size (engines), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *engine = json_array_get (engines, i);
        cr_assert_eq (json_integer_value (json_object_get (engine, "id")), (json_int_t) i);
        cr_assert_eq (strlen (json_string_value (json_object_get (engine, "uuid"))), 36);
        cr_assert_not_null (json_string_value (json_object_get (engine, "host")));
        cr_assert_gt (json_integer_value (json_object_get (engine, "pid")), 1);
        cr_assert_str_eq (json_string_value (json_object_get (engine, "state")), "idle");
    }
    json_decref (engines);

    json_t *applied = s_zpar_json ("apply echo '[\"hi\"]' --targets 0,2");
    cr_assert_eq (json_object_size (applied), 2);
    cr_assert_str_eq (json_string_value (json_object_get (applied, "0")), "hi");
    cr_assert_str_eq (json_string_value (json_object_get (applied, "2")), "hi");
    json_decref (applied);

    //  An error comes back as an object with ename and evalue, exit 1.
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s apply --json --targets 1 nope", zt_build_path ("bin/zpar")), 1);
    json_t *failed = zt_json (out);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (failed, "1"), "ename")), "NameError");
    json_decref (failed);
    free (out);

    //  Text output too.
    cr_assert_eq (zt_runf (&out, NULL, "%s apply --balanced primes 10", zt_build_path ("bin/zpar")), 0);
    cr_assert (strstr (out, "[2,3,5,7]"), "%s", out);
    free (out);
    cr_assert_eq (zt_runf (&out, NULL, "%s engines", zt_build_path ("bin/zpar")), 0);
    cr_assert (strstr (out, "STATE") && strstr (out, "idle"), "%s", out);
    free (out);
    zt_cluster_stop ();
}

Test (commands, ipcluster_status_follows_the_cluster)
{
    char *out = NULL;
    zt_cluster_start (2, NULL);
    cr_assert_eq (zt_runf (&out, NULL, "%s status --json --profile %s", zt_build_path ("bin/ipcluster"), ZT_PROFILE), 0);
    json_t *status = zt_json (out);
    free (out);
    cr_assert (json_is_true (json_object_get (status, "running")));
    cr_assert_eq (json_integer_value (json_object_get (status, "engines")), 2);
    cr_assert_eq (json_array_size (json_object_get (status, "processes")), 5);
    json_decref (status);
    zt_cluster_stop ();
    cr_assert_eq (zt_runf (&out, NULL, "%s status --profile %s", zt_build_path ("bin/ipcluster"), ZT_PROFILE), 1);
    cr_assert (strstr (out, "not running"), "%s", out);
    free (out);
    //  Stopping what is not running says so.
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s stop --profile %s", zt_build_path ("bin/ipcluster"), ZT_PROFILE), 1);
    cr_assert (strstr (err, "no cluster is running"), "%s", err);
    free (err);
}

static void
s_usage_error (const char *program, const char *arguments)
{
    char *err = NULL;
    int rc = zt_runf (NULL, &err, "%s %s", zt_build_path (program), arguments);
    cr_assert_eq (rc, 2, "%s %s exited %d", program, arguments, rc);
    cr_assert (strstr (err, "usage:"), "%s %s printed: %s", program, arguments, err);
    free (err);
}

Test (commands, wrong_command_lines_print_usage_and_exit_2)
{
    s_usage_error ("bin/zpar", "");
    s_usage_error ("bin/zpar", "frobnicate");
    s_usage_error ("bin/zpar", "apply");
    s_usage_error ("bin/zpar", "apply a b c");
    s_usage_error ("bin/zpar", "status extra");
    s_usage_error ("bin/zpar", "status --targets 1");
    s_usage_error ("bin/zpar", "--hub-timeout abc status");
    s_usage_error ("bin/zpar", "map echo");
    s_usage_error ("bin/zpar", "status --retries 2");
    s_usage_error ("bin/zpar", "map echo - --timeout -1");
    s_usage_error ("bin/zpar", "--bogus status");
    s_usage_error ("bin/zpar", "apply --balanced --targets 1 echo");
    s_usage_error ("bin/ipcluster", "");
    s_usage_error ("bin/ipcluster", "begin");
    s_usage_error ("bin/ipcluster", "start -n -1");
    s_usage_error ("bin/ipcluster", "start -n lots");
    s_usage_error ("bin/ipcluster", "start --hb-period 0");
    s_usage_error ("bin/ipcluster", "start --profile ../x");
    s_usage_error ("bin/ipcluster", "stop -n 2");
    s_usage_error ("bin/ipcluster", "status extra");
    s_usage_error ("bin/zpar-hub", "--hb-liveness x");
    s_usage_error ("bin/zpar-scheduler", "--hwm -2");
    s_usage_error ("bin/zpar-engine", "--timeout 0");
    s_usage_error ("bin/zpar-engine", "stray");
}

Test (commands, bad_arguments_to_apply_are_reported)
{
    zt_cluster_start (1, NULL);
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s apply echo '[1,'", zt_build_path ("bin/zpar")), 2);
    cr_assert (strstr (err, "not JSON"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s apply echo 1 --targets x", zt_build_path ("bin/zpar")), 2);
    cr_assert (strstr (err, "bad target list"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, &err, "%s apply echo 1 --targets 9", zt_build_path ("bin/zpar")), 1);
    cr_assert (strstr (err, "not registered"), "%s", err);
    free (err);
    //  An error message cut inside a multibyte character is still an error.
    char name [1024] = "\"a";
    for (int i = 0; i < 300; i++)
        strcat (name, "\xc3\xa9");
    strcat (name, "\"");
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s apply --json --targets 0 pull '%s'", zt_build_path ("bin/zpar"), name), 1);
    json_t *failed = zt_json (out);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (failed, "0"), "ename")), "KeyError");
    json_decref (failed);
    free (out);
    zt_cluster_stop ();
}

Test (commands, start_failure_is_reported_and_cleaned_up)
{
    //  A plugin that does not load makes every engine exit: start says so.
    char *err = NULL;
    int rc = zt_runf (NULL, &err, "%s start -n 1 --daemonize --profile %s --load /etc/hostname",
                      zt_build_path ("bin/ipcluster"), ZT_PROFILE);
    cr_assert_eq (rc, 1, "%s", err);
    cr_assert (strstr (err, "engine-0 ended during start-up"), "%s", err);
    free (err);
    pid_t pids [16];
    cr_assert_eq (zt_cluster_pids (pids, 16), 0, "processes left after a failed start");
}

Test (commands, foreground_cluster_stops_everything_on_ctrl_c)
{
    int out [2];
    cr_assert_eq (pipe (out), 0);
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (out [1], 1);
        close (out [0]);
        int quiet = open ("/dev/null", O_WRONLY);      //  the supervisor's log lines
        dup2 (quiet, 2);
        execl (zt_build_path ("bin/ipcluster"), "ipcluster", "start", "-n", "2", "--profile", ZT_PROFILE,
               "--hb-period", "100", (char *) NULL);
        _exit (127);
    }
    close (out [1]);
    //  The foreground supervisor says when the cluster is ready.
    char text [512] = "";
    size_t size = 0;
    ssize_t got;
    while (!strchr (text, '\n') && (got = read (out [0], text + size, sizeof text - 1 - size)) > 0)
        text [size += (size_t) got] = 0;
    close (out [0]);
    cr_assert (strstr (text, "started 2 engines"), "ipcluster said: %s", text);
    pid_t pids [16];
    size_t count = zt_cluster_pids (pids, 16);
    cr_assert_eq (count, 5);
    kill (pid, SIGINT);                 //  what Ctrl-C sends
    int status = 0;
    cr_assert_eq (waitpid (pid, &status, 0), pid);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "ipcluster ended with %d", status);
    for (size_t i = 0; i < count; i++)
        cr_assert (zt_wait_gone (pids [i], 5000), "process %d outlived the supervisor", (int) pids [i]);
    cr_assert_eq (zt_cluster_pids (pids, 16), 0, "pid files left behind");
}

Test (commands, ip_option_binds_another_address)
{
    zt_cluster_start (1, "--ip 127.0.0.2");
    char *connfile = zt_profile_path ("security/zpar-client.json");
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "cat %s", connfile), 0);
    json_t *file = zt_json (out);
    free (out);
    cr_assert (strncmp (json_string_value (json_object_get (file, "registration")), "tcp://127.0.0.2:", 16) == 0);
    cr_assert_str_eq (json_string_value (json_object_get (file, "location")), "127.0.0.2");
    json_decref (file);
    free (connfile);
    json_t *applied = s_zpar_json ("apply echo '\"via 127.0.0.2\"'");
    cr_assert_str_eq (json_string_value (json_object_get (applied, "0")), "via 127.0.0.2");
    json_decref (applied);
    json_t *status = s_zpar_json ("status");
    const char *mux = json_string_value (json_object_get (json_object_get (
        json_object_get (status, "schedulers"), "mux"), "client_endpoint"));
    cr_assert (strncmp (mux, "tcp://127.0.0.2:", 16) == 0, "mux at %s", mux);
    json_decref (status);
    zt_cluster_stop ();
}

Test (commands, a_cluster_started_by_hand_in_any_order)
{
    //  Engine and scheduler first: they wait for the hub's connection file.
    const char *engine_args [] = { "--profile", ZT_PROFILE, NULL };
    const char *hub_args [] = { "--profile", ZT_PROFILE, "--hb-period", "100", "--ready-fd", "3", NULL };
    int ready;
    pid_t engine = zt_start_by_hand ("bin/zpar-engine", engine_args, NULL);
    pid_t scheduler = zt_start_by_hand ("bin/zpar-scheduler", engine_args, NULL);
    pid_t hub = zt_start_by_hand ("bin/zpar-hub", hub_args, &ready);
    zt_await_ready (ready);
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    cr_assert_eq (zpar_client_wait_for_engines (client, 1, 15000), 0, "%s", zpar_last_error ());
    zpar_client_destroy (&client);

    //  ipcluster leaves a hub it did not start alone.
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s start -n 1 --daemonize --profile %s",
                           zt_build_path ("bin/ipcluster"), ZT_PROFILE), 1);
    cr_assert (strstr (err, "already serves"), "%s", err);
    free (err);
    cr_assert_eq (zt_runf (NULL, NULL, "%s stop --profile %s", zt_build_path ("bin/ipcluster"), ZT_PROFILE), 1);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s apply hostname", zt_build_path ("bin/zpar")), 0, "%s", out);
    free (out);
    //  zpar shutdown stops all three.
    cr_assert_eq (zt_runf (NULL, NULL, "%s shutdown", zt_build_path ("bin/zpar")), 0);
    zt_expect_exit (engine, "the engine");
    zt_expect_exit (scheduler, "the scheduler");
    zt_expect_exit (hub, "the hub");
}

Test (commands, a_lone_hub_answers_and_shuts_down)
{
    const char *hub_args [] = { "--profile", ZT_PROFILE, "--ready-fd", "3", NULL };
    int ready;
    pid_t hub = zt_start_by_hand ("bin/zpar-hub", hub_args, &ready);
    zt_await_ready (ready);
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    zpar_view_t *view = zpar_client_balanced (client);
    cr_assert_null (zpar_view_apply_async (view, "echo", NULL));
    cr_assert (strstr (zpar_last_error (), "scheduler"), "%s", zpar_last_error ());
    zpar_view_destroy (&view);
    zpar_client_destroy (&client);
    json_t *status = s_zpar_json ("status");
    cr_assert_eq (json_integer_value (json_object_get (status, "engines")), 0);
    json_decref (status);
    cr_assert_eq (zt_runf (NULL, NULL, "%s shutdown", zt_build_path ("bin/zpar")), 0);
    zt_expect_exit (hub, "the hub");
}

Test (commands, zpar_map_prints_results_in_input_order)
{
    zt_cluster_start (2, "--hwm 0");
    const char *dir = zt_fresh_dir ();
    char *out = NULL, *err = NULL;
    //  100 inputs, some slow, some failing: output keeps input order.
    cr_assert_eq (zt_runf (NULL, NULL, "for i in $(seq 0 99); do if [ $((i %% 10)) = 3 ]; then "
                           "echo '[\"bad\"]'; else echo \"[$i]\"; fi; done > %s/in.jsonl", dir), 0);
    int rc = zt_runf (&out, &err, "%s map echo %s/in.jsonl --chunksize 7", zt_build_path ("bin/zpar"), dir);
    cr_assert_eq (rc, 0, "%s", err);
    cr_assert_str_empty (err, "stderr is not a terminal: nothing extra, got %s", err);
    int line = 0;
    for (char *text = strtok (out, "\n"); text; text = strtok (NULL, "\n"), line++) {
        char expected [32];
        snprintf (expected, sizeof expected, line % 10 == 3? "\"bad\"": "%d", line);
        cr_assert_str_eq (text, expected, "line %d", line);
    }
    cr_assert_eq (line, 100);
    free (out);
    free (err);
    //  Failures are error objects in place, and the exit code says so.
    rc = zt_runf (&out, NULL, "%s map primes %s/in.jsonl --retries 1 --timeout 30", zt_build_path ("bin/zpar"), dir);
    cr_assert_eq (rc, 1);
    char *fourth = strtok (out, "\n");
    for (int i = 0; i < 3; i++)
        fourth = strtok (NULL, "\n");
    json_t *error = zt_json (fourth);
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (error, "error"), "ename")),
                      "ValueError");
    json_decref (error);
    free (out);
    //  On a terminal, a progress bar on stderr.
    rc = zt_runf (&out, NULL, "script -qec '%s map echo %s/in.jsonl > %s/out.jsonl' /dev/null",
                  zt_build_path ("bin/zpar"), dir, dir);
    cr_assert_eq (rc, 0);
    cr_assert (strstr (out, "100/100 100%"), "no progress bar: %s", out);
    free (out);
    cr_assert_eq (zt_runf (&out, NULL, "wc -l < %s/out.jsonl", dir), 0);
    cr_assert_eq (atoi (out), 100);
    free (out);
    //  Into a pipe, each result goes out as soon as it is in: the first
    //  line arrives while the second call still runs.
    cr_assert_eq (zt_runf (NULL, NULL, "printf '[0.01]\\n[3]\\n' > %s/sleeps.jsonl", dir), 0);
    char input [512];
    snprintf (input, sizeof input, "%s/sleeps.jsonl", dir);
    int pipe_fds [2];
    cr_assert_eq (pipe (pipe_fds), 0);
    pid_t map = fork ();
    if (map == 0) {
        dup2 (pipe_fds [1], STDOUT_FILENO);
        close (pipe_fds [0]);
        execl (zt_build_path ("bin/zpar"), "zpar", "map", "sleep", input, (char *) NULL);
        _exit (127);
    }
    zt_track_pid (map);
    close (pipe_fds [1]);
    //  Had zpar held its output to the end, one read would get both.
    char got [64] = "";
    cr_assert_gt (read (pipe_fds [0], got, sizeof got - 1), 0);
    cr_assert_str_eq (got, "0.01\n");
    memset (got, 0, sizeof got);
    cr_assert_gt (read (pipe_fds [0], got, sizeof got - 1), 0);
    cr_assert_str_eq (got, "3.0\n");
    close (pipe_fds [0]);
    int status = 0;
    cr_assert_eq (waitpid (map, &status, 0), map);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    //  Input that is not a list of arguments is a usage error.
    cr_assert_eq (zt_runf (NULL, &err, "echo 'nope' | %s map echo -", zt_build_path ("bin/zpar")), 2);
    cr_assert (strstr (err, "line 1"), "%s", err);
    free (err);
    zt_cluster_stop ();
}
