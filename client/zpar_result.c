/*  zpar_result.c - results of calls and maps: wait, ready, get, errors,
    progress, and per item what ran where and what it printed.          */

#include "zpar_client_int.h"

#include "zpar_util.h"

zpar_result_t *
zpar_result_new (zpar_client_t *client, size_t size, size_t nparts, bool single)
{
    zpar_result_t *self = calloc (1, sizeof *self);
    self->client = client;
    self->single = single;
    self->size = size;
    self->nparts = nparts;
    self->items = calloc (size? size: 1, sizeof *self->items);
    self->parts = calloc (nparts? nparts: 1, sizeof *self->parts);
    for (size_t i = 0; i < nparts; i++)
        self->parts [i] = (zpar_part_t) {
            .result = self, .engine_id = -1, .first = i < size? i: size, .count = i < size? 1: 0
        };
    for (size_t i = 0; i < size; i++)
        self->items [i].part = i < nparts? i: 0;
    self->handle = zlistx_add_end (client->results, self);
    return self;
}

void
zpar_result_destroy (zpar_result_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_result_t *self = *self_p;
    zpar_client_t *client = self->client;
    for (size_t i = 0; i < self->nparts; i++) {
        zpar_part_t *part = &self->parts [i];
        if (client && part->msg_id)
            zpar_table_delete (client->calls, part->msg_id);
        free (part->msg_id);
        free (part->engine_uuid);
        free (part->out);
        free (part->metadata_text);
        zpar_parts_free (&part->buffers);
        json_decref (part->buffer_counts);
        free (part->content);
        json_decref (part->flags);
        json_decref (part->metadata);
    }
    for (size_t i = 0; i < self->size; i++) {
        json_decref (self->items [i].value);
        json_decref (self->items [i].error);
    }
    if (client && self->handle)
        zlistx_delete (client->results, self->handle);
    free (self->items);
    free (self->parts);
    json_decref (self->values);
    json_decref (self->error);
    free (self);
    *self_p = NULL;
}

static void
s_item_answer (zpar_result_t *self, size_t index, json_t *value, json_t *error)
{
    zpar_item_t *item = &self->items [index];
    if (item->done) {
        json_decref (value);
        json_decref (error);
        return;
    }
    //  Never answered with nothing: that would read as success.
    if (!value && !error)
        error = zpar_error_new ("Error", self->parts [item->part].engine_id,
                                "the answer could not be read");
    item->done = true;
    item->value = value;
    item->error = error;
    self->done++;
}

void
zpar_result_settle (zpar_result_t *self, size_t index, json_t *value, json_t *error,
                    json_t *errors, zmq_msg_t *metadata)
{
    zpar_part_t *part = &self->parts [index];
    if (part->done) {
        json_decref (value);
        json_decref (error);
        json_decref (errors);
        return;
    }
    part->done = true;
    if (metadata && (part->metadata_text = malloc (zmq_msg_size (metadata) + 1))) {
        memcpy (part->metadata_text, zmq_msg_data (metadata), zmq_msg_size (metadata));
        part->metadata_size = zmq_msg_size (metadata);
    }
    for (size_t k = 0; k < part->count; k++) {
        size_t i = part->first + k;
        if (error)
            s_item_answer (self, i, NULL, json_incref (error));
        else
        if (!part->chunk)
            s_item_answer (self, i, json_incref (value), NULL);
        else {
            //  A chunk answers a list; a missing entry is an error.
            char key [24];
            snprintf (key, sizeof key, "%zu", k);
            json_t *failed = json_object_get (errors, key);
            json_t *each = json_array_get (value, k);
            if (failed)
                s_item_answer (self, i, NULL, zpar_error_new (
                    json_string_value (json_object_get (failed, "ename"))?: "Error", part->engine_id,
                    "%s", json_string_value (json_object_get (failed, "evalue"))?: "(no message)"));
            else
                s_item_answer (self, i, each? json_incref (each): NULL, NULL);
        }
    }
    json_decref (value);
    json_decref (error);
    json_decref (errors);
}

void
zpar_result_fail (zpar_result_t *self, size_t index, json_t *error)
{
    zpar_result_settle (self, index, NULL, error, NULL, NULL);
}

int
zpar_result_wait (zpar_result_t *self, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0? INT64_MAX: zpar_mono_ms () + timeout_ms;
    while (self->done < self->size) {
        if (!self->client) {
            zpar_fail ("the client of this result was destroyed");
            return -1;
        }
        int64_t left = deadline - zpar_mono_ms ();
        if (left <= 0) {
            zpar_fail ("%zu of %zu answers came within %d ms", self->done, self->size, timeout_ms);
            return -1;
        }
        zpar_client_pump (self->client, left > INT32_MAX? -1: (int) left);
    }
    return 0;
}

bool
zpar_result_ready (zpar_result_t *self)
{
    //  Take in whatever already arrived, without blocking.
    while (self->done < self->size && self->client && zpar_client_pump (self->client, 0) == 0)
        ;
    return self->done == self->size;
}

bool
zpar_result_successful (zpar_result_t *self)
{
    if (!zpar_result_ready (self))
        return false;
    for (size_t i = 0; i < self->size; i++)
        if (self->items [i].error)
            return false;
    return true;
}

json_t *
zpar_result_get (zpar_result_t *self)
{
    if (!zpar_result_successful (self))
        return NULL;
    if (!self->values) {
        if (self->single)
            self->values = json_incref (self->items [0].value);
        else {
            self->values = json_array ();
            for (size_t i = 0; i < self->size; i++)
                json_array_append (self->values, self->items [i].value);
        }
    }
    return self->values;
}

json_t *
zpar_result_error (zpar_result_t *self)
{
    if (!zpar_result_ready (self) || self->error)
        return self->error;
    size_t failed = 0, first = 0;
    for (size_t i = 0; i < self->size; i++)
        if (self->items [i].error && !failed++)
            first = i;
    if (!failed)
        return NULL;
    if (self->size == 1) {
        self->error = json_incref (self->items [first].error);
        return self->error;
    }
    //  Several calls: one CompositeError that lists each failure, as
    //  IPython Parallel raises.
    json_t *errors = json_array ();
    char evalue [512];
    size_t used = (size_t) snprintf (evalue, sizeof evalue, "%zu of %zu calls failed:", failed, self->size);
    for (size_t i = 0; i < self->size; i++) {
        json_t *error = self->items [i].error;
        if (!error)
            continue;
        json_array_append (errors, error);
        if (used < sizeof evalue)
            used += (size_t) snprintf (evalue + used, sizeof evalue - used, " [%d] %s: %s;",
                zpar_result_engine_id (self, i),
                json_string_value (json_object_get (error, "ename")),
                json_string_value (json_object_get (error, "evalue")));
    }
    self->error = json_pack ("{s:s, s:s, s:i, s:o}", "ename", ZPAR_E_COMPOSITE,
                             "evalue", zpar_utf8_clean (evalue), "engine_id", -1, "errors", errors);
    return self->error;
}

size_t zpar_result_size (zpar_result_t *self) { return self->size; }

size_t
zpar_result_done (zpar_result_t *self)
{
    zpar_result_ready (self);
    return self->done;
}

void
zpar_result_progress (zpar_result_t *self, size_t *done, size_t *total)
{
    zpar_result_ready (self);
    if (done)
        *done = self->done;
    if (total)
        *total = self->size;
}

static zpar_item_t *
s_item (zpar_result_t *self, size_t index)
{
    return index < self->size? &self->items [index]: NULL;
}

static zpar_part_t *
s_part (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item? &self->parts [item->part]: NULL;
}

json_t *
zpar_result_item (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item? item->value: NULL;
}

json_t *
zpar_result_item_error (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item? item->error: NULL;
}

int
zpar_result_engine_id (zpar_result_t *self, size_t index)
{
    zpar_part_t *part = s_part (self, index);
    return part? part->engine_id: -1;
}

const char *
zpar_result_msg_id (zpar_result_t *self, size_t index)
{
    zpar_part_t *part = s_part (self, index);
    return part? part->msg_id: NULL;
}

json_t *
zpar_result_msg_ids (zpar_result_t *self)
{
    json_t *ids = json_array ();
    for (size_t i = 0; i < self->nparts; i++)
        if (self->parts [i].msg_id)
            json_array_append_new (ids, json_string (self->parts [i].msg_id));
    return ids;
}

//  The metadata of a part that ended, parsed on first use: most callers
//  of a big map never look at it.
static json_t *
s_part_metadata (zpar_part_t *part)
{
    if (!part->done)
        return NULL;
    if (!part->metadata) {
        //  As every frame is read: duplicate keys refused.
        json_t *parsed = part->metadata_text
            ? json_loadb (part->metadata_text, part->metadata_size, JSON_REJECT_DUPLICATES, NULL): NULL;
        part->metadata = json_is_object (parsed)? parsed: json_object ();
        if (part->metadata != parsed)
            json_decref (parsed);
        if (*part->submitted)
            json_object_set_new (part->metadata, "submitted", json_string (part->submitted));
        const char *output = json_string_value (json_object_get (part->metadata, "output"));
        if (output && !part->out)
            part->out = strdup (output);
        free (part->metadata_text);
        part->metadata_text = NULL;
    }
    return part->metadata;
}

json_t *
zpar_result_metadata (zpar_result_t *self, size_t index)
{
    zpar_part_t *part = s_part (self, index);
    return part? s_part_metadata (part): NULL;
}

const char *
zpar_result_stdout (zpar_result_t *self, size_t index)
{
    zpar_part_t *part = s_part (self, index);
    if (part)
        s_part_metadata (part);
    return part && part->out? part->out: "";
}

size_t
zpar_result_buffers (zpar_result_t *self, size_t index)
{
    if (!self || index >= self->size)
        return 0;
    zpar_part_t *part = &self->parts [self->items [index].part];
    if (part->chunk)
        //  A map's input: its own share of the chunk's buffers.
        return (size_t) json_integer_value (json_array_get (part->buffer_counts, index - part->first));
    return part->buffers.count;
}

const void *
zpar_result_buffer (zpar_result_t *self, size_t index, size_t buffer, size_t *size)
{
    if (!self || index >= self->size)
        return NULL;
    zpar_part_t *part = &self->parts [self->items [index].part];
    if (buffer >= zpar_result_buffers (self, index))
        return NULL;
    //  A map's input: its buffers come after those of the inputs before it.
    for (size_t before = part->first; part->chunk && before < index; before++)
        buffer += (size_t) json_integer_value (json_array_get (part->buffer_counts, before - part->first));
    if (buffer >= part->buffers.count)
        return NULL;
    zmq_msg_t *frame = &part->buffers.part [buffer];
    if (size)
        *size = zmq_msg_size (frame);
    return zmq_msg_data (frame);
}
