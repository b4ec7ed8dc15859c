/*  zpar_hub_results.c - a bounded store of answers by msg_id: a hash of
    entries and a ring that gives the order to forget them in.           */

#include "zpar_hub_results.h"

#include <czmq.h>

typedef struct {
    char *metadata, *content;   //  NULL while pending; content NULL when not kept
    size_t metadata_size, content_size;
    char msg_id [];             //  the key in the hash
} s_entry_t;

struct _zpar_hub_results_t {
    zhashx_t *entries;          //  msg_id -> s_entry_t (owned)
    s_entry_t **ring;           //  insertion order
    size_t max_count, max_bytes, next, count, bytes;
};

static void
s_entry_free (void **item)
{
    s_entry_t *entry = *item;
    if (entry) {
        free (entry->metadata);
        free (entry->content);
        free (entry);
        *item = NULL;
    }
}

zpar_hub_results_t *
zpar_hub_results_new (size_t max_count, size_t max_bytes)
{
    zpar_hub_results_t *self = calloc (1, sizeof *self);
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_free);
    zhashx_set_key_duplicator (self->entries, NULL);
    zhashx_set_key_destructor (self->entries, NULL);
    self->ring = calloc (max_count? max_count: 1, sizeof *self->ring);
    self->max_count = max_count? max_count: 1;
    self->max_bytes = max_bytes;
    return self;
}

void
zpar_hub_results_destroy (zpar_hub_results_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->entries);
    free ((*self_p)->ring);
    free (*self_p);
    *self_p = NULL;
}

static size_t
s_bytes (s_entry_t *entry)
{
    return sizeof *entry + strlen (entry->msg_id) + entry->metadata_size + entry->content_size;
}

//  Forgets the oldest entry.
static void
s_forget_oldest (zpar_hub_results_t *self)
{
    size_t oldest = (self->next + self->max_count - self->count) % self->max_count;
    s_entry_t *entry = self->ring [oldest];
    self->ring [oldest] = NULL;
    self->count--;
    if (entry) {
        self->bytes -= s_bytes (entry);
        zhashx_delete (self->entries, entry->msg_id);
    }
}

static s_entry_t *
s_entry (zpar_hub_results_t *self, const char *msg_id)
{
    s_entry_t *entry = zhashx_lookup (self->entries, msg_id);
    if (entry)
        return entry;
    if (self->count == self->max_count)
        s_forget_oldest (self);
    size_t size = strlen (msg_id) + 1;
    entry = calloc (1, sizeof *entry + size);
    memcpy (entry->msg_id, msg_id, size);
    zhashx_insert (self->entries, entry->msg_id, entry);
    self->ring [self->next] = entry;
    self->next = (self->next + 1) % self->max_count;
    self->count++;
    self->bytes += s_bytes (entry);
    return entry;
}

void
zpar_hub_results_pending (zpar_hub_results_t *self, const char *msg_id)
{
    s_entry (self, msg_id);
}

static char *
s_copy (const void *data, size_t size)
{
    char *copy = malloc (size + 1);
    memcpy (copy, data, size);
    copy [size] = 0;
    return copy;
}

void
zpar_hub_results_answer (zpar_hub_results_t *self, const char *msg_id,
                         const void *metadata, size_t metadata_size,
                         const void *content, size_t content_size)
{
    s_entry_t *entry = s_entry (self, msg_id);
    self->bytes -= s_bytes (entry);
    free (entry->metadata);
    free (entry->content);
    entry->metadata = s_copy (metadata, metadata_size);
    entry->metadata_size = metadata_size;
    entry->content = content_size? s_copy (content, content_size): NULL;
    entry->content_size = content_size;
    self->bytes += s_bytes (entry);
    //  Over the byte budget: the oldest go, though never this one (it may
    //  be the oldest, for a long task).
    while (self->bytes > self->max_bytes && self->count > 1
       &&  self->ring [(self->next + self->max_count - self->count) % self->max_count] != entry)
        s_forget_oldest (self);
}

json_t *
zpar_hub_results_get (zpar_hub_results_t *self, const char *msg_id)
{
    s_entry_t *entry = msg_id? zhashx_lookup (self->entries, msg_id): NULL;
    if (!entry)
        return json_pack ("{s:s}", "status", "unknown");
    if (!entry->metadata)
        return json_pack ("{s:s}", "status", "pending");
    json_t *metadata = json_loadb (entry->metadata, entry->metadata_size, JSON_REJECT_DUPLICATES, NULL);
    json_t *content = entry->content
        ? json_loadb (entry->content, entry->content_size, JSON_REJECT_DUPLICATES, NULL): NULL;
    const char *status = json_string_value (json_object_get (content, "status"));
    if (!status)
        status = json_string_value (json_object_get (metadata, "status"));
    return json_pack ("{s:s, s:o, s:o}", "status", status? status: "error",
                      "metadata", metadata? metadata: json_object (),
                      "content", content? content: json_null ());
}

size_t
zpar_hub_results_fail_pending (zpar_hub_results_t *self, const char *content)
{
    //  Listed first: an answer may make the store forget old entries.
    zlistx_t *pending = zlistx_new ();
    zlistx_set_duplicator (pending, (czmq_duplicator *) strdup);
    zlistx_set_destructor (pending, (czmq_destructor *) zstr_free);
    for (s_entry_t *entry = zhashx_first (self->entries); entry; entry = zhashx_next (self->entries))
        if (!entry->metadata)
            zlistx_add_end (pending, entry->msg_id);
    static const char metadata [] = "{\"status\": \"error\"}";
    for (char *msg_id = zlistx_first (pending); msg_id; msg_id = zlistx_next (pending))
        zpar_hub_results_answer (self, msg_id, metadata, strlen (metadata), content, strlen (content));
    size_t count = zlistx_size (pending);
    zlistx_destroy (&pending);
    return count;
}

size_t
zpar_hub_results_count (zpar_hub_results_t *self)
{
    return self->count;
}
