/*  zpar_result.c - results of calls: wait, ready, get, errors.          */

#include "zpar_client_int.h"

#include "zpar_util.h"

zpar_result_t *
zpar_result_new (zpar_client_t *client, size_t size, bool single)
{
    zpar_result_t *self = calloc (1, sizeof *self);
    self->client = client;
    self->single = single;
    self->size = size;
    self->items = calloc (size? size: 1, sizeof *self->items);
    for (size_t i = 0; i < size; i++)
        self->items [i].engine_id = -1;
    zlistx_add_end (client->results, self);
    return self;
}

void
zpar_result_destroy (zpar_result_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_result_t *self = *self_p;
    zpar_client_t *client = self->client;
    for (size_t i = 0; i < self->size; i++) {
        zpar_item_t *item = &self->items [i];
        if (client && item->msg_id)
            zhashx_delete (client->calls, item->msg_id);
        free (item->msg_id);
        free (item->engine_uuid);
        free (item->out);
        json_decref (item->value);
        json_decref (item->error);
        json_decref (item->metadata);
    }
    if (client) {
        void *handle = zlistx_find (client->results, self);
        if (handle)
            zlistx_delete (client->results, handle);
    }
    free (self->items);
    json_decref (self->values);
    json_decref (self->error);
    free (self);
    *self_p = NULL;
}

void
zpar_result_settle (zpar_result_t *self, size_t index, json_t *value, json_t *error, json_t *metadata)
{
    zpar_item_t *item = &self->items [index];
    if (item->done) {
        json_decref (value);
        json_decref (error);
        json_decref (metadata);
        return;
    }
    item->done = true;
    //  Never answered with nothing: that would read as success.
    if (!value && !error)
        error = zpar_error_new ("Error", item->engine_id, "the answer could not be read");
    item->value = value;
    item->error = error;
    item->metadata = metadata;
    self->done++;
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
            zpar_fail ("%zu of %zu calls answered within %d ms", self->done, self->size, timeout_ms);
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
                self->items [i].engine_id,
                json_string_value (json_object_get (error, "ename")),
                json_string_value (json_object_get (error, "evalue")));
    }
    self->error = json_pack ("{s:s, s:s, s:i, s:o}", "ename", ZPAR_E_COMPOSITE,
                             "evalue", evalue, "engine_id", -1, "errors", errors);
    return self->error;
}

size_t zpar_result_size (zpar_result_t *self) { return self->size; }

size_t
zpar_result_done (zpar_result_t *self)
{
    zpar_result_ready (self);
    return self->done;
}

static zpar_item_t *
s_item (zpar_result_t *self, size_t index)
{
    return index < self->size? &self->items [index]: NULL;
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
    zpar_item_t *item = s_item (self, index);
    return item? item->engine_id: -1;
}

const char *
zpar_result_msg_id (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item? item->msg_id: NULL;
}

json_t *
zpar_result_metadata (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item? item->metadata: NULL;
}

const char *
zpar_result_stdout (zpar_result_t *self, size_t index)
{
    zpar_item_t *item = s_item (self, index);
    return item && item->out? item->out: "";
}
