/*  The hub's task records: built from what the schedulers route and what
    tasks print, read with db_request and `zpar db`, fetched by another
    client, culled, kept in SQLite across a kill -9 of the hub, purged,
    resubmitted; and `zpar top` in a real terminal (tmux).              */

#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zpar/zpar.h>

#include "zpar_hub_db.h"
#include "zpar_test.h"
#include "zpar_util.h"

TestSuite (records, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup, .timeout = 60);

static zpar_client_t *
s_connect (void)
{
    zpar_client_t *client = zpar_client_new (ZT_PROFILE);
    cr_assert_not_null (client, "%s", zpar_last_error ());
    return client;
}

//  Starts fn (args: JSON text) on the balanced view, or on targets;
//  returns its msg_id (caller frees) and, when wanted, the result.
static char *
s_submit (zpar_client_t *client, const char *targets, const char *fn, const char *args,
          zpar_result_t **result_p)
{
    zpar_view_t *view = targets? zpar_client_direct (client, targets): zpar_client_balanced (client);
    json_t *list = zt_json (args);
    zpar_result_t *result = zpar_view_apply_async (view, fn, list);
    cr_assert_not_null (result, "%s", zpar_last_error ());
    json_t *ids = zpar_result_msg_ids (result);
    char *msg_id = strdup (json_string_value (json_array_get (ids, 0)));
    json_decref (ids);
    json_decref (list);
    zpar_view_destroy (&view);
    if (result_p)
        *result_p = result;
    else {
        cr_assert_eq (zpar_result_wait (result, 10000), 0);
        zpar_result_destroy (&result);
    }
    return msg_id;
}

//  Records matching query (JSON text), keys as given (may be NULL).
static json_t *
s_db (zpar_client_t *client, const char *query, const char *keys)
{
    json_t *q = zt_json (query), *k = keys? zt_json (keys): NULL;
    json_t *records = zpar_client_db (client, q, k, 0, false);
    cr_assert_not_null (records, "%s", zpar_last_error ());
    json_decref (q);
    json_decref (k);
    return records;
}

//  Waits until query matches count records (the monitor copies reach the
//  hub in batches, after the answers reach their clients); returns them.
static json_t *
s_await (zpar_client_t *client, const char *query, size_t count)
{
    json_t *records = NULL;
    for (int64_t deadline = zpar_mono_ms () + 5000; zpar_mono_ms () < deadline;) {
        json_decref (records);
        records = s_db (client, query, NULL);
        if (json_array_size (records) == count)
            return records;
        zclock_sleep (20);      //  a record changes without an event a client sees
    }
    char *text = json_dumps (records, JSON_COMPACT);
    cr_assert_fail ("%s: %zu records, not %zu: %.2000s", query, json_array_size (records), count, text);
    return NULL;
}

static const char *
s_field (json_t *record, const char *key)
{
    const char *value = json_string_value (json_object_get (record, key));
    return value? value: "";
}

static char *
s_query_ids (const char *first, const char *second)
{
    char *text = malloc (256);
    snprintf (text, 256, "{\"msg_ids\": [\"%s\"%s%s%s]}", first, second? ", \"": "",
              second? second: "", second? "\"": "");
    return text;
}

Test (records, kept_with_times_results_errors_and_output)
{
    char extra [512];
    snprintf (extra, sizeof extra, "--load %s", zt_build_path ("tests/libzpar_test_plugin.so"));
    zt_cluster_start (2, extra);
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = zt_json ("[[1], [2], [3], [4], [5], [6], [7], [8]]");
    zpar_result_t *map = zpar_view_map_async (balanced, "echo", inputs, 1);
    cr_assert_eq (zpar_result_wait (map, 10000), 0);
    char *failed = s_submit (client, NULL, "sleep", "[-1]", NULL);
    char *said = s_submit (client, "1", "say", "[\"to stdout\\n\", \"to stderr\\n\"]", NULL);

    json_t *records = s_await (client, "{\"fn\": \"echo\", \"status\": \"ok\"}", 8);
    size_t i;
    json_t *record;
    json_array_foreach (records, i, record) {
        const char *submitted = s_field (record, "submitted"), *started = s_field (record, "started");
        const char *completed = s_field (record, "completed");
        cr_assert (*submitted && *started && *completed, "times missing");
        cr_assert (strcmp (submitted, started) <= 0 && strcmp (started, completed) <= 0,
                   "%s %s %s", submitted, started, completed);
        json_int_t engine = json_integer_value (json_object_get (record, "engine_id"));
        cr_assert (engine == 0 || engine == 1);
        //  In input order (oldest first), each with its value: a map of
        //  one input a task sends plain calls, answered with "result".
        json_t *value = json_object_get (json_object_get (record, "result"), "result");
        cr_assert_eq (json_integer_value (value), (json_int_t) i + 1);
        cr_assert_str_eq (s_field (record, "client"), s_field (json_array_get (records, 0), "client"));
    }
    json_decref (records);

    char *query = s_query_ids (failed, NULL);
    records = s_await (client, query, 1);
    record = json_array_get (records, 0);
    cr_assert_str_eq (s_field (record, "status"), "error");
    cr_assert_str_eq (s_field (json_object_get (record, "result"), "ename"), "ValueError");
    json_decref (records);
    free (query);

    //  Output comes on iopub, apart from the answer: wait for both.
    query = s_query_ids (said, NULL);
    for (int64_t deadline = zpar_mono_ms () + 5000; ; zclock_sleep (20)) {
        records = s_db (client, query, "[\"stdout\", \"stderr\", \"engine_id\", \"status\"]");
        record = json_array_get (records, 0);
        if (streq (s_field (record, "stderr"), "to stderr\n") && streq (s_field (record, "status"), "ok"))
            break;
        cr_assert (zpar_mono_ms () < deadline, "no output recorded");
        json_decref (records);
    }
    cr_assert_str_eq (s_field (record, "stdout"), "to stdout\n");
    cr_assert_eq (json_integer_value (json_object_get (record, "engine_id")), 1);
    cr_assert_eq (json_object_size (record), 4, "only the keys asked for");
    json_decref (records);
    free (query);
    free (failed);
    free (said);
    json_decref (inputs);
    zpar_result_destroy (&map);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (records, another_client_fetches_results_and_zpar_result_says_pending)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *first = s_connect ();
    char *done = s_submit (first, NULL, "echo", "[\"kept\"]", NULL);
    zpar_result_t *slow_result;
    char *slow = s_submit (first, "0", "sleep", "[8]", &slow_result);
    zpar_client_destroy (&first);

    zpar_client_t *second = s_connect ();
    json_t *ids = json_pack ("[s]", done);
    json_t *answers = zpar_client_fetch (second, ids, 5000);
    cr_assert_not_null (answers, "%s", zpar_last_error ());
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (answers, 0), "value")), "kept");
    json_decref (answers);
    json_decref (ids);
    zpar_client_destroy (&second);

    char *out = NULL, *err = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s result %s", zt_build_path ("bin/zpar"),
                           ZT_PROFILE, done), 0);
    cr_assert (strstr (out, "ok  kept"), "%s", out);
    free (out);
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s result %s", zt_build_path ("bin/zpar"),
                           ZT_PROFILE, slow), 0);
    cr_assert (strstr (out, "pending"), "%s", out);
    free (out);
    cr_assert_eq (zt_runf (&out, &err, "%s --profile %s result no-such-task", zt_build_path ("bin/zpar"),
                           ZT_PROFILE), 1);
    cr_assert (strstr (err, "KeyError: no record of task no-such-task"), "%s", err);
    free (out);
    free (err);
    zpar_result_destroy (&slow_result);
    free (done);
    free (slow);
    zt_cluster_stop ();
}

//  Runs `zpar --json db ARGS` and returns how many records it printed,
//  or -1 with its stderr in *err.
static int
s_zpar_db (const char *args, char **err)
{
    char *out = NULL;
    int rc = zt_runf (&out, err, "%s --profile %s --json db %s", zt_build_path ("bin/zpar"),
                      ZT_PROFILE, args);
    int count = -1;
    if (rc == 0) {
        json_t *records = zt_json (out);
        count = (int) json_array_size (records);
        json_decref (records);
    }
    free (out);
    return count;
}

Test (records, zpar_db_filters_each_way)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    for (int i = 0; i < 3; i++)
        free (s_submit (client, "0", "echo", "[1]", NULL));
    for (int i = 0; i < 2; i++)
        free (s_submit (client, "1", "sleep", "[0]", NULL));
    free (s_submit (client, "1", "sleep", "[-1]", NULL));
    json_t *all = s_await (client, "{\"status\": \"completed\"}", 6);
    char client_filter [128];
    snprintf (client_filter, sizeof client_filter, "--client %s",
              s_field (json_array_get (all, 0), "client"));
    json_decref (all);

    cr_assert_eq (s_zpar_db ("", NULL), 6);
    cr_assert_eq (s_zpar_db ("--status error", NULL), 1);
    cr_assert_eq (s_zpar_db ("--status ok", NULL), 5);
    cr_assert_eq (s_zpar_db ("--engine 1", NULL), 3);
    cr_assert_eq (s_zpar_db ("--engine 0 --fn echo", NULL), 3);
    cr_assert_eq (s_zpar_db ("--fn sleep --status ok", NULL), 2);
    cr_assert_eq (s_zpar_db (client_filter, NULL), 6);
    cr_assert_eq (s_zpar_db ("--client someone-else", NULL), 0);
    cr_assert_eq (s_zpar_db ("--since 5m", NULL), 6);
    cr_assert_eq (s_zpar_db ("--since 2999-01-01", NULL), 0);
    cr_assert_eq (s_zpar_db ("--until 2000-01-01", NULL), 0);
    cr_assert_eq (s_zpar_db ("--limit 4", NULL), 4);

    char *out = NULL, *err = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s --json db --keys msg_id,status --limit 1",
                           zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    json_t *records = zt_json (out);
    cr_assert_eq (json_object_size (json_array_get (records, 0)), 2, "%s", out);
    json_decref (records);
    free (out);
    //  A table for people: one line per record and a count.
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s db --fn echo", zt_build_path ("bin/zpar"),
                           ZT_PROFILE), 0);
    cr_assert (strstr (out, "MSG_ID") && strstr (out, "(3 records)"), "%s", out);
    free (out);

    //  What is wrong is named.
    cr_assert_eq (s_zpar_db ("--keys msg_id,colour", &err), -1);
    cr_assert (strstr (err, "unknown record key 'colour'"), "%s", err);
    free (err);
    cr_assert_eq (s_zpar_db ("--status sideways", &err), -1);
    cr_assert (strstr (err, "query key 'status'"), "%s", err);
    free (err);
    cr_assert_eq (s_zpar_db ("--since yesterday", &err), -1);
    cr_assert (strstr (err, "--since and --until take a date"), "%s", err);
    free (err);
    cr_assert_eq (s_zpar_db ("--until 2026-02-30", &err), -1);
    free (err);
    //  The newest records, and a whole day with a bare date.
    char today [48], *out_last = NULL;
    zpar_iso_date (zpar_wall_us (), today, sizeof today);
    today [10] = 0;
    char until_today [64];
    snprintf (until_today, sizeof until_today, "--until %s", today);
    cr_assert_eq (s_zpar_db (until_today, NULL), 6);
    cr_assert_eq (zt_runf (&out_last, NULL, "%s --profile %s --json db --last 1 --keys status",
                           zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    json_t *newest = zt_json (out_last);
    cr_assert_str_eq (s_field (json_array_get (newest, 0), "status"), "error", "%s", out_last);
    json_decref (newest);
    free (out_last);
    json_t *query = zt_json ("{\"colour\": \"blue\"}");
    cr_assert_null (zpar_client_db (client, query, NULL, 0, false));
    cr_assert (strstr (zpar_last_error (), "unknown query key 'colour'"), "%s", zpar_last_error ());
    json_decref (query);
    query = zt_json ("{\"since\": \"noon\"}");
    cr_assert_null (zpar_client_db (client, query, NULL, 0, false));
    cr_assert (strstr (zpar_last_error (), "query key 'since'"), "%s", zpar_last_error ());
    json_decref (query);
    query = zt_json ("{\"engine\": \"one\"}");
    cr_assert_null (zpar_client_db (client, query, NULL, 0, false));
    cr_assert (strstr (zpar_last_error (), "query key 'engine'"), "%s", zpar_last_error ());
    json_decref (query);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (records, culling_keeps_the_newest_and_every_pending_record)
{
    zt_cluster_start (2, "--db-max-records 10");
    zpar_client_t *client = s_connect ();
    zpar_result_t *long_result;
    char *long_task = s_submit (client, "0", "sleep", "[8]", &long_result);
    char *last [9] = { NULL };
    for (int i = 0; i < 30; i++) {
        char *msg_id = s_submit (client, "1", "echo", "[1]", NULL);
        free (last [i % 9]);
        last [i % 9] = msg_id;
    }
    json_t *pending = s_await (client, "{\"status\": \"pending\"}", 1);
    cr_assert_str_eq (s_field (json_array_get (pending, 0), "msg_id"), long_task);
    json_decref (pending);
    //  The last echo's record is in once 9 finished ones are left.
    char *query = s_query_ids (last [29 % 9], NULL);
    json_decref (s_await (client, query, 1));
    free (query);
    json_t *all = s_db (client, "{}", "[\"msg_id\"]");
    cr_assert_eq (json_array_size (all), 10);
    for (int i = 0; i < 9; i++) {
        bool found = false;
        size_t k;
        json_t *record;
        json_array_foreach (all, k, record)
            found |= streq (s_field (record, "msg_id"), last [i]);
        cr_assert (found, "newest record %s culled", last [i]);
        free (last [i]);
    }
    json_decref (all);
    zpar_result_destroy (&long_result);
    free (long_task);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (records, purge_and_resubmit)
{
    zt_cluster_start (2, NULL);
    zpar_client_t *client = s_connect ();
    char *a = s_submit (client, "0", "echo", "[\"a\"]", NULL);
    char *b = s_submit (client, "1", "echo", "[\"b\"]", NULL);
    char *c = s_submit (client, "1", "echo", "[\"c\"]", NULL);
    json_decref (s_await (client, "{\"status\": \"completed\"}", 3));

    //  By msg_id; unknown ones and pending ones are refused, whole.
    json_t *ids = json_pack ("[s]", a);
    cr_assert_eq (zpar_client_purge (client, ids, -1), 1);
    json_decref (ids);
    //  A msg_id named twice is one record, purged once.
    pid_t hub = zt_pid_of ("hub");
    ids = json_pack ("[s, s]", c, c);
    cr_assert_eq (zpar_client_purge (client, ids, -1), 1, "%s", zpar_last_error ());
    cr_assert_eq (zt_pid_of ("hub"), hub);
    cr_assert (zt_pid_alive (hub));
    json_decref (ids);
    ids = json_pack ("[s, s]", b, "no-such-task");
    cr_assert_eq (zpar_client_purge (client, ids, -1), -1);
    cr_assert (strstr (zpar_last_error (), "KeyError: no record of task no-such-task"), "%s", zpar_last_error ());
    json_decref (ids);
    json_decref (s_await (client, "{\"status\": \"completed\"}", 1));

    //  Resubmitted: a new task, same function and arguments.
    ids = json_pack ("[s]", b);
    json_t *resubmitted = zpar_client_resubmit (client, ids);
    cr_assert_not_null (resubmitted, "%s", zpar_last_error ());
    const char *new_id = json_string_value (json_object_get (resubmitted, b));
    cr_assert (new_id && !streq (new_id, b));
    json_t *again = json_pack ("[s]", new_id);
    json_t *answers = zpar_client_fetch (client, again, 10000);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (answers, 0), "value")), "b");
    json_decref (answers);
    json_decref (again);
    char *query = s_query_ids (b, NULL);
    json_t *records = s_db (client, query, "[\"resubmitted\"]");
    cr_assert_str_eq (s_field (json_array_get (records, 0), "resubmitted"), new_id);
    json_decref (records);
    free (query);
    json_decref (resubmitted);
    json_decref (ids);
    ids = json_pack ("[s]", "no-such-task");
    cr_assert_null (zpar_client_resubmit (client, ids));
    cr_assert (strstr (zpar_last_error (), "KeyError"), "%s", zpar_last_error ());
    json_decref (ids);

    //  A task still running is not purged.
    zpar_result_t *slow_result;
    char *slow = s_submit (client, "0", "sleep", "[8]", &slow_result);
    json_decref (s_await (client, "{\"status\": \"pending\"}", 1));
    ids = json_pack ("[s]", slow);
    cr_assert_eq (zpar_client_purge (client, ids, -1), -1);
    cr_assert (strstr (zpar_last_error (), "still pending"), "%s", zpar_last_error ());
    json_decref (ids);

    //  By engine, then all finished: the pending one stays.
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s purge --engine 1", zt_build_path ("bin/zpar"),
                           ZT_PROFILE), 0);
    cr_assert (strstr (out, " purged"), "%s", out);
    free (out);
    query = s_query_ids (b, c);
    json_decref (s_await (client, query, 0));
    free (query);
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s --json purge --all", zt_build_path ("bin/zpar"),
                           ZT_PROFILE), 0);
    free (out);
    records = s_db (client, "{}", NULL);
    cr_assert_eq (json_array_size (records), 1);
    cr_assert_str_eq (s_field (json_array_get (records, 0), "msg_id"), slow);
    json_decref (records);
    zpar_result_destroy (&slow_result);
    free (a);
    free (b);
    free (c);
    free (slow);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

Test (records, queue_counts_running_and_unassigned_tasks)
{
    zt_cluster_start (2, NULL);     //  --hwm 1: one task at a time per engine
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = zt_json ("[[2], [2], [2], [2], [2], [2]]");
    zpar_result_t *map = zpar_view_map_async (balanced, "sleep", inputs, 1);
    json_t *queue = NULL;
    for (int64_t deadline = zpar_mono_ms () + 3000; zpar_mono_ms () < deadline; zclock_sleep (20)) {
        json_decref (queue);
        queue = zpar_client_queue (client);
        cr_assert_not_null (queue, "%s", zpar_last_error ());
        json_t *engines = json_object_get (queue, "engines");
        if (json_integer_value (json_object_get (queue, "unassigned")) == 4
        &&  json_integer_value (json_object_get (json_object_get (engines, "0"), "running")) == 1
        &&  json_integer_value (json_object_get (json_object_get (engines, "1"), "running")) == 1)
            break;
    }
    char *text = json_dumps (queue, JSON_COMPACT);
    cr_assert_eq (json_integer_value (json_object_get (queue, "unassigned")), 4, "%s", text);
    json_t *engine0 = json_object_get (json_object_get (queue, "engines"), "0");
    cr_assert_eq (json_integer_value (json_object_get (engine0, "running")), 1, "%s", text);
    cr_assert_str_eq (json_string_value (json_object_get (engine0, "current")), "sleep");
    free (text);
    json_decref (queue);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s queue", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    cr_assert (strstr (out, "unassigned") && strstr (out, "sleep"), "%s", out);
    free (out);
    zpar_result_destroy (&map);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}

static char *
s_db_path (void)
{
    char *path = malloc (1024);
    snprintf (path, 1024, "%s/tasks.db", getenv ("ZPAR_DIR"));
    return path;
}

Test (records, sqlite_records_survive_a_hub_kill_and_a_cluster_restart)
{
    char *path = s_db_path (), extra [1200];
    snprintf (extra, sizeof extra, "--db sqlite:%s", path);
    zt_cluster_start (2, extra);
    zpar_client_t *client = s_connect ();
    char *ids [5];
    for (int i = 0; i < 5; i++)
        ids [i] = s_submit (client, NULL, "echo", "[\"kept\"]", NULL);
    json_decref (s_await (client, "{\"status\": \"ok\"}", 5));

    pid_t hub = zt_pid_of ("hub");
    cr_assert (hub > 0);
    kill (hub, SIGKILL);
    cr_assert (zt_wait_gone (hub, 5000));
    //  The supervisor starts a hub again, on the same file.
    cr_assert (zt_log_says ("started again", 10000), "the hub was not restarted");
    json_t *records = NULL;
    for (int64_t deadline = zpar_mono_ms () + 10000; zpar_mono_ms () < deadline; zclock_sleep (50)) {
        json_t *query = zt_json ("{\"status\": \"ok\"}");
        records = zpar_client_db (client, query, NULL, 0, false);
        json_decref (query);
        if (records && zt_pid_of ("hub") != hub)
            break;
        json_decref (records);
        records = NULL;
    }
    cr_assert_not_null (records, "the new hub did not answer: %s", zpar_last_error ());
    cr_assert_eq (json_array_size (records), 5);
    json_decref (records);
    zpar_client_destroy (&client);
    zt_cluster_stop ();

    //  A cluster started again on the same path has them all.
    zt_cluster_start (1, extra);
    client = s_connect ();
    json_t *list = json_array ();
    for (int i = 0; i < 5; i++)
        json_array_append_new (list, json_string (ids [i]));
    json_t *answers = zpar_client_fetch (client, list, 0);
    cr_assert_not_null (answers, "%s", zpar_last_error ());
    for (int i = 0; i < 5; i++) {
        cr_assert_str_eq (json_string_value (json_object_get (json_array_get (answers, i), "value")), "kept");
        free (ids [i]);
    }
    json_decref (answers);
    json_decref (list);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
    free (path);
}

//  The bytes of a file (caller frees), for "left as it was".
static char *
s_slurp (const char *path, size_t *size)
{
    FILE *file = fopen (path, "rb");
    cr_assert_not_null (file);
    char *data = malloc (1 << 20);
    *size = fread (data, 1, 1 << 20, file);
    fclose (file);
    return data;
}

static void
s_expect_refused (const char *path, const char *why)
{
    size_t before_size, after_size;
    char *before = s_slurp (path, &before_size);
    char *err = NULL;
    //  Bounded: a hub that took the file would serve until stopped.
    int rc = zt_runf (NULL, &err, "timeout 20 %s --profile %s --db sqlite:%s", zt_build_path ("bin/zpar-hub"),
                      ZT_PROFILE, path);
    cr_assert_eq (rc, 1, "%s", err);
    cr_assert (strstr (err, "refusing the task database") && strstr (err, why), "%s", err);
    char *after = s_slurp (path, &after_size);
    cr_assert (before_size == after_size && memcmp (before, after, before_size) == 0,
               "%s was changed", path);
    free (before);
    free (after);
    free (err);
}

Test (records, a_foreign_or_corrupt_sqlite_file_is_refused_and_left_alone)
{
    char *path = s_db_path ();
    sqlite3 *db;
    cr_assert_eq (sqlite3_open (path, &db), SQLITE_OK);
    cr_assert_eq (sqlite3_exec (db, "CREATE TABLE accounts (id INTEGER, balance REAL);"
                                "INSERT INTO accounts VALUES (1, 99.5);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
    s_expect_refused (path, "not a zpar task database");

    FILE *file = fopen (path, "wb");
    for (int i = 0; i < 4096; i++)
        fputc ((i * 7) % 251, file);
    fclose (file);
    s_expect_refused (path, "not a database");

    //  A zpar file with a damaged page is refused before anything is
    //  written to it.
    unlink (path);
    char spec [1100];
    snprintf (spec, sizeof spec, "sqlite:%s", path);
    char *message = NULL;
    zpar_hub_db_t *store = zpar_hub_db_open (spec, 0, 0, &message);
    cr_assert_not_null (store, "%s", message);
    zpar_hub_db_begin (store);
    for (int i = 0; i < 300; i++) {
        char id [32], text [256];
        snprintf (id, sizeof id, "task-%d", i);
        snprintf (text, sizeof text, "{\"fn\":\"echo\",\"args\":[\"%0200d\"]}", i);
        zpar_db_task_t task = { .msg_id = id, .engine_id = 0, .header = "{}", .header_size = 2,
                                .metadata = "{}", .metadata_size = 2, .content = text,
                                .content_size = strlen (text) };
        zpar_hub_db_task (store, &task);
    }
    zpar_hub_db_commit (store);
    zpar_hub_db_destroy (&store);
    char wal [1200];
    snprintf (wal, sizeof wal, "%s-wal", path);
    cr_assert (access (wal, F_OK) != 0, "the store left a WAL file behind");
    //  Every page but the first (the schema) overwritten.
    struct stat info;
    cr_assert_eq (stat (path, &info), 0);
    FILE *damage = fopen (path, "r+b");
    cr_assert_not_null (damage);
    fseek (damage, 4096, SEEK_SET);
    for (off_t i = 4096; i < info.st_size; i++)
        fputc (0xA5, damage);
    fclose (damage);
    s_expect_refused (path, "damaged");
    //  And the command line says what --db takes.
    char *err = NULL;
    cr_assert_eq (zt_runf (NULL, &err, "%s start --profile %s --db postgres:x", zt_build_path ("bin/ipcluster"),
                           ZT_PROFILE), 2);
    cr_assert (strstr (err, "--db is memory or sqlite:PATH"), "%s", err);
    free (err);
    free (path);
}

//  -- zpar top in tmux --------------------------------------------------------

typedef struct {
    char socket [64];
    pid_t server;
} s_tmux_t;

static void
s_tmux (s_tmux_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));
static void
s_tmux (s_tmux_t *self, const char *format, ...)
{
    char command [2048];
    int used = snprintf (command, sizeof command, "tmux -L %s ", self->socket);
    va_list args;
    va_start (args, format);
    vsnprintf (command + used, sizeof command - (size_t) used, format, args);
    va_end (args);
    cr_assert_eq (zt_run (command, NULL, NULL), 0, "%s", command);
}

//  What the pane shows (caller frees).
static char *
s_screen (s_tmux_t *self)
{
    char *out = NULL;
    zt_runf (&out, NULL, "tmux -L %s capture-pane -p -t top", self->socket);
    return out? out: strdup ("");
}

//  Waits until the screen holds text; returns it (caller frees).
static char *
s_screen_with (s_tmux_t *self, const char *text)
{
    for (int64_t deadline = zpar_mono_ms () + 10000; ; zclock_sleep (50)) {
        char *screen = s_screen (self);
        if (strstr (screen, text))
            return screen;
        cr_assert (zpar_mono_ms () < deadline, "the screen never showed '%s':\n%s", text, screen);
        free (screen);
    }
}

//  The sum of the COMPLETED column of the engine rows on screen.
static long
s_completed (const char *screen)
{
    long sum = 0;
    const char *line = strstr (screen, "\nID ");
    while (line && (line = strchr (line + 1, '\n')) && line [1] >= '0' && line [1] <= '9') {
        char id [16], host [64], pid [16], state [32], fn [64];
        long completed;
        if (sscanf (line + 1, "%15s %63s %15s %31s %63s %ld", id, host, pid, state, fn, &completed) == 6)
            sum += completed;
    }
    return sum;
}

Test (records, zpar_top_in_a_terminal)
{
    zt_cluster_start (2, NULL);
    s_tmux_t tmux;
    snprintf (tmux.socket, sizeof tmux.socket, "zpar-test-%d", (int) getpid ());
    //  The pane says how zpar top ended in a file: tmux may see the
    //  terminal close before it learns the exit status.
    char status_path [1100];
    snprintf (status_path, sizeof status_path, "%s/top.status", getenv ("ZPAR_DIR"));
    char command [4096];
    snprintf (command, sizeof command, "'ZPAR_DIR=%s %s --profile %s top --interval 200;"
              " echo $? > %s.part && mv %s.part %s'", getenv ("ZPAR_DIR"), zt_build_path ("bin/zpar"),
              ZT_PROFILE, status_path, status_path, status_path);
    s_tmux (&tmux, "new-session -d -s top -x 140 -y 30 %s", command);
    char *out = NULL;
    cr_assert_eq (zt_runf (&out, NULL, "tmux -L %s display -p '#{pid}'", tmux.socket), 0);
    tmux.server = (pid_t) atoi (out);
    free (out);
    zt_track_pid (tmux.server);
    s_tmux (&tmux, "set-option -t top remain-on-exit on");

    char *screen = s_screen_with (&tmux, "COMPLETED");
    free (screen);
    screen = s_screen_with (&tmux, "\n1     ");
    cr_assert (strstr (screen, "\n0     ") && strstr (screen, "idle"), "%s", screen);
    long before = s_completed (screen);
    free (screen);

    //  While tasks run, the count moves.
    zpar_client_t *client = s_connect ();
    zpar_view_t *balanced = zpar_client_balanced (client);
    json_t *inputs = json_array ();
    for (int i = 0; i < 60; i++)
        json_array_append_new (inputs, json_pack ("[f]", 0.1));
    zpar_result_t *map = zpar_view_map_async (balanced, "sleep", inputs, 1);
    long seen = before, changes = 0;
    for (int64_t deadline = zpar_mono_ms () + 10000; changes < 2 && zpar_mono_ms () < deadline;
         zclock_sleep (50)) {
        screen = s_screen (&tmux);
        long now = s_completed (screen);
        if (now > seen) {
            changes++;
            seen = now;
        }
        free (screen);
    }
    cr_assert (changes >= 2, "the completed count did not move while tasks ran (%ld)", seen);
    cr_assert_eq (zpar_result_wait (map, 10000), 0);

    //  Sorting and a resize redraw; q quits and gives the terminal back.
    s_tmux (&tmux, "send-keys -t top c");
    free (s_screen_with (&tmux, "sorted by completed"));
    //  A window too small for the table keeps the title on top.
    s_tmux (&tmux, "resize-window -t top -x 70 -y 8");
    for (int64_t deadline = zpar_mono_ms () + 5000; ; zclock_sleep (50)) {
        screen = s_screen (&tmux);
        bool small = strstr (screen, "more engines") != NULL;
        if (small)
            cr_assert (strncmp (screen, "zpar top", 8) == 0, "the title scrolled away:\n%s", screen);
        free (screen);
        if (small)
            break;
        cr_assert (zpar_mono_ms () < deadline, "no redraw for the small window");
    }
    s_tmux (&tmux, "resize-window -t top -x 100 -y 20");
    free (s_screen_with (&tmux, "sorted by"));
    //  q, then Ctrl-C in a new run: each ends it with status 0 and gives
    //  the terminal back (the alternate screen is left).
    const char *quits [] = { "q", "C-c", "'C-\\'" };
    for (int way = 0; way < 3; way++) {
        if (way) {
            unlink (status_path);
            s_tmux (&tmux, "respawn-pane -k -t top %s", command);
            free (s_screen_with (&tmux, "sorted by"));
        }
        s_tmux (&tmux, "send-keys -t top %s", quits [way]);
        for (int64_t deadline = zpar_mono_ms () + 5000; ; zclock_sleep (50)) {
            FILE *file = fopen (status_path, "r");
            int status = -1;
            if (file) {
                cr_assert_eq (fscanf (file, "%d", &status), 1);
                fclose (file);
                cr_assert_eq (status, 0, "zpar top ended with status %d on %s", status, quits [way]);
                break;
            }
            screen = s_screen (&tmux);
            cr_assert (zpar_mono_ms () < deadline, "zpar top did not end on %s:\n%s", quits [way], screen);
            free (screen);
        }
        screen = s_screen (&tmux);
        cr_assert_null (strstr (screen, "zpar top"), "the alternate screen was not left:\n%s", screen);
        free (screen);
    }
    kill (tmux.server, SIGTERM);
    cr_assert (zt_wait_gone (tmux.server, 5000));

    //  Not a terminal: one snapshot.
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s top | cat", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    cr_assert (strstr (out, "COMPLETED") && strstr (out, "\n1 "), "%s", out);
    cr_assert_null (strstr (out, "\033["), "escape codes in a snapshot");
    free (out);
    cr_assert_eq (zt_runf (&out, NULL, "%s --profile %s --json top", zt_build_path ("bin/zpar"), ZT_PROFILE), 0);
    json_t *snapshot = zt_json (out);
    cr_assert_eq (json_array_size (json_object_get (snapshot, "engines")), 2, "%s", out);
    cr_assert_not_null (json_object_get (json_object_get (snapshot, "queue"), "unassigned"), "%s", out);
    json_decref (snapshot);
    free (out);
    zpar_result_destroy (&map);
    json_decref (inputs);
    zpar_view_destroy (&balanced);
    zpar_client_destroy (&client);
    zt_cluster_stop ();
}
