/*  zpar_view.c - direct and balanced views: apply and map, and the flags
    a balanced view puts on its tasks (retries, timeout, after, follow,
    targets).                                                            */

#include "zpar_client_int.h"

#include "zpar_util.h"

struct _zpar_view_t {
    zpar_client_t *client;
    bool balanced;
    bool all;                   //  resolve to every engine at each call
    bool broadcast;             //  apply: one message for all, through the broadcast role
    int *ids;
    size_t count;
    json_t *flags;              //  balanced: metadata for every task
};

//  Largest engine id a target list may name.
#define S_ID_MAX 1000000

static zpar_view_t *
s_view_new (zpar_client_t *client)
{
    zpar_view_t *self = calloc (1, sizeof *self);
    self->client = client;
    self->flags = json_object ();
    return self;
}

void
zpar_view_destroy (zpar_view_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->ids);
    json_decref ((*self_p)->flags);
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

zpar_view_t *
zpar_client_broadcast (zpar_client_t *client, const char *targets)
{
    zpar_view_t *self = zpar_client_direct (client, targets);
    if (self)
        self->broadcast = true;
    return self;
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

//  -- flags of a balanced view --------------------------------------------

int
zpar_view_set_retries (zpar_view_t *self, int retries)
{
    if (retries < 0 || retries > 1000) {
        zpar_fail ("retries must be from 0 to 1000, not %d", retries);
        return -1;
    }
    json_object_set_new (self->flags, "retries", json_integer (retries));
    return 0;
}

//  A flag in seconds (timeout, walltime): 0 removes it.
static int
s_set_seconds (zpar_view_t *self, const char *flag, double seconds)
{
    if (!(seconds >= 0 && seconds <= ZPAR_TIMEOUT_MAX)) {
        zpar_fail ("a %s is a number of seconds up to %g, 0 for none", flag, ZPAR_TIMEOUT_MAX);
        return -1;
    }
    if (seconds == 0)
        json_object_del (self->flags, flag);
    else
        json_object_set_new (self->flags, flag, json_real (seconds));
    return 0;
}

int
zpar_view_set_timeout (zpar_view_t *self, double seconds)
{
    return s_set_seconds (self, "timeout", seconds);
}

int
zpar_view_set_walltime (zpar_view_t *self, double seconds)
{
    return s_set_seconds (self, "walltime", seconds);
}

static int
s_set_dependency (zpar_view_t *self, const char *kind, json_t *msg_ids, bool all, bool success, bool failure)
{
    if (!msg_ids || !json_array_size (msg_ids)) {
        json_object_del (self->flags, kind);
        return 0;
    }
    if (!success && !failure) {
        zpar_fail ("%s with neither success nor failure could never be met", kind);
        return -1;
    }
    size_t i;
    json_t *id;
    json_array_foreach (msg_ids, i, id)
        if (!json_is_string (id)) {
            zpar_fail ("%s takes a list of msg_ids (strings)", kind);
            return -1;
        }
    json_object_set_new (self->flags, kind, json_pack ("{s:O, s:b, s:b, s:b}", "msg_ids", msg_ids,
                                                       "all", all, "success", success, "failure", failure));
    return 0;
}

int
zpar_view_set_after (zpar_view_t *self, json_t *msg_ids, bool all, bool success, bool failure)
{
    return s_set_dependency (self, "after", msg_ids, all, success, failure);
}

int
zpar_view_set_follow (zpar_view_t *self, json_t *msg_ids, bool all, bool success, bool failure)
{
    return s_set_dependency (self, "follow", msg_ids, all, success, failure);
}

int
zpar_view_set_targets (zpar_view_t *self, const char *targets)
{
    if (!targets || streq (targets, ZPAR_ALL)) {
        json_object_del (self->flags, "targets");
        return 0;
    }
    zpar_view_t *parsed = zpar_client_direct (self->client, targets);
    if (!parsed)
        return -1;
    json_object_set_new (self->flags, "targets", zpar_view_targets (parsed));
    zpar_view_destroy (&parsed);
    return 0;
}

//  -- apply and map --------------------------------------------------------

//  Requests of a map built before any of them is sent (see map_async).
#define S_SEND_BATCH 128

//  A request for fn with args, or for a chunk (a list of argument lists).
static zpar_msg_t *
s_apply_request (zpar_view_t *view, const char *fn, json_t *args, json_t *chunk, json_t *kwargs)
{
    zpar_msg_t *msg = zpar_msg_new ("apply_request", view->client->session);
    json_t *content = json_pack ("{s:s}", "fn", fn);
    if (chunk)
        json_object_set_new (content, "chunk", chunk);
    else
        json_object_set_new (content, "args", args? json_incref (args): json_array ());
    json_object_set_new (content, "kwargs", kwargs? json_incref (kwargs): json_object ());
    zpar_msg_set_content (msg, content);
    if (view->balanced && json_object_size (view->flags))
        zpar_msg_set_metadata (msg, json_deep_copy (view->flags));
    return msg;
}

//  Waits for result and returns its value (caller owns), or NULL with the
//  error in *error; destroys result.
static json_t *
s_sync (zpar_result_t *result, json_t **error)
{
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

//  Checks what every call needs, and takes in notifications that already
//  arrived so that "all" is current. The engine ids a direct view
//  addresses (caller owns), or for a balanced view an empty list; NULL
//  when the call cannot be made (zpar_last_error says why).
static json_t *
s_prepare (zpar_view_t *self, const char *fn)
{
    zpar_client_t *client = self->client;
    if (!fn || !*fn)
        return zpar_fail ("a call needs a function name");
    if (client->shut_down)
        return zpar_fail ("the cluster has shut down");
    zpar_client_find_schedulers (client);
    if (!(self->balanced? client->task: client->mux))
        return zpar_fail ("the cluster's %s scheduler is not registered (is zpar-scheduler running?)",
                          self->balanced? "task": "mux");
    if (self->balanced) {
        //  Targets none of which is registered: fail now, as a scheduler
        //  would fail the task unreachable, rather than wait for one.
        json_t *targets = json_object_get (self->flags, "targets");
        if (!targets)
            return json_array ();
        while (zpar_client_pump (client, 0) == 0)
            ;
        size_t i;
        json_t *id;
        json_array_foreach (targets, i, id)
            if (zpar_client_uuid (client, (int) json_integer_value (id)))
                return json_array ();
        return zpar_fail ("none of the target engines is registered");
    }
    if (self->all)
        while (zpar_client_pump (client, 0) == 0)
            ;
    json_t *ids = zpar_view_targets (self);
    if (!json_array_size (ids)) {
        json_decref (ids);
        return zpar_fail ("no engines are registered");
    }
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        if (!zpar_client_uuid (client, (int) json_integer_value (id))) {
            zpar_fail ("engine %d is not registered", (int) json_integer_value (id));
            json_decref (ids);
            return NULL;
        }
    return ids;
}

//  Sends part index of result: to the task scheduler (engine < 0) or to
//  engine through mux.
static void
s_send_part (zpar_view_t *self, zpar_result_t *result, size_t index, int engine, zpar_msg_t *msg)
{
    zpar_client_t *client = self->client;
    result->parts [index].engine_id = engine;
    if (engine < 0)
        zpar_client_send (client, client->task, NULL, &msg, result, index);
    else
        zpar_client_send (client, client->mux, zpar_client_uuid (client, engine), &msg, result, index);
}

//  One request for every engine of ids (taken), through the broadcast
//  scheduler: its metadata names them, and one reply answers them all.
static zpar_result_t *
s_broadcast (zpar_view_t *self, const char *fn, json_t *args, json_t *kwargs,
             const zpar_buffer_t *buffers, size_t nbuffers, json_t *ids)
{
    zpar_client_t *client = self->client;
    zpar_client_find_broadcast (client);
    if (!client->broadcast) {
        json_decref (ids);
        return zpar_fail ("the cluster's broadcast scheduler is not registered (is zpar-scheduler running?)");
    }
    size_t count = json_array_size (ids);
    zpar_result_t *result = zpar_result_new (client, count, count, false);
    zpar_msg_t *msg = s_apply_request (self, fn, args, NULL, kwargs);
    for (size_t b = 0; b < nbuffers; b++)
        zpar_msg_add_buffer (msg, buffers [b].data, buffers [b].size);
    json_t *metadata = json_pack ("{s:O}", "targets", ids);
    if (nbuffers)
        json_object_set_new (metadata, "buffers", json_integer ((json_int_t) nbuffers));
    zpar_msg_set_metadata (msg, metadata);
    zpar_client_send_broadcast (client, &msg, result, ids);
    json_decref (ids);
    return result;
}

//  A map's request for a chunk of inputs, its content written as text:
//  a map sends many, and building each as a JSON object to encode it
//  costs more than the call's whole trip through the scheduler. fn_json
//  is fn as a JSON string; takes chunk. A chunk of one input without
//  buffers goes as a plain call (plain: its args), which costs the
//  engine and the client less than a list of one.
static zpar_msg_t *
s_chunk_request (zpar_view_t *view, const char *fn, const char *fn_json, json_t *chunk, bool plain)
{
    json_t *args = plain? json_array_get (chunk, 0): chunk;
    char *inputs = fn_json? json_dumps (args, JSON_COMPACT): NULL;
    if (!inputs) {
        if (!plain)
            return s_apply_request (view, fn, NULL, chunk, NULL);
        zpar_msg_t *msg = s_apply_request (view, fn, args, NULL, NULL);
        json_decref (chunk);
        return msg;
    }
    json_decref (chunk);
    zpar_msg_t *msg = zpar_msg_new ("apply_request", view->client->session);
    size_t size = strlen (fn_json) + strlen (inputs) + 32;
    char *content = malloc (size);
    int length = snprintf (content, size, "{\"fn\":%s,\"%s\":%s,\"kwargs\":{}}", fn_json,
                           plain? "args": "chunk", inputs);
    zpar_msg_set_text (msg, ZPAR_FRAME_CONTENT, content, (size_t) length);
    free (content);
    free (inputs);
    if (view->balanced && json_object_size (view->flags))
        zpar_msg_set_metadata (msg, json_deep_copy (view->flags));
    return msg;
}

//  A map's buffers, one an input: with the chunk's request, each input's
//  count in its content, and in its metadata how many in all (the hub's
//  record has none, so it cannot be resubmitted from there).
static void
s_chunk_buffers (zpar_msg_t *msg, const zpar_buffer_t *buffers, size_t count)
{
    json_t *shares = json_array ();
    for (size_t i = 0; i < count; i++) {
        zpar_msg_add_buffer (msg, buffers [i].data, buffers [i].size);
        json_array_append_new (shares, json_integer (1));
    }
    json_t *content = json_deep_copy (zpar_msg_content (msg));
    json_object_set_new (content, "chunk_buffers", shares);
    zpar_msg_set_content (msg, content);
    json_t *metadata = json_deep_copy (zpar_msg_metadata (msg));
    if (!json_is_object (metadata)) {
        json_decref (metadata);
        metadata = json_object ();
    }
    json_object_set_new (metadata, "buffers", json_integer ((json_int_t) count));
    zpar_msg_set_metadata (msg, metadata);
}

zpar_result_t *
zpar_view_apply_kw_async (zpar_view_t *self, const char *fn, json_t *args, json_t *kwargs)
{
    return zpar_view_apply_buffers_async (self, fn, args, kwargs, NULL, 0);
}

zpar_result_t *
zpar_view_apply_buffers_async (zpar_view_t *self, const char *fn, json_t *args, json_t *kwargs,
                               const zpar_buffer_t *buffers, size_t nbuffers)
{
    if ((args && !json_is_array (args)) || (kwargs && !json_is_object (kwargs)))
        return zpar_fail ("apply needs args as a JSON array and kwargs as a JSON object");
    //  What no scheduler would take is refused here, saying why (the
    //  whole message is measured again when it goes).
    size_t bytes = 0, limit = (size_t) self->client->max_size;
    for (size_t b = 0; b < nbuffers; b++) {
        if (buffers [b].size > limit - bytes)
            return zpar_fail ("the buffers are over the cluster's message limit of %zu bytes "
                              "(ipcluster start --max-message-size)", limit);
        bytes += buffers [b].size;
    }
    json_t *ids = s_prepare (self, fn);
    if (!ids)
        return NULL;
    if (self->broadcast)
        return s_broadcast (self, fn, args, kwargs, buffers, nbuffers, ids);
    size_t count = self->balanced? 1: json_array_size (ids);
    zpar_result_t *result = zpar_result_new (self->client, count, count, self->balanced);
    for (size_t i = 0; i < count; i++) {
        zpar_msg_t *msg = s_apply_request (self, fn, args, NULL, kwargs);
        for (size_t b = 0; b < nbuffers; b++)
            zpar_msg_add_buffer (msg, buffers [b].data, buffers [b].size);
        //  Said in the metadata: the hub's record of the task has no
        //  buffers, so it cannot be resubmitted from there.
        if (nbuffers) {
            json_t *metadata = json_deep_copy (zpar_msg_metadata (msg));
            if (!json_is_object (metadata)) {
                json_decref (metadata);
                metadata = json_object ();
            }
            json_object_set_new (metadata, "buffers", json_integer ((json_int_t) nbuffers));
            zpar_msg_set_metadata (msg, metadata);
        }
        s_send_part (self, result, i, self->balanced? -1: (int) json_integer_value (json_array_get (ids, i)),
                     msg);
    }
    json_decref (ids);
    return result;
}

zpar_result_t *
zpar_view_map_async (zpar_view_t *self, const char *fn, json_t *inputs, size_t chunksize)
{
    return zpar_view_map_buffers_async (self, fn, inputs, NULL, chunksize);
}

zpar_result_t *
zpar_view_map_buffers_async (zpar_view_t *self, const char *fn, json_t *inputs,
                             const zpar_buffer_t *buffers, size_t chunksize)
{
    if (!json_is_array (inputs))
        return zpar_fail ("map needs its inputs as a JSON array of argument lists");
    size_t i, size = json_array_size (inputs);
    json_t *args;
    json_array_foreach (inputs, i, args)
        if (!json_is_array (args))
            return zpar_fail ("map input %zu is not an argument list (a JSON array)", i);
    json_t *ids = s_prepare (self, fn);
    if (!ids)
        return NULL;
    //  A balanced map sends chunksize inputs a task (default one); a
    //  direct one gives each engine a contiguous share, in chunks of
    //  chunksize when set.
    size_t engines = json_array_size (ids);
    if (!chunksize)
        chunksize = self->balanced? 1: (size + engines - 1) / (engines? engines: 1);
    if (chunksize > size)
        chunksize = size? size: 1;      //  and no overflow below
    if (!chunksize)
        chunksize = 1;
    size_t nparts = (size + chunksize - 1) / chunksize;
    zpar_result_t *result = zpar_result_new (self->client, size, nparts, false);
    //  Room for every part's call at once: no rehash while they go out.
    zpar_table_reserve (self->client->calls, nparts);
    for (size_t p = 0; p < nparts; p++) {
        zpar_part_t *part = &result->parts [p];
        part->first = p * chunksize;
        part->count = part->first + chunksize <= size? chunksize: size - part->first;
        //  One input without buffers goes as a plain call (s_chunk_request).
        part->chunk = part->count > 1 || buffers;
        for (size_t k = 0; k < part->count; k++)
            result->items [part->first + k].part = p;
    }
    //  Requests are built and signed a batch at a time, then sent back to
    //  back: the scheduler and engines then find them in bursts, and each
    //  wakes once for many instead of once for each.
    zpar_msg_t *batch [S_SEND_BATCH];
    int engine_of [S_SEND_BATCH];
    json_t *name = json_string (fn);
    char *fn_json = json_dumps (name, JSON_ENCODE_ANY);
    json_decref (name);
    size_t batched = 0;
    for (size_t p = 0; p < nparts; p++) {
        zpar_part_t *part = &result->parts [p];
        json_t *chunk = json_array ();
        for (size_t k = 0; k < part->count; k++)
            json_array_append (chunk, json_array_get (inputs, part->first + k));
        //  Direct: each engine a contiguous run of chunks (one chunk each
        //  without a chunksize).
        int engine = self->balanced? -1
                   : (int) json_integer_value (json_array_get (ids, engines * p / nparts));
        zpar_msg_t *msg = s_chunk_request (self, fn, fn_json, chunk, !part->chunk);
        if (buffers)
            s_chunk_buffers (msg, buffers + part->first, part->count);
        zpar_msg_size (msg, self->client->signer);          //  signs it
        engine_of [batched] = engine;
        batch [batched++] = msg;
        if (batched == S_SEND_BATCH || p + 1 == nparts) {
            for (size_t b = 0; b < batched; b++)
                s_send_part (self, result, p + 1 - batched + b, engine_of [b], batch [b]);
            batched = 0;
        }
    }
    free (fn_json);
    json_decref (ids);
    return result;
}

int
zpar_view_abort (zpar_view_t *self, zpar_result_t *result)
{
    if (!result || !result->client) {
        zpar_fail ("abort needs a result of a live client");
        return -1;
    }
    json_t *ids = json_array ();
    for (size_t i = 0; i < result->nparts; i++)
        if (!result->parts [i].done && result->parts [i].msg_id)
            json_array_append_new (ids, json_string (result->parts [i].msg_id));
    int rc = json_array_size (ids)? zpar_client_abort (self->client, ids): 0;
    json_decref (ids);
    return rc;
}

zpar_result_t *
zpar_view_resubmit (zpar_view_t *self, zpar_result_t *result)
{
    if (!self->balanced)
        return zpar_fail ("resubmit goes through a balanced view");
    if (!result || !result->client)
        return zpar_fail ("resubmit needs a result of a live client");
    for (size_t i = 0; i < result->nparts; i++)
        if (result->parts [i].sent_buffers)
            return zpar_fail ("call %zu of the result had binary buffers, which are not kept: "
                              "make the call again", i);
        else
        if (!result->parts [i].content)
            return zpar_fail ("call %zu of the result was never sent: nothing to send again", i);
    json_t *ids = s_prepare (self, "resubmit");
    if (!ids)
        return NULL;
    json_decref (ids);
    zpar_result_t *again = zpar_result_new (self->client, result->size, result->nparts, result->single);
    for (size_t p = 0; p < result->nparts; p++) {
        again->parts [p].first = result->parts [p].first;
        again->parts [p].count = result->parts [p].count;
        again->parts [p].chunk = result->parts [p].chunk;
    }
    for (size_t i = 0; i < result->size; i++)
        again->items [i].part = result->items [i].part;
    for (size_t p = 0; p < result->nparts; p++) {
        zpar_msg_t *msg = zpar_msg_new ("apply_request", self->client->session);
        zpar_msg_set_text (msg, ZPAR_FRAME_CONTENT, result->parts [p].content, result->parts [p].content_size);
        if (json_object_size (self->flags))
            zpar_msg_set_metadata (msg, json_deep_copy (self->flags));
        s_send_part (self, again, p, -1, msg);
    }
    return again;
}

json_t *
zpar_view_map_sync (zpar_view_t *self, const char *fn, json_t *inputs, size_t chunksize, json_t **error)
{
    if (error)
        *error = NULL;
    zpar_result_t *result = zpar_view_map_async (self, fn, inputs, chunksize);
    return s_sync (result, error);
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
    return s_sync (result, error);
}

//  -- the engines' namespaces ----------------------------------------------

//  Namespaces are per engine: a balanced view has none to name.
static bool
s_direct (zpar_view_t *self, const char *what, json_t **error)
{
    if (!self->balanced)
        return true;
    zpar_fail ("%s needs a direct view: each engine has its own namespace", what);
    if (error)
        *error = zpar_error_new (ZPAR_E_VALUE, -1, "%s", zpar_last_error ());
    return false;
}

int
zpar_view_push (zpar_view_t *self, json_t *values, json_t **error)
{
    if (error)
        *error = NULL;
    if (!s_direct (self, "push", error))
        return -1;
    if (!json_is_object (values)) {
        zpar_fail ("push needs an object of names and values");
        if (error)
            *error = zpar_error_new (ZPAR_E_VALUE, -1, "%s", zpar_last_error ());
        return -1;
    }
    json_t *args = json_pack ("[O]", values);
    json_t *done = zpar_view_apply_sync (self, "push", args, error);
    json_decref (args);
    int rc = done? 0: -1;
    json_decref (done);
    return rc;
}

json_t *
zpar_view_pull (zpar_view_t *self, json_t *names, json_t **error)
{
    if (error)
        *error = NULL;
    if (!s_direct (self, "pull", error))
        return NULL;
    if (!json_is_string (names) && !json_is_array (names)) {
        zpar_fail ("pull needs a name or a list of names");
        if (error)
            *error = zpar_error_new (ZPAR_E_VALUE, -1, "%s", zpar_last_error ());
        return NULL;
    }
    json_t *args = json_pack ("[O]", names);
    json_t *values = zpar_view_apply_sync (self, "pull", args, error);
    json_decref (args);
    return values;
}

int
zpar_view_scatter (zpar_view_t *self, const char *name, json_t *values, json_t **error)
{
    if (error)
        *error = NULL;
    if (!s_direct (self, "scatter", error))
        return -1;
    //  Every target checked before any is written to.
    json_t *ids = json_is_array (values) && name? s_prepare (self, "push"): NULL;
    size_t engines = json_array_size (ids), total = json_array_size (values);
    if (!engines) {
        if (!json_is_array (values) || !name)
            zpar_fail ("scatter needs a name and a JSON array");
        if (error)
            *error = zpar_error_new (ZPAR_E_VALUE, -1, "%s", zpar_last_error ());
        json_decref (ids);
        return -1;
    }
    //  Even shares in order: the first total % engines engines one more.
    zpar_result_t **results = calloc (engines, sizeof *results);
    size_t from = 0;
    for (size_t k = 0; k < engines; k++) {
        size_t share = total / engines + (k < total % engines);
        json_t *chunk = json_array ();
        for (size_t i = from; i < from + share; i++)
            json_array_append (chunk, json_array_get (values, i));
        from += share;
        int id = (int) json_integer_value (json_array_get (ids, k));
        zpar_view_t *one = zpar_client_direct_ids (self->client, &id, 1);
        json_t *args = json_pack ("[{s:o}]", name, chunk);
        results [k] = one? zpar_view_apply_async (one, "push", args): NULL;
        json_decref (args);
        zpar_view_destroy (&one);
    }
    int rc = 0;
    for (size_t k = 0; k < engines; k++) {
        json_t *failure = NULL;
        json_t *done = s_sync (results [k], rc == 0? &failure: NULL);
        if (!done && rc == 0 && error)
            *error = failure;
        else
            json_decref (failure);
        rc |= done? 0: -1;
        json_decref (done);
    }
    free (results);
    json_decref (ids);
    return rc;
}

json_t *
zpar_view_gather (zpar_view_t *self, const char *name, json_t **error)
{
    json_t *name_value = json_string (name? name: "");
    json_t *parts = zpar_view_pull (self, name_value, error);
    json_decref (name_value);
    if (!parts)
        return NULL;
    //  Back in engine order; a value that is no list counts as one item.
    json_t *joined = json_array ();
    size_t i;
    json_t *part;
    json_array_foreach (parts, i, part)
        if (json_is_array (part))
            json_array_extend (joined, part);
        else
            json_array_append (joined, part);
    json_decref (parts);
    return joined;
}

int
zpar_view_push_bytes (zpar_view_t *self, const char *name, const void *data, size_t size, json_t **error)
{
    if (error)
        *error = NULL;
    if (!s_direct (self, "push_bytes", error))
        return -1;
    json_t *args = json_pack ("[s]", name? name: "");
    zpar_buffer_t buffer = { data, size };
    zpar_result_t *result = zpar_view_apply_buffers_async (self, "push_bytes", args, NULL, &buffer, 1);
    json_decref (args);
    json_t *done = s_sync (result, error);
    int rc = done? 0: -1;
    json_decref (done);
    return rc;
}

zpar_result_t *
zpar_view_pull_bytes (zpar_view_t *self, const char *name)
{
    if (!s_direct (self, "pull_bytes", NULL))
        return NULL;
    json_t *args = json_pack ("[s]", name? name: "");
    zpar_result_t *result = zpar_view_apply_async (self, "pull_bytes", args);
    json_decref (args);
    return result;
}
