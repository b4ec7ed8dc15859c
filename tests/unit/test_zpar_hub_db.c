/*  The task stores on their own: the same events into the memory store
    and into an SQLite file give the same records; culling, cut output,
    cut results, queries and a reopened file.                           */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "zpar_hub_db.h"
#include "zpar_test.h"

TestSuite (hub_db, .init = (void (*) (void)) zt_fresh_dir, .fini = zt_cleanup);

static zpar_hub_db_t *
s_open (const char *spec, size_t max_records)
{
    char *error = NULL;
    zpar_hub_db_t *db = zpar_hub_db_open (spec, max_records, 0, &error);
    cr_assert_not_null (db, "%s", error);
    return db;
}

static void
s_task (zpar_hub_db_t *db, const char *msg_id, int engine, const char *fn, const char *date)
{
    char header [256], content [128];
    snprintf (header, sizeof header, "{\"msg_id\":\"%s\",\"date\":\"%s\"}", msg_id, date);
    snprintf (content, sizeof content, "{\"fn\":\"%s\",\"args\":[1],\"kwargs\":{}}", fn);
    zpar_db_task_t task = {
        .msg_id = msg_id, .client = "client-1", .engine_uuid = "uuid", .fn = fn, .submitted = date,
        .engine_id = engine, .header = header, .header_size = strlen (header),
        .metadata = "{}", .metadata_size = 2, .content = content, .content_size = strlen (content)
    };
    zpar_hub_db_task (db, &task);
}

static void
s_answer (zpar_hub_db_t *db, const char *msg_id, const char *status, bool keep_content)
{
    char metadata [256];
    snprintf (metadata, sizeof metadata, "{\"status\":\"%s\",\"started\":\"2026-11-26T10:00:01.000000Z\","
              "\"completed\":\"2026-11-26T10:00:02.000000Z\"}", status);
    const char *content = "{\"status\":\"ok\",\"result\":42}";
    zpar_hub_db_answer (db, msg_id, "uuid", 0, metadata, strlen (metadata),
                        content, keep_content? strlen (content): 0);
}

static json_t *
s_find (zpar_hub_db_t *db, const char *query_text)
{
    json_t *object = zt_json (query_text);
    zpar_db_query_t query;
    char error [256];
    cr_assert_eq (zpar_hub_db_parse_query (object, &query, error, sizeof error), 0, "%s", error);
    zpar_db_page_t page = { .limit = 1000 };
    json_t *found = zpar_hub_db_find (db, &query, NULL, &page);
    cr_assert_eq (page.total, json_array_size (found));
    json_decref (object);
    return found;
}

static void
s_same_behaviour (const char *spec)
{
    zpar_hub_db_t *db = s_open (spec, 0);
    s_task (db, "a", 0, "echo", "2026-11-26T10:00:00.000000Z");
    s_task (db, "b", 1, "sleep", "2026-11-26T11:00:00.000000Z");
    s_task (db, "c", 1, "echo", "2026-11-26T12:00:00.000000Z");
    s_answer (db, "a", "ok", true);
    s_answer (db, "b", "error", false);
    //  Output over the bound is cut, with a marker.
    char *big = malloc (ZPAR_DB_OUTPUT_MAX + 100);
    memset (big, 'x', ZPAR_DB_OUTPUT_MAX + 99);
    big [ZPAR_DB_OUTPUT_MAX + 99] = 0;
    zpar_hub_db_output (db, "c", "stdout", "hello ");
    zpar_hub_db_output (db, "c", "stdout", big);
    zpar_hub_db_output (db, "c", "stderr", "oops");
    free (big);

    json_t *found = s_find (db, "{\"status\": \"completed\"}");
    cr_assert_eq (json_array_size (found), 2);
    json_t *a = json_array_get (found, 0), *b = json_array_get (found, 1);
    cr_assert_str_eq (json_string_value (json_object_get (a, "msg_id")), "a");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (a, "result"), "result")), 42);
    cr_assert (json_is_false (json_object_get (a, "result_cut")));
    cr_assert_str_eq (json_string_value (json_object_get (a, "completed")), "2026-11-26T10:00:02.000000Z");
    cr_assert_str_eq (json_string_value (json_object_get (b, "status")), "error");
    cr_assert (json_is_null (json_object_get (b, "result")) && json_is_true (json_object_get (b, "result_cut")));
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (json_object_get (a, "request"),
                                                           "content"), "fn")), "echo");
    json_decref (found);

    found = s_find (db, "{\"status\": \"pending\"}");
    cr_assert_eq (json_array_size (found), 1);
    json_t *c = json_array_get (found, 0);
    const char *out = json_string_value (json_object_get (c, "stdout"));
    cr_assert_eq (strlen (out), ZPAR_DB_OUTPUT_MAX);
    cr_assert (strncmp (out, "hello x", 7) == 0);
    cr_assert (json_is_true (json_object_get (c, "stdout_cut")));
    cr_assert_str_eq (json_string_value (json_object_get (c, "stderr")), "oops");
    cr_assert (json_is_false (json_object_get (c, "stderr_cut")));
    json_decref (found);

    found = s_find (db, "{\"engine\": 1, \"fn\": \"echo\"}");
    cr_assert_eq (json_array_size (found), 1);
    json_decref (found);
    found = s_find (db, "{\"since\": \"2026-11-26T10:30:00.000000Z\", \"until\": \"2026-11-26T11:30:00.000000Z\"}");
    cr_assert_eq (json_array_size (found), 1);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (found, 0), "msg_id")), "b");
    json_decref (found);

    json_t *result = zpar_hub_db_result (db, "a");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "ok");
    json_decref (result);
    result = zpar_hub_db_result (db, "c");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "pending");
    json_decref (result);
    result = zpar_hub_db_result (db, "zzz");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "unknown");
    json_decref (result);

    //  Purge leaves pending records; a lost scheduler fails them.
    zpar_db_query_t all = { 0 };
    cr_assert_eq (zpar_hub_db_purge (db, &all), 2);
    cr_assert_eq (zpar_hub_db_count (db), 1);
    cr_assert_eq (zpar_hub_db_fail_pending (db, "{\"status\":\"error\",\"ename\":\"SchedulerError\"}"), 1);
    cr_assert_eq (zpar_hub_db_pending (db), 0);
    zpar_hub_db_destroy (&db);
}

Test (hub_db, memory_and_sqlite_stores_keep_the_same_records)
{
    s_same_behaviour ("memory");
    char spec [1100];
    snprintf (spec, sizeof spec, "sqlite:%s/tasks.db", getenv ("ZPAR_DIR"));
    s_same_behaviour (spec);
}

Test (hub_db, memory_store_culls_the_oldest_finished_never_pending)
{
    zpar_hub_db_t *db = s_open ("memory", 5);
    s_task (db, "pending-1", 0, "sleep", "2026-11-26T10:00:00.000000Z");
    for (int i = 0; i < 20; i++) {
        char id [32];
        snprintf (id, sizeof id, "done-%02d", i);
        s_task (db, id, 1, "echo", "2026-11-26T10:00:01.000000Z");
        s_answer (db, id, "ok", true);
    }
    cr_assert_eq (zpar_hub_db_count (db), 5);
    json_t *found = s_find (db, "{}");
    const char *expect [] = { "pending-1", "done-16", "done-17", "done-18", "done-19" };
    for (int i = 0; i < 5; i++)
        cr_assert_str_eq (json_string_value (json_object_get (json_array_get (found, (size_t) i), "msg_id")),
                          expect [i]);
    json_decref (found);
    zpar_hub_db_destroy (&db);
}

Test (hub_db, a_reopened_file_has_every_record_and_pending_ones_are_unknown)
{
    char spec [1100];
    snprintf (spec, sizeof spec, "sqlite:%s/tasks.db", getenv ("ZPAR_DIR"));
    zpar_hub_db_t *db = s_open (spec, 0);
    zpar_hub_db_begin (db);
    s_task (db, "kept", 0, "echo", "2026-11-26T10:00:00.000000Z");
    s_answer (db, "kept", "ok", true);
    s_task (db, "in-flight", 0, "sleep", "2026-11-26T10:00:00.000000Z");
    zpar_hub_db_commit (db);
    zpar_hub_db_destroy (&db);
    db = s_open (spec, 0);
    json_t *result = zpar_hub_db_result (db, "kept");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "ok");
    json_decref (result);
    result = zpar_hub_db_result (db, "in-flight");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "unknown");
    json_decref (result);
    //  Its answer, if it comes after all, completes it.
    s_answer (db, "in-flight", "ok", true);
    result = zpar_hub_db_result (db, "in-flight");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "ok");
    json_decref (result);
    zpar_hub_db_destroy (&db);
}

Test (hub_db, bad_queries_and_specs_are_named)
{
    const char *bad [][2] = {
        { "{\"colour\": 1}", "unknown query key 'colour'" },
        { "{\"engine\": -1}", "query key 'engine'" },
        { "{\"status\": \"maybe\"}", "query key 'status'" },
        { "{\"since\": \"noon\"}", "query key 'since'" },
        { "{\"msg_ids\": [1]}", "query key 'msg_ids'" },
        { "[1]", "query must be an object" }
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *object = zt_json (bad [i][0]);
        zpar_db_query_t query;
        char error [256] = "";
        cr_assert_eq (zpar_hub_db_parse_query (object, &query, error, sizeof error), -1, "%s", bad [i][0]);
        cr_assert (strstr (error, bad [i][1]), "%s: %s", bad [i][0], error);
        json_decref (object);
    }
    json_t *keys = zt_json ("[\"msg_id\", \"nope\"]");
    char error [256] = "";
    cr_assert_eq (zpar_hub_db_check_keys (keys, error, sizeof error), -1);
    cr_assert (strstr (error, "unknown record key 'nope'"), "%s", error);
    json_decref (keys);
    char *message = NULL;
    cr_assert_null (zpar_hub_db_open ("postgres:x", 0, 0, &message));
    cr_assert (strstr (message, "unknown --db"), "%s", message);
    free (message);
    cr_assert_null (zpar_hub_db_open ("sqlite:", 0, 0, &message));
    cr_assert (strstr (message, "needs a PATH"), "%s", message);
    free (message);
}

static void
s_lifecycle (const char *spec)
{
    zpar_hub_db_t *db = s_open (spec, 0);
    //  Output first: a record, not pending until its request is seen.
    zpar_hub_db_output (db, "early", "stdout", "hi");
    cr_assert_eq (zpar_hub_db_pending (db), 0);
    s_task (db, "early", 2, "echo", "2026-11-26T10:00:00.000000Z");
    cr_assert_eq (zpar_hub_db_pending (db), 1);
    //  Its engine left: unknown, until an answer comes after all.
    zpar_hub_db_engine_gone (db, 2);
    cr_assert_eq (zpar_hub_db_pending (db), 0);
    json_t *result = zpar_hub_db_result (db, "early");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "unknown");
    json_decref (result);
    s_answer (db, "early", "ok", true);
    result = zpar_hub_db_result (db, "early");
    cr_assert_str_eq (json_string_value (json_object_get (result, "status")), "ok");
    json_decref (result);
    //  Pages: after a seq, the newest few, within a byte budget.
    for (int i = 0; i < 9; i++) {
        char id [32];
        snprintf (id, sizeof id, "t%d", i);
        s_task (db, id, 0, "echo", "2026-11-26T11:00:00.000000Z");
    }
    zpar_db_query_t all = { 0 };
    zpar_db_page_t page = { .limit = 4 };
    json_t *found = zpar_hub_db_find (db, &all, NULL, &page);
    cr_assert_eq (page.returned, 4);
    cr_assert_eq (page.total, 10);
    all.by_after = true;
    all.after = page.last_seq;
    json_decref (found);
    page = (zpar_db_page_t) { .limit = 100 };
    found = zpar_hub_db_find (db, &all, NULL, &page);
    cr_assert_eq (page.returned, 6);
    cr_assert_str_eq (json_string_value (json_object_get (json_array_get (found, 0), "msg_id")), "t3");
    json_decref (found);
    all.by_after = false;
    page = (zpar_db_page_t) { .limit = 100, .budget = 1 };
    found = zpar_hub_db_find (db, &all, NULL, &page);
    cr_assert_eq (page.returned, 1, "one record at least, none past the budget");
    json_decref (found);
    zpar_hub_db_destroy (&db);
}

Test (hub_db, records_made_by_output_or_left_by_their_engine_are_not_pending)
{
    s_lifecycle ("memory");
    char spec [1100];
    snprintf (spec, sizeof spec, "sqlite:%s/tasks.db", getenv ("ZPAR_DIR"));
    s_lifecycle (spec);
}

//  A second copy of a request (a retry on another engine) or of an answer
//  replaces what it says and keeps what it leaves out; the store's byte
//  count follows the texts it holds.
Test (hub_db, a_second_copy_keeps_what_it_leaves_out)
{
    zpar_hub_db_t *db = s_open ("memory", 0);
    s_task (db, "a", 0, "echo", "2026-11-26T10:00:00.000000Z");
    s_answer (db, "a", "error", true);
    size_t bytes = zpar_hub_db_bytes (db);
    const char *header = "{\"msg_id\":\"a\",\"date\":\"2026-11-26T10:00:03.000000Z\",\"retry\":1}";
    zpar_db_task_t again = {
        .msg_id = "a", .engine_id = 1, .header = header, .header_size = strlen (header),
        .metadata = "{}", .metadata_size = 2
    };
    zpar_hub_db_task (db, &again);
    cr_assert_lt (zpar_hub_db_bytes (db), bytes, "the request's content is gone");
    const char *metadata = "{\"status\":\"ok\"}";
    zpar_hub_db_answer (db, "a", NULL, 1, metadata, strlen (metadata), "{\"status\":\"ok\",\"result\":7}", 27);
    json_t *record = zpar_hub_db_record (db, "a");
    cr_assert_not_null (record);
    cr_assert_str_eq (json_string_value (json_object_get (record, "client")), "client-1");
    cr_assert_str_eq (json_string_value (json_object_get (record, "fn")), "echo");
    cr_assert_str_eq (json_string_value (json_object_get (record, "submitted")), "2026-11-26T10:00:00.000000Z");
    cr_assert_str_eq (json_string_value (json_object_get (record, "started")), "2026-11-26T10:00:01.000000Z");
    cr_assert_eq (json_integer_value (json_object_get (record, "engine_id")), 1);
    cr_assert_str_eq (json_string_value (json_object_get (record, "status")), "ok");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (record, "result"), "result")), 7);
    json_t *request = json_object_get (record, "request");
    cr_assert_eq (json_integer_value (json_object_get (json_object_get (request, "header"), "retry")), 1);
    cr_assert (json_is_null (json_object_get (request, "content")) || !json_object_get (request, "content"));
    json_decref (record);
    //  An answered record stays answered when its request comes again; a
    //  pending one failed by a lost scheduler takes the error given.
    s_task (db, "b", 0, "sleep", "2026-11-26T10:00:04.000000Z");
    s_answer (db, "b", "ok", true);
    s_task (db, "b", 1, "sleep", "2026-11-26T10:00:05.000000Z");
    cr_assert_eq (zpar_hub_db_pending (db), 0, "an answered record stays answered");
    s_task (db, "c", 0, "sleep", "2026-11-26T10:00:06.000000Z");
    cr_assert_eq (zpar_hub_db_fail_pending (db, "{\"status\":\"error\",\"ename\":\"SchedulerError\"}"), 1);
    record = zpar_hub_db_record (db, "c");
    cr_assert_str_eq (json_string_value (json_object_get (json_object_get (record, "result"), "ename")),
                      "SchedulerError");
    cr_assert_str_eq (json_string_value (json_object_get (record, "status")), "error");
    json_decref (record);
    zpar_hub_db_destroy (&db);
    cr_assert_null (db);
}
