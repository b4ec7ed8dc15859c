/*  zpar_view.c - direct and balanced views, and apply.                  */

#include "zpar_client_int.h"

#include "zpar_util.h"

struct _zpar_view_t {
    zpar_client_t *client;
    bool balanced;
    bool all;                   //  resolve to every engine at each call
    int *ids;
    size_t count;
};

//  Largest engine id a target list may name.
#define S_ID_MAX 1000000

static zpar_view_t *
s_view_new (zpar_client_t *client)
{
    zpar_view_t *self = calloc (1, sizeof *self);
    self->client = client;
    return self;
}

void
zpar_view_destroy (zpar_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ids);
    free (*self_p);
    *self_p = NULL;
}

zpar_view_t *
zpar_client_balanced (zpar_client_t *client)
{
    zpar_view_t *self = s_view_new (client);
    self->balanced = true;
    return self;
}

zpar_view_t *
zpar_client_direct_ids (zpar_client_t *client, const int *ids, size_t count)
{
    if (!ids || !count)
        return zpar_fail ("a direct view needs at least one engine id");
    zpar_view_t *self = s_view_new (client);
    self->ids = calloc (count, sizeof *self->ids);
    //  Each engine once, in the order first named.
    for (size_t i = 0; i < count; i++) {
        size_t seen = 0;
        while (seen < self->count && self->ids [seen] != ids [i])
            seen++;
        if (seen == self->count)
            self->ids [self->count++] = ids [i];
    }
    return self;
}

//  "0,2" or "1-3,5": ids in the order written.
zpar_view_t *
zpar_client_direct (zpar_client_t *client, const char *targets)
{
    if (!targets || streq (targets, ZPAR_ALL)) {
        zpar_view_t *self = s_view_new (client);
        self->all = true;
        return self;
    }
    int *ids = NULL;
    size_t count = 0;
    const char *cursor = targets;
    while (*cursor) {
        char *end;
        long first = strtol (cursor, &end, 10), last = first;
        if (end == cursor || first < 0 || first > S_ID_MAX)
            goto bad;
        if (*end == '-') {
            cursor = end + 1;
            last = strtol (cursor, &end, 10);
            if (end == cursor || last < first || last > S_ID_MAX || last - first > 100000)
                goto bad;
        }
        if (*end && *end != ',')
            goto bad;
        int *grown = realloc (ids, (count + (size_t) (last - first) + 1) * sizeof *ids);
        if (!grown)
            goto bad;
        ids = grown;
        for (long id = first; id <= last; id++)
            ids [count++] = (int) id;
        cursor = *end? end + 1: end;
        if (*end == ',' && !*cursor)
            goto bad;
    }
    if (!count)
        goto bad;
    zpar_view_t *self = zpar_client_direct_ids (client, ids, count);
    free (ids);
    return self;
bad:
    free (ids);
    return zpar_fail ("bad target list \"%s\": use \"all\" or ids such as 0,2 or 1-3", targets);
}

json_t *
zpar_view_targets (zpar_view_t *self)
{
    if (self->all || self->balanced)
        return zpar_client_ids (self->client);
    json_t *ids = json_array ();
    for (size_t i = 0; i < self->count; i++)
        json_array_append_new (ids, json_integer (self->ids [i]));
    return ids;
}

static zpar_msg_t *
s_apply_request (zpar_client_t *client, const char *fn, json_t *args, json_t *kwargs)
{
    zpar_msg_t *msg = zpar_msg_new ("apply_request", client->session);
    json_t *content = json_pack ("{s:s}", "fn", fn);
    json_object_set_new (content, "args", args? json_incref (args): json_array ());
    json_object_set_new (content, "kwargs", kwargs? json_incref (kwargs): json_object ());
    zpar_msg_set_content (msg, content);
    return msg;
}

zpar_result_t *
zpar_view_apply_kw_async (zpar_view_t *self, const char *fn, json_t *args, json_t *kwargs)
{
    zpar_client_t *client = self->client;
    if (!fn || !*fn)
        return zpar_fail ("apply needs a function name");
    if ((args && !json_is_array (args)) || (kwargs && !json_is_object (kwargs)))
        return zpar_fail ("apply needs args as a JSON array and kwargs as a JSON object");
    if (client->shut_down)
        return zpar_fail ("the cluster has shut down");
    if (!(self->balanced? client->task: client->mux))
        return zpar_fail ("the cluster's %s scheduler was not registered when this client "
                          "connected (is zpar-scheduler running?)", self->balanced? "task": "mux");
    //  Take in notifications that already arrived so "all" is current.
    if (self->all)
        while (zpar_client_pump (client, 0) == 0)
            ;
    if (self->balanced) {
        zpar_result_t *result = zpar_result_new (client, 1, true);
        zpar_msg_t *msg = s_apply_request (client, fn, args, kwargs);
        zpar_client_send (client, client->task, NULL, &msg, result, 0);
        return result;
    }
    json_t *ids = zpar_view_targets (self);
    size_t count = json_array_size (ids);
    if (!count) {
        json_decref (ids);
        return zpar_fail ("no engines are registered");
    }
    for (size_t i = 0; i < count; i++) {
        int id = (int) json_integer_value (json_array_get (ids, i));
        if (!zpar_client_uuid (client, id)) {
            json_decref (ids);
            return zpar_fail ("engine %d is not registered", id);
        }
    }
    zpar_result_t *result = zpar_result_new (client, count, false);
    for (size_t i = 0; i < count; i++) {
        int id = (int) json_integer_value (json_array_get (ids, i));
        result->items [i].engine_id = id;
        zpar_msg_t *msg = s_apply_request (client, fn, args, kwargs);
        zpar_client_send (client, client->mux, zpar_client_uuid (client, id), &msg, result, i);
    }
    json_decref (ids);
    return result;
}

zpar_result_t *
zpar_view_apply_async (zpar_view_t *self, const char *fn, json_t *args)
{
    return zpar_view_apply_kw_async (self, fn, args, NULL);
}

json_t *
zpar_view_apply_sync (zpar_view_t *self, const char *fn, json_t *args, json_t **error)
{
    if (error)
        *error = NULL;
    zpar_result_t *result = zpar_view_apply_async (self, fn, args);
    if (!result) {
        if (error)
            *error = zpar_error_new (ZPAR_E_VALUE, -1, "%s", zpar_last_error ());
        return NULL;
    }
    json_t *value = NULL;
    if (zpar_result_wait (result, -1) == 0) {
        value = json_incref (zpar_result_get (result));
        if (!value) {
            json_t *failure = zpar_result_error (result);
            zpar_fail ("%s: %s", json_string_value (json_object_get (failure, "ename")),
                       json_string_value (json_object_get (failure, "evalue")));
            if (error)
                *error = json_incref (failure);
        }
    }
    else
    if (error)
        *error = zpar_error_new ("InterruptedError", -1, "%s", zpar_last_error ());
    zpar_result_destroy (&result);
    return value;
}
