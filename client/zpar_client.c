/*  zpar_client.c - connecting to a cluster, the hub's tables, and the
    message pump that turns replies and notifications into results.     */

#include "zpar_client_int.h"

#include "zpar_log.h"
#include "zpar_net.h"
#include "zpar_profile.h"
#include "zpar_util.h"

#include <stdarg.h>

//  While waiting for engines, the table is asked for again at this
//  interval in case a notification was missed (a SUB socket misses what
//  was published before it connected).
#define S_REFRESH_MS 250

//  Shutdown asks each engine to stop and waits this long for each answer.
#define S_SHUTDOWN_ENGINE_MS 2000

//  A client that goes waits this long at most for its requests to leave.
#define S_FLUSH_MS 2000

//  zpar_client_fetch asks the hub for this many answers at a time, and
//  asks again after this pause while some are not there yet.
#define S_FETCH_BATCH 1000

//  A question to the hub not answered in this long is asked again.
#define S_HUB_RESEND_MS 1000
#define S_FETCH_PAUSE_MS 50

static __thread char s_last_error [1024];

const char *
zpar_last_error (void)
{
    return s_last_error;
}

void *
zpar_fail (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (s_last_error, sizeof s_last_error, format, args);
    va_end (args);
    return NULL;
}

json_t *
zpar_error_new (const char *ename, int engine_id, const char *format, ...)
{
    char evalue [512], name [64];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    snprintf (name, sizeof name, "%s", ename);
    return json_pack ("{s:s, s:s, s:i}", "ename", zpar_utf8_clean (name),
                      "evalue", zpar_utf8_clean (evalue), "engine_id", engine_id);
}

//  Reads the hub connection's handshake events; returns whether one
//  failed, and sets *succeeded when one succeeded.
static bool
s_handshakes (zpar_client_t *self, bool *succeeded)
{
    bool failed = false;
    zmsg_t *event;
    while (self->hub_watch && zsock_events (self->hub_watch) & ZMQ_POLLIN
       &&  (event = zmsg_recv (self->hub_watch))) {
        zframe_t *frame = zmsg_first (event);
        uint16_t what = frame && zframe_size (frame) >= 2? *(uint16_t *) zframe_data (frame): 0;
        if (what == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && succeeded)
            *succeeded = true;
        else
        if (what != ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            failed = true;
        zmsg_destroy (&event);
    }
    return failed;
}

static zpar_msg_t *
s_hub_request (zpar_client_t *self, const char *msg_type, json_t *content)
{
    //  Small questions may be asked twice: sent again while not answered
    //  (after 1 s, then 2 s, ...), they reach a hub that took over from a
    //  killed one (it drops what was dated before it started). Orders, and
    //  questions with big answers, go once.
    static const char *questions [] = {
        "connection_request", "engines_request", "status_request", "queue_request", NULL
    };
    int resend_ms = 0;
    for (int i = 0; questions [i]; i++)
        if (streq (questions [i], msg_type))
            resend_ms = S_HUB_RESEND_MS;
    zpar_peer_t peer = { self->hub, self->signer, self->session, self->max_size, &self->drops, resend_ms };
    //  Handshakes before this request are not its story.
    s_handshakes (self, NULL);
    zpar_msg_t *reply = zpar_request (&peer, msg_type, content, self->timeout_ms);
    bool succeeded = false;
    bool refused = !reply && s_handshakes (self, &succeeded) && !succeeded;
    if (refused)
        zpar_fail ("the hub at %s refused every connection at its handshake: %s",
                   self->conn->registration, self->curve
                   ? "the curve_serverkey of the connection file is not the cluster's key "
                     "(or the cluster does not use CurveZMQ)"
                   : "the cluster uses CurveZMQ and the connection file has no curve_serverkey");
    else
    if (!reply)
        zpar_fail ("the hub at %s did not answer within %d ms (is the cluster running? "
                   "start one with: ipcluster start)", self->conn->registration, self->timeout_ms);
    else
    if (!zpar_reply_ok (reply)) {
        json_t *content = zpar_msg_content (reply);
        zpar_fail ("%s: %s", json_string_value (json_object_get (content, "ename")),
                   json_string_value (json_object_get (content, "evalue")));
        zpar_msg_destroy (&reply);
    }
    return reply;
}

//  Replaces the engine table with {id: uuid}.
static void
s_set_engines (zpar_client_t *self, json_t *engines)
{
    zhashx_purge (self->engines);
    const char *id;
    json_t *uuid;
    json_object_foreach (engines, id, uuid)
        if (json_is_string (uuid))
            zhashx_insert (self->engines, id, (void *) json_string_value (uuid));
}

static bool
s_registered (zpar_client_t *self, const char *uuid)
{
    for (const char *known = zhashx_first (self->engines); known; known = zhashx_next (self->engines))
        if (streq (known, uuid))
            return true;
    return false;
}

//  Notes the session of the hub that sent msg. A hub that took over from
//  a killed one counts its registry versions from 0 again: when the
//  session changes, so does what a version means.
static void
s_note_hub (zpar_client_t *self, zpar_msg_t *msg)
{
    const char *session = json_string_value (json_object_get (zpar_msg_header (msg), "session"));
    if (!session || (self->hub_session && streq (self->hub_session, session)))
        return;
    if (self->hub_session) {
        //  Its engines register with it again in their first beats; then
        //  the table it has is the one to follow (engines that died while
        //  no hub was there never come back to say so).
        self->registry_version = 0;
        self->refresh_at = zpar_mono_ms () + 3 * (int64_t) self->hb_period_ms + ZPAR_SCHEDULER_CHECK_MS;
    }
    free (self->hub_session);
    self->hub_session = strdup (session);
}

//  Asks the hub for the engine table again (a notification was missed).
//  Direct calls to engines no longer in it will never be answered.
static void
s_refresh_engines (zpar_client_t *self)
{
    zpar_msg_t *reply = s_hub_request (self, "connection_request", json_object ());
    if (!reply)
        return;
    json_t *content = zpar_msg_content (reply);
    s_note_hub (self, reply);
    s_set_engines (self, json_object_get (content, "engines"));
    self->registry_version = json_integer_value (json_object_get (content, "registry_version"));
    zpar_msg_destroy (&reply);
    for (zpar_result_t *result = zlistx_first (self->results); result;
         result = zlistx_next (self->results))
        for (size_t i = 0; i < result->nparts; i++) {
            zpar_part_t *part = &result->parts [i];
            if (!part->done && part->direct && !s_registered (self, part->engine_uuid))
                zpar_result_fail (result, i, zpar_error_new (ZPAR_E_ENGINE, part->engine_id,
                                  "engine %d left the cluster before answering", part->engine_id));
        }
}

static zsock_t *
s_connect (zpar_client_t *self, int type, json_t *endpoints, const char *name)
{
    const char *endpoint = json_string_value (json_object_get (endpoints, name));
    if (!endpoint)
        return NULL;                //  that scheduler has not registered
    zsock_t *sock = zpar_connect_curve (type, endpoint, type == ZMQ_DEALER? self->session: NULL,
                                        self->max_size, self->curve);
    if (!sock)
        return zpar_fail ("cannot connect to %s at %s", name, endpoint);
    zpar_poller_add (self->poller, sock);
    return sock;
}

static zpar_client_t *s_client_new (const char *connfile, int timeout_ms);

zpar_client_t *
zpar_client_new_from_file (const char *connfile)
{
    return s_client_new (connfile, ZPAR_HUB_TIMEOUT_MS);
}

void
zpar_client_find_broadcast (zpar_client_t *self)
{
    if (self->broadcast)
        return;
    zpar_msg_t *reply = s_hub_request (self, "connection_request", json_object ());
    json_t *endpoints = reply? json_object_get (zpar_msg_content (reply), "endpoints"): NULL;
    self->broadcast = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_BROADCAST);
    zpar_msg_destroy (&reply);
}

void
zpar_client_find_schedulers (zpar_client_t *self)
{
    if (self->mux && self->task && self->control)
        return;
    //  The schedulers had not registered when this client connected (a
    //  cluster starting, or a hub that took over): ask again.
    zpar_msg_t *reply = s_hub_request (self, "connection_request", json_object ());
    json_t *endpoints = reply? json_object_get (zpar_msg_content (reply), "endpoints"): NULL;
    if (!self->mux)
        self->mux = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_MUX);
    if (!self->task)
        self->task = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_TASK);
    if (!self->control)
        self->control = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_CONTROL);
    if (!self->broadcast)
        self->broadcast = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_BROADCAST);
    zpar_msg_destroy (&reply);
}

static zpar_client_t *
s_client_new (const char *connfile, int timeout_ms)
{
    //  A library must not take the application's Ctrl-C away: CZMQ would
    //  otherwise install its own SIGINT/SIGTERM handlers.
    zsys_handler_set (NULL);
    if (zpar_init () != 0)
        return zpar_fail ("cannot initialise libsodium");
    char *error = NULL;
    zpar_connfile_t *conn = zpar_connfile_load (connfile, &error);
    if (!conn) {
        zpar_fail ("%s (is a cluster running? start one with: ipcluster start)", error);
        free (error);
        return NULL;
    }
    zpar_client_t *self = calloc (1, sizeof *self);
    self->conn = conn;
    self->signer = zpar_sign_new (conn->key, ZPAR_REPLAY_HISTORY);
    self->session = zpar_new_uuid ();
    self->max_size = conn->max_message_size? conn->max_message_size: ZPAR_MAX_MESSAGE_SIZE;
    self->timeout_ms = timeout_ms > 0? timeout_ms: ZPAR_HUB_TIMEOUT_MS;
    self->engines = zhashx_new ();
    //  The table keeps its own copies of the uuids.
    zhashx_set_duplicator (self->engines, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->engines, (zhashx_destructor_fn *) zstr_free);
    self->calls = zpar_table_new (NULL);
    self->results = zlistx_new ();
    self->poller = zpar_poller_new (NULL);
    //  A cluster with CurveZMQ: this client's sockets with a keypair of
    //  its own (a program may be a client of several clusters).
    if (conn->curve_serverkey) {
        self->curve = calloc (1, sizeof *self->curve);
        if (zpar_curve_for_peer (conn->curve_serverkey, self->curve) != 0) {
            zpar_fail ("cannot make a CurveZMQ keypair");
            goto err;
        }
    }
    self->hub = zpar_connect_curve (ZMQ_DEALER, conn->registration, NULL, self->max_size, self->curve);
    //  A handshake the hub refuses is no silence: the client says why.
    char watch [64];
    snprintf (watch, sizeof watch, "inproc://zpar-client-watch-%p", (void *) self);
    if (self->hub && zmq_socket_monitor (zsock_resolve (self->hub), watch,
                                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                         | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                         | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                         | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0) {
        self->hub_watch = zsock_new (ZMQ_PAIR);
        if (self->hub_watch && zsock_connect (self->hub_watch, "%s", watch) != 0)
            zsock_destroy (&self->hub_watch);
    }
    if (!self->signer || !self->hub) {
        zpar_fail ("cannot use connection file %s", connfile);
        goto err;
    }
    zpar_msg_t *reply = s_hub_request (self, "connection_request", json_object ());
    if (!reply)
        goto err;
    json_t *content = zpar_msg_content (reply);
    json_t *endpoints = json_object_get (content, "endpoints");
    s_note_hub (self, reply);
    self->hb_period_ms = (int) json_integer_value (json_object_get (content, "hb_period_ms"));
    if (self->hb_period_ms <= 0)
        self->hb_period_ms = ZPAR_HB_PERIOD_MS;
    s_set_engines (self, json_object_get (content, "engines"));
    self->registry_version = json_integer_value (json_object_get (content, "registry_version"));
    self->notification = s_connect (self, ZMQ_SUB, endpoints, "notification");
    self->mux = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_MUX);
    self->task = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_TASK);
    self->control = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_CONTROL);
    self->broadcast = s_connect (self, ZMQ_DEALER, endpoints, ZPAR_ROLE_BROADCAST);
    zpar_msg_destroy (&reply);
    if (!self->notification)
        goto err;
    //  Without schedulers the client still talks to the hub (status,
    //  engines, shutdown); calls say what is missing.
    return self;
err:
    zpar_client_destroy (&self);
    return NULL;
}

zpar_client_t *
zpar_client_new (const char *profile)
{
    return zpar_client_new_timeout (profile, ZPAR_HUB_TIMEOUT_MS);
}

zpar_client_t *
zpar_client_new_timeout (const char *profile, int timeout_ms)
{
    char *error = NULL;
    zpar_profile_t *found = zpar_profile_new (profile, false, &error);
    if (!found) {
        zpar_fail ("%s", error);
        free (error);
        return NULL;
    }
    char *path = zpar_profile_path (found, "security", ZPAR_CONNFILE_CLIENT);
    zpar_client_t *self = NULL;
    if (access (path, R_OK) != 0)
        zpar_fail ("no cluster is running in profile \"%s\" (no %s); start one with: "
                   "ipcluster start --profile %s", zpar_profile_name (found), path,
                   zpar_profile_name (found));
    else
        self = s_client_new (path, timeout_ms);
    free (path);
    zpar_profile_destroy (&found);
    return self;
}

void
zpar_client_destroy (zpar_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_client_t *self = *self_p;
    //  Results outlive their client: they keep what they have.
    if (self->results)
        for (zpar_result_t *result = zlistx_first (self->results); result;
             result = zlistx_next (self->results)) {
            result->client = NULL;
            result->handle = NULL;
        }
    zlistx_destroy (&self->results);
    zpar_poller_destroy (&self->poller);
    zpar_parts_free (&self->received);
    //  Requests sent are the cluster's to run, even when their client goes
    //  at once (map_async, then exit): what is still queued here leaves
    //  first, for a while.
    zsock_t *senders [] = { self->mux, self->task, self->control, self->broadcast };
    for (size_t i = 0; i < sizeof senders / sizeof *senders; i++)
        if (senders [i])
            zsock_set_linger (senders [i], S_FLUSH_MS);
    zsock_destroy (&self->hub_watch);
    zsock_destroy (&self->hub);
    zsock_destroy (&self->mux);
    zsock_destroy (&self->task);
    zsock_destroy (&self->control);
    zsock_destroy (&self->broadcast);
    zsock_destroy (&self->notification);
    zhashx_destroy (&self->engines);
    zpar_table_destroy (&self->calls);
    zpar_sign_destroy (&self->signer);
    zpar_connfile_destroy (&self->conn);
    if (self->curve)
        memset (self->curve, 0, sizeof *self->curve);
    free (self->curve);
    free (self->session);
    free (self->hub_session);
    free (self);
    *self_p = NULL;
}

void
zpar_client_set_timeout (zpar_client_t *self, int timeout_ms)
{
    self->timeout_ms = timeout_ms > 0? timeout_ms: ZPAR_HUB_TIMEOUT_MS;
}

static int
s_compare_ints (const void *a, const void *b)
{
    int x = *(const int *) a, y = *(const int *) b;
    return (x > y) - (x < y);
}

json_t *
zpar_client_ids (zpar_client_t *self)
{
    size_t count = zhashx_size (self->engines), i = 0;
    int *ids = calloc (count + 1, sizeof *ids);
    for (void *uuid = zhashx_first (self->engines); uuid; uuid = zhashx_next (self->engines))
        ids [i++] = atoi ((const char *) zhashx_cursor (self->engines));
    qsort (ids, count, sizeof *ids, s_compare_ints);
    json_t *array = json_array ();
    for (i = 0; i < count; i++)
        json_array_append_new (array, json_integer (ids [i]));
    free (ids);
    return array;
}

const char *
zpar_client_uuid (zpar_client_t *self, int id)
{
    char key [16];
    snprintf (key, sizeof key, "%d", id);
    return zhashx_lookup (self->engines, key);
}

int
zpar_client_wait_for_engines (zpar_client_t *self, size_t count, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0? INT64_MAX: zpar_mono_ms () + timeout_ms;
    while (zhashx_size (self->engines) < count) {
        int64_t left = deadline - zpar_mono_ms ();
        if (left <= 0) {
            zpar_fail ("%zu of %zu engines registered within %d ms",
                       zhashx_size (self->engines), count, timeout_ms);
            return -1;
        }
        if (zpar_client_pump (self, (int) (left < S_REFRESH_MS? left: S_REFRESH_MS)) != 0) {
            if (zsys_interrupted)
                return -1;
            s_refresh_engines (self);
        }
    }
    return 0;
}

json_t *
zpar_client_engines (zpar_client_t *self)
{
    zpar_msg_t *reply = s_hub_request (self, "engines_request", json_object ());
    json_t *engines = reply? json_incref (json_object_get (zpar_msg_content (reply), "engines")): NULL;
    zpar_msg_destroy (&reply);
    return engines;
}

json_t *
zpar_client_status (zpar_client_t *self)
{
    zpar_msg_t *reply = s_hub_request (self, "status_request", json_object ());
    json_t *status = reply? json_incref (zpar_msg_content (reply)): NULL;
    zpar_msg_destroy (&reply);
    return status;
}

//  One control request to each engine of ids, all sent first, then their
//  answers awaited together for at most S_SHUTDOWN_ENGINE_MS (an engine
//  inside a call reads its control socket only after it). Returns how
//  many engines answered ok; *sent (may be NULL) how many were asked.
static size_t
s_control_all (zpar_client_t *self, json_t *ids, const char *msg_type, json_t *content, size_t *sent)
{
    size_t i, count = json_array_size (ids), asked = 0, answered = 0;
    zpar_result_t **results = calloc (count? count: 1, sizeof *results);
    json_t *id;
    json_array_foreach (ids, i, id) {
        //  An engine may have left while we asked the others.
        const char *uuid = zpar_client_uuid (self, (int) json_integer_value (id));
        if (!uuid)
            continue;
        zpar_msg_t *request = zpar_msg_new (msg_type, self->session);
        if (content)
            zpar_msg_set_content (request, json_deep_copy (content));
        zpar_msg_add_route (request, uuid, strlen (uuid));
        results [i] = zpar_result_new (self, 1, 1, true);
        if (zpar_client_send (self, self->control, uuid, &request, results [i], 0) == 0)
            asked++;
    }
    int64_t deadline = zpar_mono_ms () + S_SHUTDOWN_ENGINE_MS;
    for (i = 0; i < count; i++) {
        int64_t left = deadline - zpar_mono_ms ();
        if (results [i] && zpar_result_wait (results [i], left > 0? (int) left: 0) == 0
        &&  zpar_result_successful (results [i]))
            answered++;
        zpar_result_destroy (&results [i]);
    }
    free (results);
    if (sent)
        *sent = asked;
    return answered;
}

int
zpar_client_abort (zpar_client_t *self, json_t *msg_ids)
{
    size_t i;
    json_t *id;
    bool strings = json_is_array (msg_ids);
    json_array_foreach (msg_ids, i, id)
        strings &= json_is_string (id);
    if (!strings) {
        zpar_fail ("abort needs msg_ids as a JSON array of strings");
        return -1;
    }
    zpar_client_find_schedulers (self);
    if (!self->control) {
        zpar_fail ("the cluster's control scheduler is not registered (is zpar-scheduler running?)");
        return -1;
    }
    while (zpar_client_pump (self, 0) == 0)
        ;                               //  the engine table as it is now
    json_t *ids = zpar_client_ids (self);
    json_t *content = json_pack ("{s:O}", "msg_ids", msg_ids);
    size_t sent = 0, engines = json_array_size (ids);
    //  An engine busy in a call confirms only after it, but reads the
    //  abort before its next task all the same: asked is enough.
    s_control_all (self, ids, "abort_request", content, &sent);
    json_decref (content);
    json_decref (ids);
    if (sent < engines) {
        zpar_fail ("%zu of %zu engines could not be told of the abort", engines - sent, engines);
        return -1;
    }
    return 0;
}

//  One answer the hub kept, as zpar_client_fetch gives it.
static json_t *
s_fetched (json_t *kept)
{
    const char *status = json_string_value (json_object_get (kept, "status"));
    json_t *content = json_object_get (kept, "content");
    json_t *metadata = json_object_get (kept, "metadata");
    if (!status || streq (status, "pending") || streq (status, "unknown") || streq (status, "later"))
        return NULL;
    //  Over 64 KiB, the hub kept only the metadata: it says how it ended.
    if ((json_is_null (content) || !content) && streq (status, "ok"))
        return json_pack ("{s:s, s:n, s:b, s:O}", "status", "ok", "value", "result_cut", true,
                          "metadata", metadata);
    if (json_is_null (content) || !content)
        return json_pack ("{s:s, s:o, s:b, s:O}", "status", "error",
            "error", zpar_error_new (ZPAR_E_VALUE, -1, "the answer was too big for the hub to keep"),
            "result_cut", true, "metadata", metadata);
    if (streq (status, "ok")) {
        json_t *value = json_object_get (content, "results");     //  a chunk's
        if (!value)
            value = json_object_get (content, "result");
        return json_pack ("{s:s, s:O, s:O}", "status", "ok", "value", value? value: json_null (),
                          "metadata", metadata);
    }
    json_t *engine_id = json_object_get (content, "engine_id");
    return json_pack ("{s:s, s:{s:s, s:s, s:I}, s:O}", "status", "error", "error",
        "ename", json_string_value (json_object_get (content, "ename"))?: "Error",
        "evalue", json_string_value (json_object_get (content, "evalue"))?: "",
        "engine_id", json_is_integer (engine_id)? json_integer_value (engine_id): (json_int_t) -1,
        "metadata", metadata);
}

json_t *
zpar_client_fetch (zpar_client_t *self, json_t *msg_ids, int timeout_ms)
{
    size_t i, size = json_array_size (msg_ids);
    json_t *id;
    bool strings = json_is_array (msg_ids);
    json_array_foreach (msg_ids, i, id)
        strings &= json_is_string (id);
    if (!strings)
        return zpar_fail ("fetch needs msg_ids as a JSON array of strings");
    json_t *answers = json_array ();
    for (i = 0; i < size; i++)
        json_array_append_new (answers, json_pack ("{s:s}", "status", "pending"));
    int64_t deadline = timeout_ms < 0? INT64_MAX: zpar_mono_ms () + timeout_ms;
    //  Rounds go through the msg_ids from where the last one stopped: a
    //  pass over all of them ends at the end of the list.
    size_t cursor = 0;
    while (true) {
        //  Ask for what is still missing, a bounded number at a time.
        //  Without a deadline, an unknown msg_id is final once nothing is
        //  pending any more: it would never come.
        bool pending = false;
        for (i = 0; i < size && !pending; i++) {
            const char *status = json_string_value (json_object_get (json_array_get (answers, i), "status"));
            pending = status && streq (status, "pending");
        }
        json_t *asked = json_array (), *where = json_array ();
        size_t looked = 0;
        for (i = cursor; looked < size && json_array_size (asked) < S_FETCH_BATCH;
             i = (i + 1) % size, looked++) {
            json_t *answer = json_array_get (answers, i);
            const char *status = json_string_value (json_object_get (answer, "status"));
            bool final = json_object_get (answer, "metadata")
                      || (timeout_ms < 0 && !pending && status && streq (status, "unknown"));
            if (!final) {
                json_array_append (asked, json_array_get (msg_ids, i));
                json_array_append_new (where, json_integer ((json_int_t) i));
            }
        }
        if (!json_array_size (asked)) {
            json_decref (asked);
            json_decref (where);
            return answers;
        }
        bool pass_done = cursor + looked >= size;
        cursor = (cursor + looked) % size;
        zpar_msg_t *reply = s_hub_request (self, "result_request", json_pack ("{s:O}", "msg_ids", asked));
        json_t *kept = reply? json_object_get (zpar_msg_content (reply), "results"): NULL;
        bool progress = false;
        for (size_t k = 0; k < json_array_size (where); k++) {
            json_t *answer = s_fetched (json_array_get (kept, k));
            const char *status = json_string_value (json_object_get (json_array_get (kept, k), "status"));
            size_t index = (size_t) json_integer_value (json_array_get (where, k));
            if (answer) {
                json_array_set_new (answers, index, answer);
                progress = true;
            }
            else
            if (status && streq (status, "unknown"))
                json_array_set_new (answers, index, json_pack ("{s:s}", "status", "unknown"));
        }
        zpar_msg_destroy (&reply);
        json_decref (asked);
        json_decref (where);
        if (!kept) {
            json_decref (answers);
            return NULL;                //  the hub did not answer: said in zpar_last_error
        }
        if (!pass_done)
            continue;
        if (zpar_mono_ms () >= deadline)
            return answers;
        //  Nothing new: wait a little (taking in notifications meanwhile).
        if (!progress)
            zpar_client_pump (self, S_FETCH_PAUSE_MS);
    }
}

json_t *
zpar_client_queue (zpar_client_t *self)
{
    zpar_msg_t *reply = s_hub_request (self, "queue_request", json_object ());
    json_t *queue = reply? json_incref (zpar_msg_content (reply)): NULL;
    zpar_msg_destroy (&reply);
    if (queue)
        json_object_del (queue, "status");
    return queue;
}

json_t *
zpar_client_db (zpar_client_t *self, json_t *query, json_t *keys, size_t limit, bool newest)
{
    json_t *records = json_array ();
    json_int_t after = -1;
    while (true) {
        json_t *request = json_pack ("{s:O}", "query", query? query: json_null ());
        if (keys)
            json_object_set (request, "keys", keys);
        //  Page after page: each after the last record of the one before.
        if (after >= 0)
            json_object_set_new (request, "after", json_integer (after));
        if (limit)
            json_object_set_new (request, "limit",
                                 json_integer ((json_int_t) (limit - json_array_size (records))));
        if (limit && newest && after < 0)
            json_object_set_new (request, "last", json_integer ((json_int_t) limit));
        zpar_msg_t *reply = s_hub_request (self, "db_request", request);
        if (!reply) {
            json_decref (records);
            return NULL;
        }
        json_t *content = zpar_msg_content (reply);
        json_t *page = json_object_get (content, "records");
        json_array_extend (records, page);
        after = json_integer_value (json_object_get (content, "last_seq"));
        bool more = json_is_true (json_object_get (content, "more")) && json_array_size (page)
                 && (!limit || json_array_size (records) < limit);
        zpar_msg_destroy (&reply);
        if (!more)
            return records;
    }
}

int64_t
zpar_client_purge (zpar_client_t *self, json_t *msg_ids, int engine_id)
{
    json_t *request = msg_ids? json_pack ("{s:O}", "msg_ids", msg_ids)
                    : engine_id >= 0? json_pack ("{s:i}", "engine", engine_id)
                    : json_pack ("{s:b}", "all", true);
    zpar_msg_t *reply = s_hub_request (self, "purge_request", request);
    int64_t purged = reply? json_integer_value (json_object_get (zpar_msg_content (reply), "purged")): -1;
    zpar_msg_destroy (&reply);
    return purged;
}

json_t *
zpar_client_resubmit (zpar_client_t *self, json_t *msg_ids)
{
    zpar_msg_t *reply = s_hub_request (self, "resubmit_request", json_pack ("{s:O}", "msg_ids", msg_ids));
    json_t *resubmitted = reply? json_incref (json_object_get (zpar_msg_content (reply), "resubmitted")): NULL;
    zpar_msg_destroy (&reply);
    return resubmitted;
}

int
zpar_client_shutdown (zpar_client_t *self)
{
    //  Engines first, each through the control scheduler, so that no work
    //  is running when the hub and the schedulers go.
    json_t *ids = self->control? zpar_client_ids (self): json_array ();
    s_control_all (self, ids, "shutdown_request", NULL, NULL);
    json_decref (ids);
    zpar_msg_t *reply = s_hub_request (self, "shutdown_request", json_object ());
    int rc = reply? 0: -1;
    zpar_msg_destroy (&reply);
    return rc;
}

//  -- sending and receiving ---------------------------------------------------

int
zpar_client_send (zpar_client_t *self, zsock_t *sock, const char *route,
                  zpar_msg_t **msg_p, zpar_result_t *result, size_t index)
{
    zpar_msg_t *msg = *msg_p;
    zpar_part_t *part = &result->parts [index];
    part->msg_id = strdup (zpar_msg_id (msg));
    part->direct = route != NULL;
    part->engine_uuid = route? strdup (route): NULL;
    const char *date = zpar_msg_date (msg);
    snprintf (part->submitted, sizeof part->submitted, "%s", date? date: "");
    zpar_msg_clear_routes (msg);
    if (route)
        zpar_msg_add_route (msg, route, strlen (route));
    zpar_table_insert (self->calls, part->msg_id, part);
    size_t size = zpar_msg_size (msg, self->signer);
    //  The request's content as it goes (text: what the caller changes
    //  afterwards does not change it), for zpar_view_resubmit.
    zmq_msg_t *content = zpar_msg_frame (msg, ZPAR_FRAME_CONTENT);
    part->sent_buffers = zpar_msg_buffers (msg) > 0;
    if (content && !part->sent_buffers && streq (zpar_msg_type (msg), "apply_request")
    &&  (part->content = malloc (zmq_msg_size (content) + 1))) {
        memcpy (part->content, zmq_msg_data (content), zmq_msg_size (content));
        part->content_size = zmq_msg_size (content);
    }
    //  A balanced task with retries left runs again if its scheduler is
    //  lost (s_resend_lost): its flags are kept for that.
    json_t *metadata = route? NULL: zpar_msg_metadata (msg);
    if (json_integer_value (json_object_get (metadata, "retries")) > 0 && !part->sent_buffers)
        part->flags = json_deep_copy (metadata);
    if (size > (size_t) self->max_size) {
        //  The scheduler would refuse it and the call would never end.
        zpar_msg_destroy (msg_p);
        zpar_result_fail (result, index,
            zpar_error_new (ZPAR_E_VALUE, part->engine_id, "the request is %zu bytes, over the "
                            "cluster's limit of %lld (ipcluster start --max-message-size)",
                            size, (long long) self->max_size));
        return -1;
    }
    zpar_poller_touch (self->poller, sock);
    //  A socket whose last send timed out (no scheduler took anything for
    //  ZPAR_SEND_TIMEOUT_MS: it is gone, or starting again) is tried
    //  without waiting: a map of 10,000 calls must not wait 5 s for each.
    bool stalled = sock == self->stalled;
    if (stalled)
        zsock_set_sndtimeo (sock, 0);
    int rc = zpar_msg_send (msg_p, sock, self->signer);
    int error = rc? zmq_errno (): 0;
    if (stalled)
        zsock_set_sndtimeo (sock, ZPAR_SEND_TIMEOUT_MS);
    if (error == EAGAIN)
        self->stalled = sock;
    if (rc == 0 && stalled)
        self->stalled = NULL;
    if (rc != 0) {
        zpar_result_fail (result, index,
            zpar_error_new (ZPAR_E_ENGINE, part->engine_id, "could not send: %s",
                            error == EAGAIN? "the scheduler takes no requests (is it running?)"
                                           : zmq_strerror (error)));
        return -1;
    }
    return 0;
}

//  A reply from mux, task or control: [engine uuid] DELIM ...
static void
s_handle_reply (zpar_client_t *self, zpar_parts_t *raw, const char *where)
{
    zpar_drop_t reason;
    zpar_msg_t *reply = zpar_msg_decode_parts_frames (raw, self->signer, self->max_size, where, &reason);
    if (!reply) {
        zpar_drops_add (&self->drops, reason, where);
        return;
    }
    const char *parent = zpar_msg_parent_id (reply);
    const char *type = zpar_msg_type (reply);
    zpar_part_t *part = parent? zpar_table_lookup (self->calls, parent): NULL;
    //  Most answers are a plain call's success: its result alone is parsed.
    json_t *ok_value = part && !part->chunk && !part->done && !zpar_msg_buffers (reply)
                     ? zpar_msg_ok_result (reply): NULL;
    json_t *content = ok_value? NULL: zpar_msg_content (reply);
    //  An answer is a *_reply; to a direct call, from the engine asked
    //  (the scheduler puts the engine's uuid in front).
    size_t type_length = type? strlen (type): 0;
    bool is_reply = type_length > 6 && streq (type + type_length - 6, "_reply");
    if (is_reply && part && part->direct && !(zpar_msg_routes (reply) && part->engine_uuid
                                                 && zpar_part_streq (zpar_msg_route (reply, 0), part->engine_uuid)))
        is_reply = false;
    if (is_reply && part && (content || ok_value) && !part->done) {
        zpar_result_t *result = part->result;
        if (zpar_msg_buffers (reply)) {
            zpar_parts_clear (&part->buffers);
            zpar_msg_take_buffers (reply, &part->buffers);
            json_decref (part->buffer_counts);
            part->buffer_counts = json_incref (json_object_get (content, "buffer_counts"));
        }
        size_t index = (size_t) (part - result->parts);
        zmq_msg_t *metadata = zpar_msg_frame (reply, ZPAR_FRAME_METADATA);
        long long engine_id;
        if (zpar_msg_metadata_integer (reply, "engine_id", &engine_id) && engine_id >= INT_MIN
        &&  engine_id <= INT_MAX)
            part->engine_id = (int) engine_id;
        const char *status = json_string_value (json_object_get (content, "status"));
        json_t *results = json_object_get (content, "results");
        if (ok_value) {
            zpar_result_settle (result, index, ok_value, NULL, NULL, metadata);
            ok_value = NULL;
        }
        else
        if (part->chunk && json_is_array (results))
            //  A chunk's answer: a value or an error per input.
            zpar_result_settle (result, index, json_incref (results), NULL,
                                json_incref (json_object_get (content, "errors")), metadata);
        else
        if (status && streq (status, "ok")) {
            json_t *value = json_object_get (content, "result");
            zpar_result_settle (result, index, json_incref (value? value: json_null ()), NULL, NULL,
                                metadata);
        }
        else {
            const char *ename = json_string_value (json_object_get (content, "ename"));
            const char *evalue = json_string_value (json_object_get (content, "evalue"));
            zpar_result_settle (result, index, NULL,
                zpar_error_new (ename? ename: "Error", part->engine_id, "%s",
                                evalue? evalue: "(no message)"), NULL, metadata);
        }
    }
    json_decref (ok_value);
    zpar_msg_destroy (&reply);
}

int
zpar_client_send_broadcast (zpar_client_t *self, zpar_msg_t **msg_p, zpar_result_t *result, json_t *ids)
{
    int rc = zpar_client_send (self, self->broadcast, NULL, msg_p, result, 0);
    zpar_part_t *first = &result->parts [0];
    for (size_t i = 0; i < result->nparts; i++) {
        zpar_part_t *part = &result->parts [i];
        int id = (int) json_integer_value (json_array_get (ids, i));
        const char *uuid = zpar_client_uuid (self, id);
        part->engine_id = id;
        part->broadcast = true;
        //  Direct: the part fails at once if its engine leaves.
        part->direct = true;
        free (part->engine_uuid);
        part->engine_uuid = uuid? strdup (uuid): NULL;
        if (i > 0 && first->msg_id) {
            part->msg_id = strdup (first->msg_id);
            memcpy (part->submitted, first->submitted, sizeof part->submitted);
        }
        if (rc != 0 && i > 0) {
            const char *why = json_string_value (json_object_get (result->items [0].error, "evalue"));
            zpar_result_fail (result, i, zpar_error_new (ZPAR_E_VALUE, id, "%s", why? why: "could not send"));
        }
    }
    return rc;
}

//  The broadcast scheduler's one reply for all the parts of a call:
//  content.replies, each {index, engine_id, content, metadata, buffers},
//  the buffers after the JSON, reply after reply.
static void
s_handle_broadcast (zpar_client_t *self, zpar_parts_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *reply = zpar_msg_decode_parts_frames (raw, self->signer, self->max_size, "broadcast", &reason);
    if (!reply) {
        zpar_drops_add (&self->drops, reason, "broadcast");
        return;
    }
    const char *parent = zpar_msg_parent_id (reply);
    zpar_part_t *first = parent? zpar_table_lookup (self->calls, parent): NULL;
    json_t *content = zpar_msg_content (reply);
    const char *type = zpar_msg_type (reply);
    if (!first || !first->broadcast || !type || !streq (type, "broadcast_reply")) {
        zpar_msg_destroy (&reply);
        return;
    }
    zpar_result_t *result = first->result;
    if (!content) {
        //  An engine's answer goes in as it came: one that is not JSON
        //  spoils the whole reply, which must still end the call.
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "broadcast");
        for (size_t p = 0; p < result->nparts; p++)
            if (!result->parts [p].done)
                zpar_result_fail (result, p, zpar_error_new (ZPAR_E_SCHEDULER, result->parts [p].engine_id,
                                  "the broadcast reply is not valid JSON"));
        zpar_msg_destroy (&reply);
        return;
    }
    const char *status = json_string_value (json_object_get (content, "status"));
    json_t *replies = json_object_get (content, "replies");
    zpar_parts_t buffers = ZPAR_PARTS_EMPTY;
    zpar_msg_take_buffers (reply, &buffers);
    size_t next = 0, i;
    json_t *entry;
    json_array_foreach (replies, i, entry) {
        json_int_t index = json_integer_value (json_object_get (entry, "index"));
        json_t *answer = json_object_get (entry, "content");
        size_t from = next;
        for (json_int_t n = json_integer_value (json_object_get (entry, "buffers"));
             n > 0 && next < buffers.count; n--)
            next++;
        //  Each answer to its own part only: the engine asked.
        if (index < 0 || (size_t) index >= result->nparts || result->parts [index].done || !answer
        ||  json_integer_value (json_object_get (entry, "engine_id")) != result->parts [index].engine_id)
            continue;
        zpar_part_t *part = &result->parts [index];
        zpar_parts_clear (&part->buffers);
        for (size_t b = from; b < next; b++)
            zpar_parts_add_move (&part->buffers, &buffers.part [b]);
        char *text = json_dumps (json_object_get (entry, "metadata"), JSON_COMPACT);
        zmq_msg_t bytes, *metadata = NULL;
        if (text && zmq_msg_init_size (&bytes, strlen (text)) == 0) {
            memcpy (zmq_msg_data (&bytes), text, strlen (text));
            metadata = &bytes;
        }
        free (text);
        const char *answer_status = json_string_value (json_object_get (answer, "status"));
        if (answer_status && streq (answer_status, "ok")) {
            json_t *value = json_object_get (answer, "result");
            zpar_result_settle (result, (size_t) index, json_incref (value? value: json_null ()),
                                NULL, NULL, metadata);
        }
        else {
            const char *ename = json_string_value (json_object_get (answer, "ename"));
            const char *evalue = json_string_value (json_object_get (answer, "evalue"));
            zpar_result_settle (result, (size_t) index, NULL,
                zpar_error_new (ename? ename: "Error", part->engine_id, "%s", evalue? evalue: "(no message)"),
                NULL, metadata);
        }
        if (metadata)
            zmq_msg_close (metadata);
    }
    zpar_parts_free (&buffers);
    //  Refused as a whole, or (never by this scheduler) a part left out.
    const char *ename = json_string_value (json_object_get (content, "ename"));
    const char *evalue = json_string_value (json_object_get (content, "evalue"));
    for (size_t p = 0; p < result->nparts; p++)
        if (!result->parts [p].done)
            zpar_result_fail (result, p, zpar_error_new (ename? ename: ZPAR_E_SCHEDULER, result->parts [p].engine_id,
                              "%s", evalue? evalue: status && streq (status, "ok")
                              ? "the broadcast reply has no answer from this engine": "(no message)"));
    zpar_msg_destroy (&reply);
}

//  Balanced calls with retries left that were inside a scheduler that is
//  lost go to its successor (through the same socket) as new tasks, one
//  retry fewer; the other calls waiting for an answer fail with why.
static void
s_resend_lost (zpar_client_t *self, const char *why)
{
    for (zpar_result_t *result = zlistx_first (self->results); result;
         result = zlistx_next (self->results))
        for (size_t i = 0; i < result->nparts; i++) {
            zpar_part_t *part = &result->parts [i];
            if (part->done || !part->msg_id)
                continue;
            if (!part->flags || !part->content || !self->task) {
                zpar_result_fail (result, i, zpar_error_new (ZPAR_E_SCHEDULER, part->engine_id, "%s", why));
                continue;
            }
            json_t *flags = part->flags;
            part->flags = NULL;
            json_object_set_new (flags, "retries",
                                 json_integer (json_integer_value (json_object_get (flags, "retries")) - 1));
            zpar_msg_t *msg = zpar_msg_new ("apply_request", self->session);
            zpar_msg_set_text (msg, ZPAR_FRAME_CONTENT, part->content, part->content_size);
            zpar_msg_set_metadata (msg, flags);
            zpar_table_delete (self->calls, part->msg_id);
            free (part->msg_id);
            part->msg_id = NULL;
            free (part->content);
            part->content = NULL;
            zpar_client_send (self, self->task, NULL, &msg, result, i);
        }
}

//  An engine left: direct calls to it will never be answered. With no
//  uuid, every call waiting for an answer fails, with ename.
static void
s_fail_calls (zpar_client_t *self, const char *uuid, int id, const char *ename, const char *why)
{
    for (zpar_result_t *result = zlistx_first (self->results); result;
         result = zlistx_next (self->results))
        for (size_t i = 0; i < result->nparts; i++) {
            zpar_part_t *part = &result->parts [i];
            if (!part->done && part->msg_id
            &&  (uuid? part->direct && part->engine_uuid && streq (part->engine_uuid, uuid): true))
                zpar_result_fail (result, i, zpar_error_new (ename, uuid? id: part->engine_id,
                                                             "%s", why));
        }
}

static void
s_handle_notification (zpar_client_t *self, zpar_parts_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode_parts (raw, self->signer, self->max_size, "notification", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "notification");
        return;
    }
    const char *type = zpar_msg_type (msg);
    json_t *content = zpar_msg_content (msg);
    json_t *id = json_object_get (content, "id");
    const char *uuid = json_string_value (json_object_get (content, "uuid"));
    uint64_t version = json_integer_value (json_object_get (content, "registry_version"));
    char key [16];
    snprintf (key, sizeof key, "%d", (int) json_integer_value (id));
    s_note_hub (self, msg);
    if (streq (type, "shutdown_notification")) {
        self->shut_down = true;
        s_fail_calls (self, NULL, -1, ZPAR_E_ENGINE, "the cluster shut down before answering");
    }
    else
    if (streq (type, "scheduler_lost_notification")
    &&  json_integer_value (json_object_get (content, "pid")) != self->lost_scheduler) {
        self->lost_scheduler = json_integer_value (json_object_get (content, "pid"));
        //  Whatever was inside it is lost; an engine may still have run
        //  it. The connections reach its successor by themselves.
        char text [256];
        snprintf (text, sizeof text, "the scheduler (pid %lld) ended before answering (%s); "
                  "the task may or may not have run",
                  (long long) json_integer_value (json_object_get (content, "pid")),
                  json_string_value (json_object_get (content, "reason"))
                  ? json_string_value (json_object_get (content, "reason")): "lost");
        s_resend_lost (self, text);
    }
    else
    if (json_is_integer (id) && uuid && version > self->registry_version) {
        if (version > self->registry_version + 1)
            s_refresh_engines (self);       //  missed one: ask for the table
        else
        if (streq (type, "registration_notification"))
            zhashx_update (self->engines, key, (void *) uuid);
        else
        if (streq (type, "unregistration_notification"))
            zhashx_delete (self->engines, key);
        if (version > self->registry_version)
            self->registry_version = version;
        if (streq (type, "unregistration_notification")) {
            const char *why = json_string_value (json_object_get (content, "reason"));
            char text [256];
            snprintf (text, sizeof text, "engine %d died before answering (%s)",
                      (int) json_integer_value (id), why? why: "unregistered");
            s_fail_calls (self, uuid, (int) json_integer_value (id), ZPAR_E_ENGINE, text);
        }
    }
    zpar_msg_destroy (&msg);
}

int
zpar_client_pump (zpar_client_t *self, int timeout_ms)
{
    if (self->refresh_at) {
        int64_t left = self->refresh_at - zpar_mono_ms ();
        if (left <= 0) {
            self->refresh_at = 0;
            s_refresh_engines (self);
            return 0;
        }
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = (int) left;
    }
    zpar_parts_t *raw = &self->received;
    void *which = zpar_poller_wait (self->poller, timeout_ms, raw);
    //  A socket not made yet (a scheduler role not registered) is NULL,
    //  and so is which when nothing came.
    if (!which)
        return -1;
    if (which == self->mux)
        s_handle_reply (self, raw, "mux");
    else
    if (which == self->task)
        s_handle_reply (self, raw, "task");
    else
    if (which == self->control)
        s_handle_reply (self, raw, "control");
    else
    if (which && which == self->broadcast)
        s_handle_broadcast (self, raw);
    else
    if (which == self->notification)
        s_handle_notification (self, raw);
    else
        return -1;
    return 0;
}
