/*  zpar_hub_db_int.h - what the two task stores share: the record, how it
    becomes JSON, and the SQLite store's entry points (zpar_hub_db.c is
    the memory store and dispatches to these for "sqlite:PATH").        */

#ifndef ZPAR_HUB_DB_INT_H_INCLUDED
#define ZPAR_HUB_DB_INT_H_INCLUDED

#include "zpar_hub_db.h"

#include <stdint.h>

//  A record's fields; strings may be NULL (unknown yet).
typedef struct {
    const char *msg_id, *client, *engine_uuid, *fn, *submitted, *started, *completed, *status;
    int engine_id;
    const char *req_header, *req_metadata, *req_content;
    const char *metadata, *result;
    bool result_cut;
    const char *out, *err;
    bool out_cut, err_cut;
    const char *resubmitted;
} zpar_db_fields_t;

//  The record as db_request shows it, with keys (NULL: all).
json_t *zpar_db_fields_json (const zpar_db_fields_t *fields, json_t *keys);

//  Adds record (taken) to records unless page's budget is spent; false
//  when it was not added.
bool zpar_db_page_add (zpar_db_page_t *page, json_t *records, json_t *record, int64_t seq);

//  What result_request answers from a record's status, metadata and
//  result texts (status NULL: no record).
json_t *zpar_db_result_json (const char *status, const char *metadata, const char *result);

//  -- the SQLite store (zpar_hub_db_sqlite.c) ---------------------------
typedef struct _zpar_db_sqlite_t zpar_db_sqlite_t;

zpar_db_sqlite_t *zpar_db_sqlite_open (const char *path, char **error);
void zpar_db_sqlite_close (zpar_db_sqlite_t **self_p);
void zpar_db_sqlite_begin (zpar_db_sqlite_t *self);
void zpar_db_sqlite_commit (zpar_db_sqlite_t *self);
void zpar_db_sqlite_task (zpar_db_sqlite_t *self, const zpar_db_task_t *task);
void zpar_db_sqlite_answer (zpar_db_sqlite_t *self, const char *msg_id, const char *engine_uuid,
                            int engine_id, const char *status, const char *started,
                            const char *completed, const void *metadata, size_t metadata_size,
                            const void *content, size_t content_size);
void zpar_db_sqlite_output (zpar_db_sqlite_t *self, const char *msg_id, bool is_stderr,
                            const char *text);
json_t *zpar_db_sqlite_result (zpar_db_sqlite_t *self, const char *msg_id);
json_t *zpar_db_sqlite_find (zpar_db_sqlite_t *self, const zpar_db_query_t *query, json_t *keys,
                             zpar_db_page_t *page);
void zpar_db_sqlite_engine_gone (zpar_db_sqlite_t *self, int engine_id);
size_t zpar_db_sqlite_purge (zpar_db_sqlite_t *self, const zpar_db_query_t *query);
void zpar_db_sqlite_resubmitted (zpar_db_sqlite_t *self, const char *msg_id, const char *new_id);
size_t zpar_db_sqlite_fail_pending (zpar_db_sqlite_t *self, const char *content);
size_t zpar_db_sqlite_count (zpar_db_sqlite_t *self, bool pending_only);

#endif
