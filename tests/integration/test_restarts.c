/*  The hub and the scheduler killed with -9 while work runs: the
    supervisor starts them again on the same ports, and the rest of the
    cluster carries on (hub) or learns of it at once (scheduler).        */

#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zpar/zpar.h>

#include "zpar_connfile.h"
#include "zpar_request.h"
#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (restarts, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

static zpar_client_t *
s_connect (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    return client;
}

//  A map of count sleeps of seconds each on the balanced view.
static zpar_result_t *
s_sleeps (zpar_client_t *client, int count, double seconds)
{
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = json_array ();
    for (int i = 0; i < count; i++)
        json_array_append_new (inputs, json_pack ("[f]", seconds));
    zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    return result;
}

//  "id uuid pid" of each engine the hub lists, sorted by id; "" when the
//  hub does not answer (caller frees).
static char *
s_roster (zpar_client_t *client)
{
    json_t *engines = zpar_client_engines (client);
    char *text = calloc (1, 4096);
    size_t i, used = 0;
    json_t *engine;
    json_array_foreach (engines, i, engine)
        used += (size_t) snprintf (text + used, 4096 - used, "%lld %s %lld\n",
                                   (long long) json_integer_value (json_object_get (engine, "id")),
                                   json_string_value (json_object_get (engine, "uuid")),
                                   (long long) json_integer_value (json_object_get (engine, "pid")));
    json_decref (engines);
    return text;
}

//  Waits until the hub lists exactly this roster.
static bool
s_roster_is (zpar_client_t *client, const char *expected, int timeout_ms)
{
    bool same = false;
    for (int64_t deadline = zpar_mono_ms () + timeout_ms; !same && zpar_mono_ms () < deadline;) {
        char *roster = s_roster (client);
        same = streq (roster, expected);
        free (roster);
        if (!same)
            zclock_sleep (50);      //  re-registration has no event a client sees
    }
    return same;
}

static char *
s_registration_endpoint (void)
{
    char *path = zt_profile_path ("security/zpar-client.json");
    zpar_connfile_t *file = zpar_connfile_load (path, NULL);
    free (path);
    cr_assert_not_null (file);
    char *endpoint = strdup (file->registration);
    zpar_connfile_destroy (&file);
    return endpoint;
}

//  How many of the first count items failed; asserts each failed with
//  SchedulerError (it was inside a scheduler that was killed).
static size_t
s_lost (zpar_result_t *result, size_t count)
{
    size_t lost = 0;
    for (size_t i = 0; i < count; i++) {
        json_t *error = zpar_result_item_error (result, i);
        if (error) {
            cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "SchedulerError");
            lost++;
        }
    }
    return lost;
}

Test (restarts, a_hub_killed_mid_map_comes_back_and_the_map_finishes)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    char *before = s_roster (client);
    cr_assert (strlen (before) > 0);
    char *endpoint = s_registration_endpoint ();
    pid_t hub = zt_pid_of ("hub");
    cr_assert_gt (hub, 0);

    //  Two seconds of work on two engines; the hub dies a moment in.
    zpar_result_t *result = s_sleeps (client, 40, 0.1);
    cr_assert_eq (zpar_result_wait (result, 200), -1, "the map ended before the hub was killed");
    kill (hub, SIGKILL);
    cr_assert (zt_wait_gone (hub, 5000));

    //  Every task finishes and its answer reaches this client.
    cr_assert_eq (zpar_result_wait (result, 20000), 0, "the map did not finish: %s", zpar_last_error ());
    cr_assert (zpar_result_successful (result));
    cr_assert_eq (json_array_size (zpar_result_get (result)), 40);
    zpar_result_destroy (&result);

    //  A new hub, on the same port, knows the same engines by uuid and id.
    cr_assert (s_roster_is (client, before, 10000), "engines not registered again as before");
    pid_t again = zt_pid_of ("hub");
    cr_assert (again > 0 && again != hub);
    char *now = s_registration_endpoint ();
    cr_assert_str_eq (now, endpoint);

    //  The same client and a new one both get work done.
    zpar_view_t *all = zpar_client_direct (client, ZPAR_ALL);
    json_t *args = zt_json ("[7]"), *error = NULL;
    json_t *answer = zpar_view_apply_sync (all, "echo", args, &error);
    cr_assert_not_null (answer, "%s", json_dumps (error, 0));
    cr_assert_eq (json_array_size (answer), 2);
    json_decref (answer);
    zpar_client_t *second = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (second);
    answer = zpar_view_apply_sync (balanced, "echo", args, &error);
    cr_assert_not_null (answer, "%s", json_dumps (error, 0));
    json_decref (answer);
    json_decref (args);
    zpar_view_destroy (&balanced);
    zpar_view_destroy (&all);
    zpar_client_destroy (&second);
    zpar_client_destroy (&client);
    free (now);
    free (endpoint);
    free (before);
    zt_cluster_stop ();
}

//  Calls fn on view until it answers (connections to a daemon started
//  again come back within moments, with no event to wait for); the
//  value of the first answer, asserting one came within 10 s.
static json_t *
s_apply_soon (zpar_view_t *view, const char *fn, const char *args_text)
{
    json_t *args = zt_json (args_text), *value = NULL;
    for (int64_t deadline = zpar_mono_ms () + 10000; !value && zpar_mono_ms () < deadline;) {
        zpar_result_t *result = zpar_view_apply_async (view, fn, args);
        if (result && zpar_result_wait (result, 2000) == 0 && zpar_result_successful (result))
            value = json_incref (zpar_result_get (result));
        zpar_result_destroy (&result);
        if (!value)
            zclock_sleep (50);
    }
    cr_assert_not_null (value, "no answer to %s within 10 s: %s", fn, zpar_last_error ());
    json_decref (args);
    return value;
}

Test (restarts, a_scheduler_killed_mid_map_fails_what_was_inside_and_comes_back)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    zpar_result_t *result = s_sleeps (client, 40, 0.1);
    zpar_view_t *first = zpar_client_direct (client, "0");
    json_t *args = zt_json ("[2]");
    zpar_result_t *direct = zpar_view_apply_async (first, "sleep", args);
    json_decref (args);
    cr_assert_eq (zpar_result_wait (result, 200), -1, "the map ended before the scheduler was killed");
    pid_t scheduler = zt_pid_of ("scheduler");
    kill (scheduler, SIGKILL);

    //  Every call gets an answer soon: done before, or SchedulerError.
    int64_t killed = zpar_mono_ms ();
    cr_assert_eq (zpar_result_wait (result, 5000), 0, "%s", zpar_last_error ());
    cr_assert_eq (zpar_result_wait (direct, 5000), 0, "%s", zpar_last_error ());
    cr_assert_lt (zpar_mono_ms () - killed, 5000);
    size_t lost = s_lost (result, 40);
    cr_assert_gt (lost, 0, "no task was inside the scheduler");
    json_t *error = zpar_result_item_error (direct, 0);
    cr_assert_not_null (error);
    cr_assert_str_eq (json_string_value (json_object_get (error, "ename")), "SchedulerError");
    cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "SIGKILL"),
               "%s", json_string_value (json_object_get (error, "evalue")));

    //  A second client asking the hub for them gets no "pending" either.
    json_t *ids = zpar_result_msg_ids (result);
    zpar_client_t *second = s_connect ();
    json_t *answers = zpar_client_fetch (second, ids, 5000);
    cr_assert_not_null (answers, "%s", zpar_last_error ());
    size_t i;
    json_t *answer;
    json_array_foreach (answers, i, answer)
        cr_assert_str_neq (json_string_value (json_object_get (answer, "status")), "pending");
    json_decref (answers);
    json_decref (ids);

    //  Started again on the same ports: both clients get work done, both
    //  ways, with no new connection.
    cr_assert (zt_log_says ("scheduler started again", 10000));
    pid_t again = zt_pid_of ("scheduler");
    cr_assert (again > 0 && again != scheduler);
    json_t *value = s_apply_soon (first, "echo", "[5]");
    cr_assert_eq (json_integer_value (json_array_get (value, 0)), 5);
    json_decref (value);
    zpar_view_t *balanced = zpar_client_balanced (second);
    value = s_apply_soon (balanced, "echo", "[6]");
    cr_assert_eq (json_integer_value (value), 6);
    json_decref (value);
    zpar_view_destroy (&balanced);
    zpar_view_destroy (&first);
    zpar_result_destroy (&direct);
    zpar_result_destroy (&result);
    zpar_client_destroy (&second);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

//  A status_request signed with the cluster's key, dated seconds ago
//  (caller owns).
static zmsg_t *
s_status_request (zpar_sign_t *signer, int64_t seconds_ago)
{
    char date [40], header [512];
    zpar_iso_date (zpar_wall_us () - seconds_ago * 1000000, date, sizeof date);
    char *msg_id = zpar_new_uuid ();
    snprintf (header, sizeof header, "{\"msg_id\": \"%s\", \"session\": \"restart-test\", "
              "\"username\": \"test\", \"date\": \"%s\", \"msg_type\": \"status_request\", "
              "\"version\": \"5.3\"}", msg_id, date);
    free (msg_id);
    return zt_signed (signer, header, "{}", "{}", "{}");
}

//  Sends raw to the hub: its answer, or NULL when the hub dropped it
//  (none within 2 s; it answers in well under a millisecond).
static zpar_msg_t *
s_answer (zsock_t *hub, zmsg_t **raw_p, zpar_sign_t *signer)
{
    cr_assert_eq (zmsg_send (raw_p, hub), 0);
    zpoller_t *poller = zpoller_new (hub, NULL);
    zmsg_t *answer = zpoller_wait (poller, 2000)? zmsg_recv (hub): NULL;
    zpoller_destroy (&poller);
    zpar_drop_t reason;
    return answer? zpar_msg_decode (&answer, signer, 0, NULL, &reason): NULL;
}

Test (restarts, a_hub_started_again_by_hand_takes_over_and_refuses_old_messages)
{
    const char *others [] = { "--profile", ZT_PROFILE, NULL };
    const char *hub_args [] = { "--profile", ZT_PROFILE, "--hb-period", "100", "--ready-fd", "3", NULL };
    int ready;
    pid_t engine = zt_start_by_hand ("bin/zpar-engine", others, NULL);
    pid_t scheduler = zt_start_by_hand ("bin/zpar-scheduler", others, NULL);
    pid_t hub = zt_start_by_hand ("bin/zpar-hub", hub_args, &ready);
    zt_await_ready (ready);
    zpar_client_t *client = s_connect ();
    cr_assert_eq (zpar_client_wait_for_engines (client, 1, 15000), 0, "%s", zpar_last_error ());
    char *before = s_roster (client);
    char *path = zt_profile_path ("security/zpar-client.json");
    zpar_connfile_t *conn = zpar_connfile_load (path, NULL);
    free (path);
    cr_assert_not_null (conn);
    zpar_sign_t *signer = zpar_sign_new (conn->key, 64);
    zsock_t *raw_hub = zsock_new_dealer (conn->registration);
    zsock_set_linger (raw_hub, 0);
    //  A request the first hub answered, its bytes kept as a listener
    //  on the network would keep them.
    zmsg_t *captured = s_status_request (signer, 0);
    zmsg_t *sent = zmsg_dup (captured);
    zpar_msg_t *first_answer = s_answer (raw_hub, &sent, signer);
    cr_assert_not_null (first_answer, "the first hub did not answer");
    zpar_msg_destroy (&first_answer);

    kill (hub, SIGKILL);
    int status;
    cr_assert_eq (waitpid (hub, &status, 0), hub);
    hub = zt_start_by_hand ("bin/zpar-hub", hub_args, &ready);
    zt_await_ready (ready);
    cr_assert (s_roster_is (client, before, 10000), "the engine did not register again as before");
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *value = s_apply_soon (balanced, "echo", "[3]");
    cr_assert_eq (json_integer_value (value), 3);
    json_decref (value);

    //  The key is the same, the replay history is not: the request the
    //  first hub answered is refused, as is one dated 2 minutes ago; a
    //  new one is answered, and counts both.
    cr_assert_null (s_answer (raw_hub, &captured, signer), "a replay of an answered request was answered");
    zmsg_t *old = s_status_request (signer, 120);
    cr_assert_null (s_answer (raw_hub, &old, signer), "a request 2 minutes old was answered");
    zmsg_t *fresh = s_status_request (signer, 0);
    zpar_msg_t *answer = s_answer (raw_hub, &fresh, signer);
    cr_assert_not_null (answer, "a fresh message was not answered");
    json_t *dropped = json_object_get (json_object_get (zpar_msg_content (answer), "hub"), "dropped");
    cr_assert_geq (json_integer_value (json_object_get (dropped, "replay")), 2);
    zpar_msg_destroy (&answer);

    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zsock_destroy (&raw_hub);
    zpar_sign_destroy (&signer);
    zpar_connfile_destroy (&conn);
    free (before);
    cr_assert_eq (zt_runf (NULL, NULL, "%s --profile %s shutdown", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    zt_expect_exit (engine, "the engine");
    zt_expect_exit (scheduler, "the scheduler");
    zt_expect_exit (hub, "the hub");
}

Test (restarts, a_hub_and_scheduler_killed_together_fail_what_was_inside_and_come_back)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    char *before = s_roster (client);
    zpar_result_t *result = s_sleeps (client, 40, 0.1);
    cr_assert_eq (zpar_result_wait (result, 200), -1, "the map ended before the kill");
    pid_t hub = zt_pid_of ("hub"), scheduler = zt_pid_of ("scheduler");
    kill (scheduler, SIGKILL);
    kill (hub, SIGKILL);

    //  No hub saw the scheduler go: the new scheduler says whom it
    //  replaces, and the new hub tells the clients.
    cr_assert_eq (zpar_result_wait (result, 10000), 0, "%s", zpar_last_error ());
    size_t lost = s_lost (result, 40);
    cr_assert_gt (lost, 0);
    cr_assert (s_roster_is (client, before, 10000), "engines not registered again as before");
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *value = s_apply_soon (balanced, "echo", "[4]");
    cr_assert_eq (json_integer_value (value), 4);
    json_decref (value);
    //  Direct calls too: the new scheduler takes replies from engines
    //  that said hello to the one before.
    zpar_view_t *both = zpar_client_direct (client, ZPAR_ALL);
    value = s_apply_soon (both, "echo", "[8]");
    cr_assert_eq (json_array_size (value), 2);
    json_decref (value);
    zpar_view_destroy (&both);
    zpar_view_destroy (&balanced);
    zpar_result_destroy (&result);
    zpar_client_destroy (&client);
    free (before);
    zt_cluster_stop ();
}

Test (restarts, with_no_restarts_left_a_crashed_scheduler_stops_the_cluster)
{
    zt_cluster_start (1, "--restart-limit 0");
    pid_t pids [16];
    size_t count = zt_cluster_pids (pids, 16);
    cr_assert_geq (count, 4);
    kill (zt_pid_of ("scheduler"), SIGKILL);
    cr_assert (zt_log_says ("the scheduler (pid", 10000));
    cr_assert (zt_log_says ("stopping the cluster", 10000));
    //  Every process of the cluster goes, the supervisor last.
    for (size_t i = 0; i < count; i++)
        cr_assert (zt_wait_gone (pids [i], 10000), "pid %d is still there", (int) pids [i]);
}

Test (restarts, a_second_scheduler_on_a_profile_is_refused_and_the_first_serves_on)
{
    zt_cluster_start (1, NULL);
    zpar_client_t *client = s_connect ();
    zpar_result_t *result = s_sleeps (client, 4, 0.2);
    const char *args [] = { "--profile", ZT_PROFILE, NULL };
    pid_t second = zt_start_by_hand ("bin/zpar-scheduler", args, NULL);
    int status = 0;
    cr_assert_eq (waitpid (second, &status, 0), second);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 1, "the second scheduler ended with %d", status);
    //  Nothing was taken for lost.
    cr_assert_eq (zpar_result_wait (result, 10000), 0, "%s", zpar_last_error ());
    cr_assert (zpar_result_successful (result));
    zpar_result_destroy (&result);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (restarts, a_map_to_a_stopped_scheduler_returns_at_once_with_what_could_not_be_sent)
{
    zt_cluster_start (1, "--hwm 0");
    zpar_client_t *client = s_connect ();
    pid_t scheduler = zt_pid_of ("scheduler");
    kill (scheduler, SIGSTOP);
    //  Far more than the socket buffers and the high-water mark hold:
    //  once a send has waited its 5 s, the rest fail without waiting.
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = json_array ();
    for (int i = 0; i < 30000; i++)
        json_array_append_new (inputs, json_pack ("[i]", i));
    int64_t started = zpar_mono_ms ();
    zpar_result_t *result = zpar_view_map_async (balanced, "echo", inputs, 1);
    int64_t took = zpar_mono_ms () - started;
    kill (scheduler, SIGCONT);
    json_decref (inputs);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    cr_assert_lt (took, 9000, "map_async took %lld ms", (long long) took);
    //  What was queued runs once the scheduler goes on; the rest failed.
    cr_assert_eq (zpar_result_wait (result, 30000), 0, "%s", zpar_last_error ());
    size_t failed = 0, ok = 0;
    for (size_t i = 0; i < 30000; i++) {
        json_t *error = zpar_result_item_error (result, i);
        if (error) {
            cr_assert (strstr (json_string_value (json_object_get (error, "evalue")), "takes no requests"),
                       "%s", json_string_value (json_object_get (error, "evalue")));
            failed++;
        }
        else
            ok++;
    }
    cr_assert_gt (failed, 0);
    cr_assert_gt (ok, 0);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (restarts, tasks_with_retries_inside_a_killed_scheduler_run_again)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    cr_assert_eq (zpar_view_set_retries (balanced, 2), 0);
    json_t *inputs = json_array ();
    for (int i = 0; i < 40; i++)
        json_array_append_new (inputs, json_pack ("[f]", 0.1));
    zpar_result_t *result = zpar_view_map_async (balanced, "sleep", inputs, 1);
    json_decref (inputs);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    json_t *before = zpar_result_msg_ids (result);
    cr_assert_eq (zpar_result_wait (result, 200), -1, "the map ended before the kill");
    kill (zt_pid_of ("scheduler"), SIGKILL);
    //  Sent again to the scheduler started in its place, as new tasks.
    cr_assert_eq (zpar_result_wait (result, 20000), 0, "%s", zpar_last_error ());
    cr_assert (zpar_result_successful (result), "%s", json_dumps (zpar_result_error (result), 0));
    json_t *after = zpar_result_msg_ids (result);
    size_t changed = 0;
    for (size_t i = 0; i < 40; i++)
        changed += !streq (json_string_value (json_array_get (before, i)),
                           json_string_value (json_array_get (after, i)));
    cr_assert_gt (changed, 0, "no task was sent again");
    json_decref (before);
    json_decref (after);
    zpar_result_destroy (&result);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
