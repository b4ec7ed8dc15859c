/*  zpar_hub_db.c - task records: the memory store (a hash by msg_id, a
    list of pending records and one of finished records in the order they
    finished, so culling takes the oldest finished in O(1)), the JSON
    both stores answer with, and queries as clients send them.

    Every task makes a record, so a record costs few allocations: it
    holds its msg_id and its list links, the request's texts share one
    block and the answer's another (each comes in one monitor copy).    */

#include "zpar_hub_db_int.h"

#include "zpar_msg.h"
#include "zpar_table.h"
#include "zpar_util.h"

#include <czmq.h>

typedef struct s_record_t s_record_t;
struct s_record_t {
    //  Point into request (NULL: not known)
    const char *client, *fn, *submitted, *req_header, *req_metadata, *req_content;
    //  Point into answer
    const char *started, *completed, *metadata, *result;
    char *request, *answer;             //  the blocks, or NULL
    size_t request_size, answer_size;
    char *engine_uuid;
    const char *status;                 //  static
    int engine_id;
    bool result_cut;
    char *out, *err;
    size_t out_size, err_size;
    bool out_cut, err_cut;
    char *resubmitted;
    uint64_t seq;                       //  creation order
    size_t bytes;                       //  counted in the store's total
    s_record_t *prev, *next;            //  in pending or finished
    char msg_id [];
};

//  Records oldest first, linked through the records themselves.
typedef struct {
    s_record_t *first, *last;
    size_t size;
} s_list_t;

struct _zpar_hub_db_t {
    char *spec;
    zpar_db_sqlite_t *sqlite;           //  or the memory store below
    zpar_table_t *records;              //  msg_id -> s_record_t (owned), keyed by its own msg_id
    s_list_t pending, finished;
    size_t max_records, max_bytes, bytes;
    uint64_t next_seq;
};

static const char *s_keys [] = {
    "msg_id", "client", "engine_id", "engine_uuid", "fn", "submitted", "started",
    "completed", "status", "result", "result_cut", "metadata", "stdout", "stderr",
    "stdout_cut", "stderr_cut", "resubmitted", "request", NULL
};

static const char *s_statuses [] = {
    "pending", "ok", "error", "aborted", "unknown", "completed", NULL
};

static void
s_record_free (void **item)
{
    s_record_t *record = *item;
    if (!record)
        return;
    free (record->request);
    free (record->answer);
    free (record->engine_uuid);
    free (record->out);
    free (record->err);
    free (record->resubmitted);
    free (record);
    *item = NULL;
}

static size_t
s_len (const char *text)
{
    return text? strlen (text): 0;
}

static size_t
s_record_bytes (s_record_t *r)
{
    return sizeof *r + strlen (r->msg_id) + r->request_size + r->answer_size
         + s_len (r->engine_uuid) + r->out_size + r->err_size + s_len (r->resubmitted);
}

//  Replaces *block with one holding count texts (of sizes bytes each, or
//  NULL), each ending in a null byte, and points fields at them. A text
//  may be in the old block: it is freed last.
static void
s_block (char **block, size_t *block_size, const char **fields [],
         const void *const texts [], const size_t sizes [], int count)
{
    size_t total = 0;
    for (int i = 0; i < count; i++)
        total += texts [i]? sizes [i] + 1: 0;
    char *fresh = total? malloc (total): NULL, *at = fresh;
    for (int i = 0; i < count; i++) {
        *fields [i] = NULL;
        if (texts [i] && fresh) {
            memcpy (at, texts [i], sizes [i]);
            at [sizes [i]] = 0;
            *fields [i] = at;
            at += sizes [i] + 1;
        }
    }
    free (*block);
    *block = fresh;
    *block_size = fresh? total: 0;
}

static size_t
s_size (const char *text)
{
    return text? strlen (text): 0;
}

//  The answer's texts; a NULL started or completed keeps what it was.
static void
s_set_answer (s_record_t *record, const char *started, const char *completed,
              const void *metadata, size_t metadata_size, const void *result, size_t result_size)
{
    started = started? started: record->started;
    completed = completed? completed: record->completed;
    const char **fields [] = { &record->started, &record->completed, &record->metadata, &record->result };
    const void *const texts [] = { started, completed, metadata, result };
    const size_t sizes [] = { s_size (started), s_size (completed), metadata_size, result_size };
    s_block (&record->answer, &record->answer_size, fields, texts, sizes, 4);
}

static void
s_list_add (s_list_t *list, s_record_t *record)
{
    record->next = NULL;
    record->prev = list->last;
    if (list->last)
        list->last->next = record;
    else
        list->first = record;
    list->last = record;
    list->size++;
}

static void
s_list_remove (s_list_t *list, s_record_t *record)
{
    if (record->prev)
        record->prev->next = record->next;
    else
        list->first = record->next;
    if (record->next)
        record->next->prev = record->prev;
    else
        list->last = record->prev;
    record->prev = record->next = NULL;
    list->size--;
}

static void
s_set (char **field, const char *value)
{
    if (!value || (*field && streq (*field, value)))
        return;
    free (*field);
    *field = strdup (value);
}

zpar_hub_db_t *
zpar_hub_db_open (const char *spec, size_t max_records, size_t max_bytes, char **error)
{
    zpar_hub_db_t *self = calloc (1, sizeof *self);
    self->spec = strdup (spec);
    if (strncmp (spec, "sqlite:", 7) == 0) {
        if (!spec [7]) {
            *error = strdup ("--db sqlite:PATH needs a PATH");
            zpar_hub_db_destroy (&self);
            return NULL;
        }
        self->sqlite = zpar_db_sqlite_open (spec + 7, error);
        if (!self->sqlite)
            zpar_hub_db_destroy (&self);
        return self;
    }
    if (!streq (spec, "memory")) {
        char text [512];
        snprintf (text, sizeof text, "unknown --db '%s': use memory or sqlite:PATH", spec);
        *error = strdup (text);
        zpar_hub_db_destroy (&self);
        return NULL;
    }
    self->records = zpar_table_new (s_record_free);
    self->max_records = max_records;
    self->max_bytes = max_bytes;
    return self;
}

void
zpar_hub_db_destroy (zpar_hub_db_t **self_p)
{
    zpar_hub_db_t *self = self_p? *self_p: NULL;
    if (!self)
        return;
    zpar_db_sqlite_close (&self->sqlite);
    zpar_table_destroy (&self->records);
    free (self->spec);
    free (self);
    *self_p = NULL;
}

const char *
zpar_hub_db_spec (zpar_hub_db_t *self)
{
    return self->spec;
}

void
zpar_hub_db_begin (zpar_hub_db_t *self)
{
    if (self->sqlite)
        zpar_db_sqlite_begin (self->sqlite);
}

void
zpar_hub_db_commit (zpar_hub_db_t *self)
{
    if (self->sqlite)
        zpar_db_sqlite_commit (self->sqlite);
}

//  -- memory store --------------------------------------------------------

static void
s_forget (zpar_hub_db_t *self, s_record_t *record)
{
    s_list_remove (streq (record->status, "pending")? &self->pending: &self->finished, record);
    self->bytes -= record->bytes;
    zpar_table_delete (self->records, record->msg_id);
}

//  Recounts record's bytes, then culls the oldest finished records over
//  the bounds, never keep (just changed) and never a pending one.
static void
s_account (zpar_hub_db_t *self, s_record_t *keep)
{
    self->bytes -= keep->bytes;
    keep->bytes = s_record_bytes (keep);
    self->bytes += keep->bytes;
    while ((self->max_records && zpar_table_size (self->records) > self->max_records)
       ||  (self->max_bytes && self->bytes > self->max_bytes)) {
        s_record_t *oldest = self->finished.first;
        if (oldest == keep)
            oldest = oldest->next;
        if (!oldest)
            break;
        s_forget (self, oldest);
    }
}

static s_record_t *
s_record (zpar_hub_db_t *self, const char *msg_id)
{
    s_record_t *record = zpar_table_lookup (self->records, msg_id);
    if (record)
        return record;
    size_t size = strlen (msg_id) + 1;
    record = calloc (1, sizeof *record + size);
    memcpy (record->msg_id, msg_id, size);
    record->status = "pending";
    record->engine_id = -1;
    record->seq = self->next_seq++;
    s_list_add (&self->pending, record);
    zpar_table_insert (self->records, record->msg_id, record);
    return record;
}

//  Moves a record between the lists as its status changes.
static void
s_set_status (zpar_hub_db_t *self, s_record_t *record, const char *status)
{
    bool was_pending = streq (record->status, "pending"), pending = streq (status, "pending");
    record->status = status;
    if (was_pending != pending) {
        s_list_remove (was_pending? &self->pending: &self->finished, record);
        s_list_add (pending? &self->pending: &self->finished, record);
    }
}

void
zpar_hub_db_task (zpar_hub_db_t *self, const zpar_db_task_t *task)
{
    if (self->sqlite) {
        zpar_db_sqlite_task (self->sqlite, task);
        return;
    }
    s_record_t *record = s_record (self, task->msg_id);
    s_set (&record->engine_uuid, task->engine_uuid);
    if (task->engine_id >= 0)
        record->engine_id = task->engine_id;
    //  What the task does not say, the record keeps.
    const char *client = task->client? task->client: record->client;
    const char *fn = task->fn? task->fn: record->fn;
    const char *submitted = task->submitted? task->submitted: record->submitted;
    const char **fields [] = { &record->client, &record->fn, &record->submitted,
                               &record->req_header, &record->req_metadata, &record->req_content };
    const void *const texts [] = { client, fn, submitted, task->header, task->metadata,
                                   task->content_size? task->content: NULL };
    const size_t sizes [] = { s_size (client), s_size (fn), s_size (submitted), task->header_size,
                              task->metadata_size, task->content_size };
    s_block (&record->request, &record->request_size, fields, texts, sizes, 6);
    //  Output may have come first, or its engine left and the task was
    //  sent again: without an answer, it is pending.
    if (!record->metadata)
        s_set_status (self, record, "pending");
    s_account (self, record);
}

//  status, started and completed of an answer's metadata: scanned from
//  the text, which gives up on escapes (output in it), else parsed.
static const char *
s_answer_fields (const void *metadata, size_t size, char *started, char *completed, size_t room)
{
    char status [16] = "";
    *started = *completed = 0;
    const char *const keys [] = { "status", "started", "completed" };
    char *const values [] = { status, started, completed };
    const size_t sizes [] = { sizeof status, room, room };
    if (zpar_json_scan_strings (metadata, size, keys, 3, values, sizes) < 0 || !*status) {
        json_t *parsed = json_loadb (metadata, size, 0, NULL);
        snprintf (status, sizeof status, "%s", json_string_value (json_object_get (parsed, "status"))
                                               ? json_string_value (json_object_get (parsed, "status")): "");
        snprintf (started, room, "%s", json_string_value (json_object_get (parsed, "started"))
                                       ? json_string_value (json_object_get (parsed, "started")): "");
        snprintf (completed, room, "%s", json_string_value (json_object_get (parsed, "completed"))
                                         ? json_string_value (json_object_get (parsed, "completed")): "");
        json_decref (parsed);
    }
    return streq (status, "ok")? "ok": streq (status, "aborted")? "aborted": "error";
}

const char *
zpar_hub_db_answer (zpar_hub_db_t *self, const char *msg_id, const char *engine_uuid,
                    int engine_id, const void *metadata, size_t metadata_size,
                    const void *content, size_t content_size)
{
    char started [48], completed [48];
    const char *status = s_answer_fields (metadata, metadata_size, started, completed, sizeof started);
    if (self->sqlite) {
        zpar_db_sqlite_answer (self->sqlite, msg_id, engine_uuid, engine_id, status,
                               *started? started: NULL, *completed? completed: NULL,
                               metadata, metadata_size, content, content_size);
        return status;
    }
    s_record_t *record = s_record (self, msg_id);
    if (engine_uuid && *engine_uuid)
        s_set (&record->engine_uuid, engine_uuid);
    if (engine_id >= 0)
        record->engine_id = engine_id;
    s_set_answer (record, *started? started: NULL, *completed? completed: NULL,
                  metadata, metadata_size, content_size? content: NULL, content_size);
    record->result_cut = content_size == 0;
    s_set_status (self, record, status);
    s_account (self, record);
    return status;
}

//  Appends text to *field, up to ZPAR_DB_OUTPUT_MAX bytes in all (cut on
//  a character boundary).
static void
s_append (char **field, size_t *size, bool *cut, const char *text)
{
    size_t length = strlen (text), room = ZPAR_DB_OUTPUT_MAX - *size;
    if (length > room) {
        length = room;
        while (length && ((unsigned char) text [length] & 0xC0) == 0x80)
            length--;
        *cut = true;
    }
    if (!length)
        return;
    char *grown = realloc (*field, *size + length + 1);
    if (!grown)
        return;
    memcpy (grown + *size, text, length);
    *size += length;
    grown [*size] = 0;
    *field = grown;
}

void
zpar_hub_db_output (zpar_hub_db_t *self, const char *msg_id, const char *name, const char *text)
{
    bool is_stderr = streq (name, "stderr");
    if (self->sqlite) {
        zpar_db_sqlite_output (self->sqlite, msg_id, is_stderr, text);
        return;
    }
    //  Output can come before the monitor's copy of its request, and after
    //  its record was purged: a record made for it is not pending until
    //  the request is seen (else it could stay pending for ever).
    s_record_t *record = zpar_table_lookup (self->records, msg_id);
    if (!record) {
        record = s_record (self, msg_id);
        s_set_status (self, record, "unknown");
    }
    if (is_stderr)
        s_append (&record->err, &record->err_size, &record->err_cut, text);
    else
        s_append (&record->out, &record->out_size, &record->out_cut, text);
    s_account (self, record);
}

//  What result_request answers, from a record's status and texts.
static json_t *
s_result_json (const char *status, const char *metadata, const char *result)
{
    if (!status)
        return json_pack ("{s:s}", "status", "unknown");
    if (streq (status, "pending") || !metadata)
        return json_pack ("{s:s}", "status", streq (status, "unknown")? "unknown": "pending");
    json_t *meta = json_loads (metadata, JSON_REJECT_DUPLICATES, NULL);
    json_t *content = result? json_loads (result, JSON_REJECT_DUPLICATES, NULL): NULL;
    const char *said = json_string_value (json_object_get (content, "status"));
    if (!said)
        said = json_string_value (json_object_get (meta, "status"));
    return json_pack ("{s:s, s:o, s:o}", "status", said? said: "error",
                      "metadata", meta? meta: json_object (),
                      "content", content? content: json_null ());
}

json_t *
zpar_hub_db_result (zpar_hub_db_t *self, const char *msg_id)
{
    if (self->sqlite)
        return zpar_db_sqlite_result (self->sqlite, msg_id);
    s_record_t *record = msg_id? zpar_table_lookup (self->records, msg_id): NULL;
    return record? s_result_json (record->status, record->metadata, record->result)
                 : s_result_json (NULL, NULL, NULL);
}

json_t *
zpar_db_result_json (const char *status, const char *metadata, const char *result)
{
    return s_result_json (status, metadata, result);
}

static zpar_db_fields_t
s_fields (s_record_t *r)
{
    return (zpar_db_fields_t) {
        .msg_id = r->msg_id, .client = r->client, .engine_uuid = r->engine_uuid, .fn = r->fn,
        .submitted = r->submitted, .started = r->started, .completed = r->completed,
        .status = r->status, .engine_id = r->engine_id, .req_header = r->req_header,
        .req_metadata = r->req_metadata, .req_content = r->req_content,
        .metadata = r->metadata, .result = r->result, .result_cut = r->result_cut,
        .out = r->out, .err = r->err, .out_cut = r->out_cut, .err_cut = r->err_cut,
        .resubmitted = r->resubmitted
    };
}

json_t *
zpar_hub_db_record (zpar_hub_db_t *self, const char *msg_id)
{
    json_t *ids = json_pack ("[s]", msg_id);
    zpar_db_query_t query = { .msg_ids = ids };
    zpar_db_page_t page = { .limit = 1 };
    json_t *found = zpar_hub_db_find (self, &query, NULL, &page);
    json_t *record = json_incref (json_array_get (found, 0));
    json_decref (found);
    json_decref (ids);
    return record;
}

static bool
s_text_is (const char *text, const char *want)
{
    return text && streq (text, want);
}

static bool
s_matches (s_record_t *r, const zpar_db_query_t *query)
{
    if (query->status && !(streq (query->status, "completed")? !streq (r->status, "pending")
                                                              : streq (query->status, r->status)))
        return false;
    if (query->by_engine && r->engine_id != query->engine_id)
        return false;
    if (query->by_after && (int64_t) r->seq <= query->after)
        return false;
    if ((query->fn && !s_text_is (r->fn, query->fn))
    ||  (query->client && !s_text_is (r->client, query->client)))
        return false;
    if ((query->since && (!r->submitted || strcmp (r->submitted, query->since) < 0))
    ||  (query->until && (!r->submitted || strcmp (r->submitted, query->until) > 0)))
        return false;
    return true;
}

static int
s_by_seq (const void *a, const void *b)
{
    uint64_t x = (*(s_record_t *const *) a)->seq, y = (*(s_record_t *const *) b)->seq;
    return x < y? -1: x > y;
}

//  The records query names: by msg_ids when it has them, else all
//  matching, oldest first. Caller frees the array.
static s_record_t **
s_select (zpar_hub_db_t *self, const zpar_db_query_t *query, size_t *count)
{
    size_t capacity = query->msg_ids? json_array_size (query->msg_ids): zpar_table_size (self->records);
    s_record_t **found = malloc ((capacity? capacity: 1) * sizeof *found);
    *count = 0;
    if (query->msg_ids) {
        size_t i;
        json_t *id;
        json_array_foreach (query->msg_ids, i, id) {
            const char *key = json_string_value (id);
            s_record_t *record = key? zpar_table_lookup (self->records, key): NULL;
            if (record && s_matches (record, query))
                found [(*count)++] = record;
        }
    }
    else
        for (s_record_t *record = zpar_table_first (self->records); record;
             record = zpar_table_next (self->records))
            if (s_matches (record, query))
                found [(*count)++] = record;
    qsort (found, *count, sizeof *found, s_by_seq);
    //  A msg_id named twice is one record: once.
    size_t unique = 0;
    for (size_t i = 0; i < *count; i++)
        if (!unique || found [unique - 1] != found [i])
            found [unique++] = found [i];
    *count = unique;
    return found;
}

bool
zpar_db_page_add (zpar_db_page_t *page, json_t *records, json_t *record, int64_t seq)
{
    if (page->budget) {
        size_t size = json_dumpb (record, NULL, 0, JSON_COMPACT);
        if (page->returned && size > page->budget) {
            json_decref (record);
            return false;
        }
        page->budget = size < page->budget? page->budget - size: 1;
    }
    json_array_append_new (records, record);
    page->returned++;
    page->last_seq = seq;
    return true;
}

json_t *
zpar_hub_db_find (zpar_hub_db_t *self, const zpar_db_query_t *query, json_t *keys,
                  zpar_db_page_t *page)
{
    page->returned = 0;
    page->last_seq = -1;
    if (self->sqlite)
        return zpar_db_sqlite_find (self->sqlite, query, keys, page);
    size_t count;
    s_record_t **found = s_select (self, query, &count);
    json_t *records = json_array ();
    for (size_t i = page->offset; i < count && page->returned < page->limit; i++) {
        zpar_db_fields_t fields = s_fields (found [i]);
        if (!zpar_db_page_add (page, records, zpar_db_fields_json (&fields, keys), (int64_t) found [i]->seq))
            break;
    }
    page->total = count;
    free (found);
    return records;
}

size_t
zpar_hub_db_purge (zpar_hub_db_t *self, const zpar_db_query_t *query)
{
    if (self->sqlite)
        return zpar_db_sqlite_purge (self->sqlite, query);
    size_t count, purged = 0;
    s_record_t **found = s_select (self, query, &count);
    for (size_t i = 0; i < count; i++)
        if (!streq (found [i]->status, "pending")) {
            s_forget (self, found [i]);
            purged++;
        }
    free (found);
    return purged;
}

void
zpar_hub_db_engine_gone (zpar_hub_db_t *self, int engine_id)
{
    if (self->sqlite) {
        zpar_db_sqlite_engine_gone (self->sqlite, engine_id);
        return;
    }
    s_record_t *next;
    for (s_record_t *record = self->pending.first; record; record = next) {
        next = record->next;            //  before it moves to finished
        if (record->engine_id == engine_id)
            s_set_status (self, record, "unknown");
    }
}

void
zpar_hub_db_resubmitted (zpar_hub_db_t *self, const char *msg_id, const char *new_id)
{
    if (self->sqlite) {
        zpar_db_sqlite_resubmitted (self->sqlite, msg_id, new_id);
        return;
    }
    s_record_t *record = zpar_table_lookup (self->records, msg_id);
    if (record) {
        s_set (&record->resubmitted, new_id);
        s_account (self, record);
    }
}

size_t
zpar_hub_db_fail_pending (zpar_hub_db_t *self, const char *content)
{
    if (self->sqlite)
        return zpar_db_sqlite_fail_pending (self->sqlite, content);
    static const char metadata [] = "{\"status\": \"error\"}";
    size_t count = 0;
    s_record_t *record;
    while ((record = self->pending.first)) {
        s_set_answer (record, NULL, NULL, metadata, strlen (metadata), content, strlen (content));
        s_set_status (self, record, "error");
        s_account (self, record);
        count++;
    }
    return count;
}

size_t
zpar_hub_db_count (zpar_hub_db_t *self)
{
    return self->sqlite? zpar_db_sqlite_count (self->sqlite, false): zpar_table_size (self->records);
}

size_t
zpar_hub_db_pending (zpar_hub_db_t *self)
{
    return self->sqlite? zpar_db_sqlite_count (self->sqlite, true): self->pending.size;
}

size_t
zpar_hub_db_bytes (zpar_hub_db_t *self)
{
    return self->bytes;
}

//  -- shared by both stores -------------------------------------------------

static bool
s_listed (const char *const *list, const char *name)
{
    for (; *list; list++)
        if (streq (*list, name))
            return true;
    return false;
}

static bool
s_wants (json_t *keys, const char *key)
{
    if (!keys)
        return true;
    size_t i;
    json_t *name;
    json_array_foreach (keys, i, name)
        if (streq (json_string_value (name), key))
            return true;
    return false;
}

//  JSON text as a value (a string when it does not parse), or null.
static json_t *
s_parsed (const char *text)
{
    if (!text)
        return json_null ();
    json_t *value = json_loads (text, JSON_DECODE_ANY, NULL);
    return value? value: json_string (text);
}

static json_t *
s_string (const char *text)
{
    return text? json_string (text): json_null ();
}

json_t *
zpar_db_fields_json (const zpar_db_fields_t *f, json_t *keys)
{
    json_t *record = json_object ();
    struct { const char *key; json_t *(*make) (const char *); const char *text; } texts [] = {
        { "msg_id", s_string, f->msg_id }, { "client", s_string, f->client },
        { "engine_uuid", s_string, f->engine_uuid }, { "fn", s_string, f->fn },
        { "submitted", s_string, f->submitted }, { "started", s_string, f->started },
        { "completed", s_string, f->completed }, { "status", s_string, f->status },
        { "result", s_parsed, f->result }, { "metadata", s_parsed, f->metadata },
        { "stdout", s_string, f->out }, { "stderr", s_string, f->err },
        { "resubmitted", s_string, f->resubmitted }
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts [0]; i++)
        if (s_wants (keys, texts [i].key))
            json_object_set_new (record, texts [i].key, texts [i].make (texts [i].text));
    if (s_wants (keys, "engine_id"))
        json_object_set_new (record, "engine_id",
                             f->engine_id >= 0? json_integer (f->engine_id): json_null ());
    if (s_wants (keys, "result_cut"))
        json_object_set_new (record, "result_cut", json_boolean (f->result_cut && f->metadata));
    if (s_wants (keys, "stdout_cut"))
        json_object_set_new (record, "stdout_cut", json_boolean (f->out_cut));
    if (s_wants (keys, "stderr_cut"))
        json_object_set_new (record, "stderr_cut", json_boolean (f->err_cut));
    if (s_wants (keys, "request"))
        json_object_set_new (record, "request", json_pack ("{s:o, s:o, s:o}",
            "header", s_parsed (f->req_header), "metadata", s_parsed (f->req_metadata),
            "content", s_parsed (f->req_content)));
    return record;
}

int
zpar_hub_db_parse_query (json_t *object, zpar_db_query_t *query, char *error, size_t size)
{
    memset (query, 0, sizeof *query);
    if (!object || json_is_null (object))
        return 0;
    if (!json_is_object (object)) {
        snprintf (error, size, "query must be an object");
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        const char *text = json_string_value (value);
        if (streq (key, "status")) {
            if (!text || !s_listed (s_statuses, text)) {
                snprintf (error, size, "query key 'status' must be one of pending, ok, error, "
                          "aborted, unknown, completed");
                return -1;
            }
            query->status = text;
        }
        else
        if (streq (key, "engine")) {
            if (!json_is_integer (value) || json_integer_value (value) < 0
            ||  json_integer_value (value) > INT32_MAX) {
                snprintf (error, size, "query key 'engine' must be an engine id (an integer >= 0)");
                return -1;
            }
            query->by_engine = true;
            query->engine_id = (int) json_integer_value (value);
        }
        else
        if (streq (key, "fn") || streq (key, "client")) {
            if (!text) {
                snprintf (error, size, "query key '%s' must be a string", key);
                return -1;
            }
            *(streq (key, "fn")? &query->fn: &query->client) = text;
        }
        else
        if (streq (key, "since") || streq (key, "until")) {
            //  Compared as text with the records' dates: written the same way.
            bool since = streq (key, "since");
            char *into = since? query->since_text: query->until_text;
            if (!text || zpar_iso_normalise (text, !since, into, sizeof query->since_text) != 0) {
                snprintf (error, size, "query key '%s' must be an ISO date such as "
                          "2026-11-26T10:00:00Z, 2026-11-26T10:00:00.250Z or 2026-11-26", key);
                return -1;
            }
            *(since? &query->since: &query->until) = into;
        }
        else
        if (streq (key, "msg_ids")) {
            bool strings = json_is_array (value);
            size_t i;
            json_t *id;
            json_array_foreach (value, i, id)
                strings &= json_is_string (id);
            if (!strings) {
                snprintf (error, size, "query key 'msg_ids' must be a list of strings");
                return -1;
            }
            query->msg_ids = value;
        }
        else {
            char name [64];
            snprintf (name, sizeof name, "%s", key);
            snprintf (error, size, "unknown query key '%s' (known: status, engine, fn, client, "
                      "since, until, msg_ids)", zpar_utf8_clean (name));
            return -1;
        }
    }
    return 0;
}

int
zpar_hub_db_check_keys (json_t *keys, char *error, size_t size)
{
    if (!keys || json_is_null (keys))
        return 0;
    if (!json_is_array (keys)) {
        snprintf (error, size, "keys must be a list of record keys");
        return -1;
    }
    size_t i;
    json_t *key;
    json_array_foreach (keys, i, key) {
        const char *name = json_string_value (key);
        if (!name || !s_listed (s_keys, name)) {
            char shown [64];
            snprintf (shown, sizeof shown, "%s", name? name: "(not a string)");
            char known [512] = "";
            for (int k = 0; s_keys [k]; k++)
                snprintf (known + strlen (known), sizeof known - strlen (known), "%s%s",
                          k? ", ": "", s_keys [k]);
            snprintf (error, size, "unknown record key '%s' in keys (known: %s)",
                      zpar_utf8_clean (shown), known);
            return -1;
        }
    }
    return 0;
}
