/*  zpar_hub_db_sqlite.c - task records in an SQLite file (WAL mode), so
    that they outlive the hub: a kill -9, a restart, ipcluster stop and
    start on the same path. The file says it is ours (application_id) and
    which schema it holds (user_version); any other file is refused.    */

#include "zpar_hub_db_int.h"

#include "zpar_log.h"
#include "zpar_util.h"

#include <czmq.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_APPLICATION_ID 0x7A706172     //  "zpar"
#define S_SCHEMA_VERSION 1

//  Columns in the order s_row reads them.
#define S_COLUMNS "msg_id, client, engine_uuid, fn, submitted, started, completed, status, " \
                  "engine_id, req_header, req_metadata, req_content, metadata, result, " \
                  "result_cut, stdout, stderr, stdout_cut, stderr_cut, resubmitted"

static const char s_schema [] =
    "CREATE TABLE tasks ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  msg_id TEXT NOT NULL UNIQUE,"
    "  client TEXT, engine_uuid TEXT, fn TEXT,"
    "  submitted TEXT, started TEXT, completed TEXT,"
    "  status TEXT NOT NULL DEFAULT 'pending',"
    "  engine_id INTEGER NOT NULL DEFAULT -1,"
    "  req_header TEXT, req_metadata TEXT, req_content TEXT,"
    "  metadata TEXT, result TEXT, result_cut INTEGER NOT NULL DEFAULT 0,"
    "  stdout TEXT, stderr TEXT,"
    "  stdout_cut INTEGER NOT NULL DEFAULT 0, stderr_cut INTEGER NOT NULL DEFAULT 0,"
    "  resubmitted TEXT);"
    "CREATE INDEX tasks_status ON tasks (status);"
    "CREATE INDEX tasks_engine ON tasks (engine_id);";

enum { S_TASK, S_ANSWER, S_ANSWER_NEW, S_OUT, S_ERR, S_OUT_NEW, S_ERR_NEW, S_RESULT,
       S_RESUBMITTED, S_FAIL_PENDING, S_ENGINE_GONE, S_COUNT, S_COUNT_PENDING, S_STATEMENTS };

static const char *s_sql [S_STATEMENTS] = {
    [S_TASK] =
        "INSERT INTO tasks (msg_id, client, engine_uuid, fn, submitted, engine_id,"
        " req_header, req_metadata, req_content) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        " ON CONFLICT (msg_id) DO UPDATE SET client = coalesce (?2, client),"
        " engine_uuid = coalesce (?3, engine_uuid), fn = coalesce (?4, fn),"
        " submitted = coalesce (?5, submitted),"
        " engine_id = CASE WHEN ?6 >= 0 THEN ?6 ELSE engine_id END,"
        " req_header = ?7, req_metadata = ?8, req_content = ?9,"
        " status = CASE WHEN metadata IS NULL THEN 'pending' ELSE status END",
    [S_ANSWER] =
        "UPDATE tasks SET engine_uuid = coalesce (?2, engine_uuid),"
        " engine_id = CASE WHEN ?3 >= 0 THEN ?3 ELSE engine_id END, status = ?4,"
        " started = coalesce (?5, started), completed = coalesce (?6, completed),"
        " metadata = ?7, result = ?8, result_cut = ?9"
        " WHERE msg_id = ?1",
    [S_ANSWER_NEW] =
        "INSERT INTO tasks (msg_id, engine_uuid, engine_id, status, started, completed,"
        " metadata, result, result_cut) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_OUT] =
        "UPDATE tasks SET stdout = CASE WHEN stdout_cut THEN stdout"
        " ELSE substr (coalesce (stdout, '') || ?2, 1, ?3) END,"
        " stdout_cut = stdout_cut OR length (coalesce (stdout, '') || ?2) > ?3 WHERE msg_id = ?1",
    [S_ERR] =
        "UPDATE tasks SET stderr = CASE WHEN stderr_cut THEN stderr"
        " ELSE substr (coalesce (stderr, '') || ?2, 1, ?3) END,"
        " stderr_cut = stderr_cut OR length (coalesce (stderr, '') || ?2) > ?3 WHERE msg_id = ?1",
    [S_OUT_NEW] =
        "INSERT INTO tasks (msg_id, status, stdout, stdout_cut)"
        " VALUES (?1, 'unknown', substr (?2, 1, ?3), length (?2) > ?3)",
    [S_ERR_NEW] =
        "INSERT INTO tasks (msg_id, status, stderr, stderr_cut)"
        " VALUES (?1, 'unknown', substr (?2, 1, ?3), length (?2) > ?3)",
    [S_RESULT] = "SELECT status, metadata, result FROM tasks WHERE msg_id = ?1",
    [S_RESUBMITTED] = "UPDATE tasks SET resubmitted = ?2 WHERE msg_id = ?1",
    [S_FAIL_PENDING] =
        "UPDATE tasks SET status = 'error', metadata = '{\"status\": \"error\"}', result = ?1"
        " WHERE status = 'pending'",
    [S_ENGINE_GONE] = "UPDATE tasks SET status = 'unknown' WHERE status = 'pending' AND engine_id = ?1",
    [S_COUNT] = "SELECT count(*) FROM tasks",
    [S_COUNT_PENDING] = "SELECT count(*) FROM tasks WHERE status = 'pending'"
};

struct _zpar_db_sqlite_t {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *statements [S_STATEMENTS];
    bool in_transaction;
    int64_t errors;             //  failed writes (logged, first few)
    size_t count;               //  records, as counted last
    int64_t counted_ms;         //  when (counting scans an index: once a second)
};

static char *
s_error_text (const char *format, const char *path, const char *why)
{
    char text [1024];
    snprintf (text, sizeof text, format, path, why);
    return strdup (text);
}

static int
s_integer (sqlite3 *db, const char *sql, int64_t *value)
{
    sqlite3_stmt *statement;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &statement, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step (statement);
        *value = rc == SQLITE_ROW? sqlite3_column_int64 (statement, 0): 0;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE? SQLITE_OK: rc;
    }
    sqlite3_finalize (statement);
    return rc;
}

//  The file's schema: 0 new and empty, 1 ours, -1 not ours (*why says).
static int
s_whose (sqlite3 *db, char *why, size_t size)
{
    int64_t application_id, version, tables;
    int rc = s_integer (db, "PRAGMA application_id", &application_id);
    if (rc == SQLITE_OK)
        rc = s_integer (db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = s_integer (db, "SELECT count(*) FROM sqlite_master", &tables);
    int64_t others = 0, bad = 0;
    if (rc == SQLITE_OK)
        rc = s_integer (db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
                            " AND name NOT IN ('tasks', 'sqlite_sequence')", &others);
    //  Every page read, before anything is written: a damaged file stays
    //  as it was.
    if (rc == SQLITE_OK && tables) {
        sqlite3_stmt *check;
        rc = sqlite3_prepare_v2 (db, "PRAGMA quick_check", -1, &check, NULL);
        while (rc == SQLITE_OK && sqlite3_step (check) == SQLITE_ROW) {
            const char *line = (const char *) sqlite3_column_text (check, 0);
            if (line && strcmp (line, "ok") != 0 && !bad++)
                snprintf (why, size, "it is damaged: %s", line);
        }
        sqlite3_finalize (check);
    }
    if (rc != SQLITE_OK) {
        snprintf (why, size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    if (bad)
        return -1;
    if (application_id == 0 && version == 0 && tables == 0)
        return 0;
    if (application_id != S_APPLICATION_ID) {
        snprintf (why, size, "it is not a zpar task database (application_id %lld, %lld tables)",
                  (long long) application_id, (long long) tables);
        return -1;
    }
    if (version != S_SCHEMA_VERSION) {
        snprintf (why, size, "its schema is version %lld; this hub reads version %d",
                  (long long) version, S_SCHEMA_VERSION);
        return -1;
    }
    if (others) {
        snprintf (why, size, "it holds %lld tables other than zpar's", (long long) others);
        return -1;
    }
    return 1;
}

zpar_db_sqlite_t *
zpar_db_sqlite_open (const char *path, char **error)
{
    zpar_db_sqlite_t *self = calloc (1, sizeof *self);
    self->path = strdup (path);
    char why [512];
    int rc = sqlite3_open_v2 (path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        *error = s_error_text ("cannot open the task database %s: %s", path,
                               self->db? sqlite3_errmsg (self->db): sqlite3_errstr (rc));
        goto fail;
    }
    //  Another program reading the file may hold it for a moment; the hub
    //  must not wait long (heartbeats wait behind it).
    sqlite3_busy_timeout (self->db, 100);
    int whose = s_whose (self->db, why, sizeof why);
    if (whose < 0) {
        *error = s_error_text ("refusing the task database %s, left as it is: %s", path, why);
        goto fail;
    }
    //  WAL: a committed batch survives the hub being killed, and readers
    //  (another tool) do not block it. NORMAL sync: durable across process
    //  deaths, which is what a hub restart needs.
    char *message = NULL;
    rc = sqlite3_exec (self->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;",
                       NULL, NULL, &message);
    if (rc == SQLITE_OK && whose == 0) {
        char sql [2048];
        snprintf (sql, sizeof sql, "BEGIN; %s PRAGMA application_id = %d; PRAGMA user_version = %d;"
                  " COMMIT;", s_schema, S_APPLICATION_ID, S_SCHEMA_VERSION);
        sqlite3_free (message);
        message = NULL;
        rc = sqlite3_exec (self->db, sql, NULL, NULL, &message);
    }
    //  Answers that came while no hub was there went to their clients
    //  unrecorded: such a task is no longer pending for anyone.
    if (rc == SQLITE_OK && whose == 1) {
        sqlite3_free (message);
        message = NULL;
        rc = sqlite3_exec (self->db, "UPDATE tasks SET status = 'unknown' WHERE status = 'pending'",
                           NULL, NULL, &message);
    }
    if (rc != SQLITE_OK) {
        *error = s_error_text ("cannot use the task database %s: %s", path,
                               message? message: sqlite3_errstr (rc));
        sqlite3_free (message);
        goto fail;
    }
    for (int i = 0; i < S_STATEMENTS; i++)
        if (sqlite3_prepare_v3 (self->db, s_sql [i], -1, SQLITE_PREPARE_PERSISTENT,
                                &self->statements [i], NULL) != SQLITE_OK) {
            *error = s_error_text ("cannot use the task database %s: %s", path, sqlite3_errmsg (self->db));
            goto fail;
        }
    return self;
fail:
    zpar_db_sqlite_close (&self);
    return NULL;
}

void
zpar_db_sqlite_close (zpar_db_sqlite_t **self_p)
{
    zpar_db_sqlite_t *self = *self_p;
    if (!self)
        return;
    zpar_db_sqlite_commit (self);
    for (int i = 0; i < S_STATEMENTS; i++)
        sqlite3_finalize (self->statements [i]);
    sqlite3_close (self->db);
    free (self->path);
    free (self);
    *self_p = NULL;
}

static void
s_failed (zpar_db_sqlite_t *self, const char *what)
{
    if (self->errors++ < 10)
        zpar_error ("task database %s: %s failed: %s", self->path, what, sqlite3_errmsg (self->db));
}

static void
s_exec (zpar_db_sqlite_t *self, const char *sql)
{
    if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        s_failed (self, sql);
}

void
zpar_db_sqlite_begin (zpar_db_sqlite_t *self)
{
    if (!self->in_transaction) {
        s_exec (self, "BEGIN");
        self->in_transaction = true;
    }
}

void
zpar_db_sqlite_commit (zpar_db_sqlite_t *self)
{
    if (self->in_transaction) {
        s_exec (self, "COMMIT");
        self->in_transaction = false;
    }
}

//  Binds text of size bytes (NULL: SQL null; size SIZE_MAX: a string).
static void
s_text (sqlite3_stmt *statement, int index, const void *text, size_t size)
{
    if (!text)
        sqlite3_bind_null (statement, index);
    else
        sqlite3_bind_text64 (statement, index, text, size == SIZE_MAX? strlen (text): size,
                             SQLITE_TRANSIENT, SQLITE_UTF8);
}

//  Runs a bound statement; returns the rows it changed.
static int
s_run (zpar_db_sqlite_t *self, sqlite3_stmt *statement, const char *what)
{
    int rc = sqlite3_step (statement);
    int changed = rc == SQLITE_DONE? sqlite3_changes (self->db): 0;
    if (rc != SQLITE_DONE)
        s_failed (self, what);
    sqlite3_reset (statement);
    sqlite3_clear_bindings (statement);
    return changed;
}

void
zpar_db_sqlite_task (zpar_db_sqlite_t *self, const zpar_db_task_t *task)
{
    sqlite3_stmt *s = self->statements [S_TASK];
    s_text (s, 1, task->msg_id, SIZE_MAX);
    s_text (s, 2, task->client, SIZE_MAX);
    s_text (s, 3, task->engine_uuid, SIZE_MAX);
    s_text (s, 4, task->fn, SIZE_MAX);
    s_text (s, 5, task->submitted, SIZE_MAX);
    sqlite3_bind_int (s, 6, task->engine_id);
    s_text (s, 7, task->header, task->header_size);
    s_text (s, 8, task->metadata, task->metadata_size);
    s_text (s, 9, task->content_size? task->content: NULL, task->content_size);
    s_run (self, s, "recording a task");
}

void
zpar_db_sqlite_answer (zpar_db_sqlite_t *self, const char *msg_id, const char *engine_uuid,
                       int engine_id, const char *status, const char *started,
                       const char *completed, const void *metadata, size_t metadata_size,
                       const void *content, size_t content_size)
{
    for (int which = S_ANSWER; which <= S_ANSWER_NEW; which++) {
        sqlite3_stmt *s = self->statements [which];
        s_text (s, 1, msg_id, SIZE_MAX);
        s_text (s, 2, engine_uuid && *engine_uuid? engine_uuid: NULL, SIZE_MAX);
        sqlite3_bind_int (s, 3, engine_id);
        s_text (s, 4, status, SIZE_MAX);
        s_text (s, 5, started, SIZE_MAX);
        s_text (s, 6, completed, SIZE_MAX);
        s_text (s, 7, metadata, metadata_size);
        s_text (s, 8, content_size? content: NULL, content_size);
        sqlite3_bind_int (s, 9, content_size == 0);
        if (s_run (self, s, "recording an answer"))
            break;
    }
}

void
zpar_db_sqlite_output (zpar_db_sqlite_t *self, const char *msg_id, bool is_stderr, const char *text)
{
    int first = is_stderr? S_ERR: S_OUT, second = is_stderr? S_ERR_NEW: S_OUT_NEW;
    for (int which = first; which >= 0; which = which == first? second: -1) {
        sqlite3_stmt *s = self->statements [which];
        s_text (s, 1, msg_id, SIZE_MAX);
        s_text (s, 2, text, SIZE_MAX);
        sqlite3_bind_int (s, 3, ZPAR_DB_OUTPUT_MAX);
        if (s_run (self, s, "recording output"))
            break;
    }
}

static const char *
s_column (sqlite3_stmt *statement, int index)
{
    return (const char *) sqlite3_column_text (statement, index);
}

json_t *
zpar_db_sqlite_result (zpar_db_sqlite_t *self, const char *msg_id)
{
    sqlite3_stmt *s = self->statements [S_RESULT];
    s_text (s, 1, msg_id, SIZE_MAX);
    json_t *result = sqlite3_step (s) == SQLITE_ROW
        ? zpar_db_result_json (s_column (s, 0), s_column (s, 1), s_column (s, 2))
        : zpar_db_result_json (NULL, NULL, NULL);
    sqlite3_reset (s);
    sqlite3_clear_bindings (s);
    return result;
}

//  " WHERE ..." for query, with its values bound from index 1 by s_bind.
static void
s_where (const zpar_db_query_t *query, bool not_pending, char *sql, size_t size)
{
    size_t used = strlen (sql);
    const char *join = " WHERE ";
#define S_CLAUSE(text) do { \
        used += (size_t) snprintf (sql + used, used < size? size - used: 0, "%s%s", join, text); \
        join = " AND "; \
    } while (0)
    if (query->status && streq (query->status, "completed"))
        S_CLAUSE ("status != 'pending'");
    else
    if (query->status)
        S_CLAUSE ("status = :status");
    if (not_pending)
        S_CLAUSE ("status != 'pending'");
    if (query->by_engine)
        S_CLAUSE ("engine_id = :engine");
    if (query->fn)
        S_CLAUSE ("fn = :fn");
    if (query->client)
        S_CLAUSE ("client = :client");
    if (query->since)
        S_CLAUSE ("submitted >= :since");
    if (query->until)
        S_CLAUSE ("submitted <= :until");
    if (query->msg_ids)
        S_CLAUSE ("msg_id IN (SELECT value FROM json_each (:msg_ids))");
    if (query->by_after)
        S_CLAUSE ("seq > :after");
#undef S_CLAUSE
}

static void
s_bind (sqlite3_stmt *s, const zpar_db_query_t *query)
{
    struct { const char *name; const char *text; } texts [] = {
        { ":status", query->status }, { ":fn", query->fn }, { ":client", query->client },
        { ":since", query->since }, { ":until", query->until }
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts [0]; i++) {
        int index = sqlite3_bind_parameter_index (s, texts [i].name);
        if (index)
            s_text (s, index, texts [i].text, SIZE_MAX);
    }
    int index = sqlite3_bind_parameter_index (s, ":engine");
    if (index)
        sqlite3_bind_int (s, index, query->engine_id);
    index = sqlite3_bind_parameter_index (s, ":after");
    if (index)
        sqlite3_bind_int64 (s, index, query->after);
    index = sqlite3_bind_parameter_index (s, ":msg_ids");
    if (index) {
        char *ids = json_dumps (query->msg_ids, JSON_COMPACT);
        s_text (s, index, ids, SIZE_MAX);
        free (ids);
    }
}

json_t *
zpar_db_sqlite_find (zpar_db_sqlite_t *self, const zpar_db_query_t *query, json_t *keys,
                     zpar_db_page_t *page)
{
    char sql [1024] = "SELECT count(*) FROM tasks";
    s_where (query, false, sql, sizeof sql);
    sqlite3_stmt *s = NULL;
    size_t *total = &page->total;
    *total = 0;
    json_t *records = json_array ();
    if (sqlite3_prepare_v2 (self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        s_bind (s, query);
        if (sqlite3_step (s) == SQLITE_ROW)
            *total = (size_t) sqlite3_column_int64 (s, 0);
    }
    sqlite3_finalize (s);
    snprintf (sql, sizeof sql, "SELECT " S_COLUMNS ", seq FROM tasks");
    s_where (query, false, sql, sizeof sql);
    size_t used = strlen (sql);
    snprintf (sql + used, sizeof sql - used, " ORDER BY seq LIMIT %zu OFFSET %zu", page->limit, page->offset);
    if (sqlite3_prepare_v2 (self->db, sql, -1, &s, NULL) != SQLITE_OK) {
        s_failed (self, "a query");
        return records;
    }
    s_bind (s, query);
    while (sqlite3_step (s) == SQLITE_ROW) {
        zpar_db_fields_t f = {
            .msg_id = s_column (s, 0), .client = s_column (s, 1), .engine_uuid = s_column (s, 2),
            .fn = s_column (s, 3), .submitted = s_column (s, 4), .started = s_column (s, 5),
            .completed = s_column (s, 6), .status = s_column (s, 7),
            .engine_id = sqlite3_column_int (s, 8), .req_header = s_column (s, 9),
            .req_metadata = s_column (s, 10), .req_content = s_column (s, 11),
            .metadata = s_column (s, 12), .result = s_column (s, 13),
            .result_cut = sqlite3_column_int (s, 14), .out = s_column (s, 15),
            .err = s_column (s, 16), .out_cut = sqlite3_column_int (s, 17),
            .err_cut = sqlite3_column_int (s, 18), .resubmitted = s_column (s, 19)
        };
        if (!zpar_db_page_add (page, records, zpar_db_fields_json (&f, keys), sqlite3_column_int64 (s, 20)))
            break;
    }
    sqlite3_finalize (s);
    return records;
}

size_t
zpar_db_sqlite_purge (zpar_db_sqlite_t *self, const zpar_db_query_t *query)
{
    char sql [1024] = "DELETE FROM tasks";
    s_where (query, true, sql, sizeof sql);
    sqlite3_stmt *s = NULL;
    size_t purged = 0;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &s, NULL) == SQLITE_OK) {
        s_bind (s, query);
        if (sqlite3_step (s) == SQLITE_DONE)
            purged = (size_t) sqlite3_changes (self->db);
        else
            s_failed (self, "a purge");
    }
    sqlite3_finalize (s);
    return purged;
}

void
zpar_db_sqlite_engine_gone (zpar_db_sqlite_t *self, int engine_id)
{
    sqlite3_stmt *s = self->statements [S_ENGINE_GONE];
    sqlite3_bind_int (s, 1, engine_id);
    s_run (self, s, "noting an engine's departure");
}

void
zpar_db_sqlite_resubmitted (zpar_db_sqlite_t *self, const char *msg_id, const char *new_id)
{
    sqlite3_stmt *s = self->statements [S_RESUBMITTED];
    s_text (s, 1, msg_id, SIZE_MAX);
    s_text (s, 2, new_id, SIZE_MAX);
    s_run (self, s, "noting a resubmission");
}

size_t
zpar_db_sqlite_fail_pending (zpar_db_sqlite_t *self, const char *content)
{
    sqlite3_stmt *s = self->statements [S_FAIL_PENDING];
    s_text (s, 1, content, SIZE_MAX);
    return (size_t) s_run (self, s, "failing pending tasks");
}

size_t
zpar_db_sqlite_count (zpar_db_sqlite_t *self, bool pending_only)
{
    //  Pending ones are found through the status index; all of them mean
    //  a scan, done at most once a second (zpar top asks often).
    if (!pending_only && self->counted_ms && zpar_mono_ms () - self->counted_ms < 1000)
        return self->count;
    sqlite3_stmt *s = self->statements [pending_only? S_COUNT_PENDING: S_COUNT];
    size_t count = sqlite3_step (s) == SQLITE_ROW? (size_t) sqlite3_column_int64 (s, 0): 0;
    sqlite3_reset (s);
    if (!pending_only) {
        self->count = count;
        self->counted_ms = zpar_mono_ms ();
    }
    return count;
}
