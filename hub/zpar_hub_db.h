/*  zpar_hub_db.h - the hub's task records: one per task an engine was
    handed, built from the schedulers' monitor copies and the engines'
    output, kept in memory (bounded, the oldest finished records culled
    first) or in an SQLite file that outlives the hub.

    A record's keys, as db_request returns them:
        msg_id, client (session of the client that sent it), engine_id,
        engine_uuid, fn, submitted, started, completed (ISO dates, null
        until known), status (pending, ok, error, aborted, or unknown: its
        answer came while no hub was there to record it), result (the
        reply's content, null when it was over the size kept), result_cut,
        metadata (the reply's), stdout, stderr, stdout_cut, stderr_cut,
        resubmitted (msg_id of its latest resubmission, or null), request
        (header, metadata and content of the request, for resubmit).     */

#ifndef ZPAR_HUB_DB_H_INCLUDED
#define ZPAR_HUB_DB_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  Output kept per stream and task, and the largest result kept.
#define ZPAR_DB_OUTPUT_MAX  (64 * 1024)

typedef struct _zpar_hub_db_t zpar_hub_db_t;

//  What the hub learnt of a task handed to an engine (texts need not end
//  with a NUL; sizes given).
typedef struct {
    const char *msg_id, *client, *engine_uuid, *fn, *submitted;
    int engine_id;                      //  -1 when unknown
    const char *header, *metadata, *content;    //  the request's frames
    size_t header_size, metadata_size, content_size;
} zpar_db_task_t;

//  A query (see zpar_hub_db_parse_query): every field set must match.
typedef struct {
    const char *status;         //  a status, "completed" (any but pending), or NULL
    bool by_engine;
    int engine_id;
    const char *fn, *client;
    const char *since, *until;  //  on submitted, ISO dates as zpar writes them
    json_t *msg_ids;            //  array of strings, or NULL
    bool by_after;
    int64_t after;              //  only records stored after the one of this seq
    char since_text [40], until_text [40];      //  where since and until point
} zpar_db_query_t;

//  Which of the matching records to return, and what came of it.
typedef struct {
    size_t offset, limit;       //  limit 0: none, only count
    size_t budget;              //  bytes of JSON at most (0: no bound); one record at least
    size_t total;               //  out: how many match
    size_t returned;            //  out: how many were returned
    int64_t last_seq;           //  out: seq of the last one returned (see query->after)
} zpar_db_page_t;

//  spec: "memory" or "sqlite:PATH". max_records and max_bytes bound the
//  memory store (0: no bound). NULL with *error (caller frees) when the
//  store cannot be opened; an SQLite file that is not a zpar task
//  database, or is damaged, is refused and left as it is.
zpar_hub_db_t *zpar_hub_db_open (const char *spec, size_t max_records, size_t max_bytes,
                                 char **error);
void zpar_hub_db_destroy (zpar_hub_db_t **self_p);

//  "memory" or "sqlite:PATH".
const char *zpar_hub_db_spec (zpar_hub_db_t *self);

//  Changes between begin and commit are written together (one SQLite
//  transaction per monitor batch).
void zpar_hub_db_begin (zpar_hub_db_t *self);
void zpar_hub_db_commit (zpar_hub_db_t *self);

//  A task handed to an engine. A record that exists (output came first,
//  or a retry) keeps its answer fields.
void zpar_hub_db_task (zpar_hub_db_t *self, const zpar_db_task_t *task);

//  Its answer: the reply's metadata and content (content_size 0 when the
//  scheduler left it out for its size). Returns its status as recorded:
//  "ok", "aborted" or "error".
const char *zpar_hub_db_answer (zpar_hub_db_t *self, const char *msg_id, const char *engine_uuid,
                         int engine_id, const void *metadata, size_t metadata_size,
                         const void *content, size_t content_size);

//  Output a task printed: name is "stdout" or "stderr".
void zpar_hub_db_output (zpar_hub_db_t *self, const char *msg_id, const char *name,
                         const char *text);

//  What result_request answers for one msg_id: {"status": "unknown"},
//  {"status": "pending"}, or {"status", "metadata", "content"}.
json_t *zpar_hub_db_result (zpar_hub_db_t *self, const char *msg_id);

//  The record of msg_id with every key, or NULL.
json_t *zpar_hub_db_record (zpar_hub_db_t *self, const char *msg_id);

//  Records matching query, oldest first (in the order they were stored),
//  as page says, each with the keys named in keys (array of strings;
//  NULL: all). A msg_id named twice gives its record once.
json_t *zpar_hub_db_find (zpar_hub_db_t *self, const zpar_db_query_t *query, json_t *keys,
                          zpar_db_page_t *page);

//  Removes the records matching query that are not pending. Returns how
//  many went.
size_t zpar_hub_db_purge (zpar_hub_db_t *self, const zpar_db_query_t *query);

//  An engine left: its pending records will not be answered through it
//  (a retry sends a task again, and a scheduler's error answers it): they
//  become unknown until then.
void zpar_hub_db_engine_gone (zpar_hub_db_t *self, int engine_id);

//  Notes that msg_id was resubmitted as new_id.
void zpar_hub_db_resubmitted (zpar_hub_db_t *self, const char *msg_id, const char *new_id);

//  Answers every pending task with content (JSON text of an error): they
//  were inside a scheduler that is lost. Returns how many.
size_t zpar_hub_db_fail_pending (zpar_hub_db_t *self, const char *content);

//  Records held, and of them pending; bytes held (memory store).
size_t zpar_hub_db_count (zpar_hub_db_t *self);
size_t zpar_hub_db_pending (zpar_hub_db_t *self);
size_t zpar_hub_db_bytes (zpar_hub_db_t *self);

//  -- shared by the stores -----------------------------------------------

//  Reads a query object ({status, engine, fn, client, since, until,
//  msg_ids}) into *query, which borrows from it. -1 with a message that
//  names the wrong key in error.
int zpar_hub_db_parse_query (json_t *object, zpar_db_query_t *query, char *error, size_t size);

//  Checks keys (NULL, or an array of known key names). -1 with a message.
int zpar_hub_db_check_keys (json_t *keys, char *error, size_t size);

#endif
