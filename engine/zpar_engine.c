/*  zpar_engine.c - registration, the request loop, replies.             */

#include "zpar_engine.h"
#include "zpar_heart.h"
#include "zpar_registry.h"

#include "zpar_connfile.h"
#include "zpar_drops.h"
#include "zpar_log.h"
#include "zpar_msg.h"
#include "zpar_net.h"
#include "zpar_poller.h"
#include "zpar_request.h"
#include "zpar_util.h"

//  How long one registration or hello attempt waits before it is sent
//  again. The hub answers in well under a millisecond; a second covers a
//  loaded machine without making a real outage slow to notice.
#define S_ATTEMPT_MS 1000

//  Goodbye to the hub on the way out: short, since a stopping hub must not
//  hold engines up.
#define S_GOODBYE_MS 500

//  A reply carries what its call printed, up to this much (or a quarter
//  of the message limit); the rest is cut, and the reply says so.
#define S_OUTPUT_MAX (1024 * 1024)

//  Tasks aborted before they reached the engine, remembered at most this
//  many (oldest forgotten first).
#define S_ABORTED_MAX 10000

//  A call past its walltime ends the engine this much later.
#define S_WALLTIME_GRACE_MS 1000

typedef struct {
    const zpar_engine_options_t *options;
    zpar_connfile_t *conn;
    zpar_sign_t *signer;
    char *session;
    char *uuid;
    int64_t max_size;
    zsock_t *reg, *mux, *task, *control, *iopub;
    zsock_t *broadcast;         //  to this engine's broadcast leaf, if the cluster has one
    zactor_t *heart;
    zpar_registry_t *registry;
    json_t *namespace;
    zhashx_t *bytes;            //  binary values of the namespace: name -> zchunk_t
    zpar_engine_info_t info;
    zpar_drops_t drops;
    zpar_msg_t *current;        //  the request being run (parent of its output)
    char *output;               //  what the current call printed, for its reply
    size_t output_size;
    bool output_cut;
    zhashx_t *aborted;          //  msg_id -> "" for tasks aborted in advance
    zlistx_t *aborted_order;
    char *hb_ping_ep, *hb_pong_ep;
    int hb_period_ms, hb_liveness;
    bool stop;
    bool watched;               //  the heart watches the running call's walltime
} s_engine_t;

static int s_engine_register (s_engine_t *self);
static int s_engine_hello (s_engine_t *self);
static void s_engine_handle_work (s_engine_t *self, zsock_t *sock, zpar_parts_t *raw, const char *where);
static void s_engine_handle_control (s_engine_t *self, zpar_parts_t *raw);
static bool s_engine_apply (s_engine_t *self, zsock_t *sock, zpar_msg_t *request);
static void s_engine_goodbye (s_engine_t *self);
static void s_engine_print (void *context, const char *name, const char *text);
static void s_engine_keep_output (s_engine_t *self, const char *text);
static zpar_msg_t *s_engine_request (s_engine_t *self, zsock_t *sock, const char *msg_type,
                                     json_t *content, int timeout_ms);

static void
s_engine_destroy (s_engine_t *self)
{
    zactor_destroy (&self->heart);
    zsock_destroy (&self->reg);
    zsock_destroy (&self->mux);
    zsock_destroy (&self->task);
    zsock_destroy (&self->broadcast);
    zsock_destroy (&self->control);
    zsock_destroy (&self->iopub);
    zpar_registry_destroy (&self->registry);
    json_decref (self->namespace);
    zhashx_destroy (&self->bytes);
    zpar_connfile_destroy (&self->conn);
    zpar_sign_destroy (&self->signer);
    zhashx_destroy (&self->aborted);
    free (self->output);
    free (self->hb_ping_ep);
    free (self->hb_pong_ep);
    zlistx_destroy (&self->aborted_order);
    free (self->session);
    free (self->uuid);
}

int
zpar_engine_run (const zpar_engine_options_t *options)
{
    s_engine_t engine = { .options = options }, *self = &engine;
    int rc = 1;
    char *error = NULL;
    self->registry = zpar_registry_new ();
    zpar_builtins_register (self->registry);
    for (const char **plugin = options->plugins; plugin && *plugin; plugin++)
        if (zpar_registry_load (self->registry, *plugin, &error) != 0) {
            zpar_error ("%s", error);
            goto done;
        }
    self->conn = zpar_connfile_await (options->profile, options->connfile,
                                      options->registration_timeout_s * 1000, &error);
    if (!self->conn) {
        zpar_error ("%s", error);
        goto done;
    }
    self->signer = zpar_sign_new (self->conn->key, ZPAR_REPLAY_HISTORY);
    self->max_size = self->conn->max_message_size? self->conn->max_message_size: ZPAR_MAX_MESSAGE_SIZE;
    //  A cluster with CurveZMQ: every socket of this engine (its heart's
    //  too) with a keypair of its own.
    zpar_curve_t keys = { 0 };
    if (self->conn->curve_serverkey) {
        if (zpar_curve_for_peer (self->conn->curve_serverkey, &keys) != 0) {
            zpar_error ("cannot make a CurveZMQ keypair");
            goto done;
        }
        zpar_net_set_curve (&keys);
    }
    self->session = zpar_new_uuid ();
    //  A supervisor names its engines, so that it can say which one ended.
    self->uuid = options->uuid? strdup (options->uuid): zpar_new_uuid ();
    self->namespace = json_object ();
    self->bytes = zhashx_new ();
    zhashx_set_destructor (self->bytes, (zhashx_destructor_fn *) zchunk_destroy);
    self->aborted = zhashx_new ();
    self->aborted_order = zlistx_new ();
    zlistx_set_destructor (self->aborted_order, (czmq_destructor *) zstr_free);
    self->info = (zpar_engine_info_t) {
        .id = -1, .uuid = self->uuid, .host = zpar_hostname (), .pid = getpid (),
        .registry = self->registry, .namespace = self->namespace, .bytes = self->bytes,
        .print = s_engine_print, .print_context = self
    };
    self->reg = zpar_connect (ZMQ_DEALER, self->conn->registration, NULL, self->max_size);
    if (!self->signer || !self->reg)
        goto done;
    if (s_engine_register (self) != 0 || s_engine_hello (self) != 0)
        goto done;

    //  What the heart sends if a hub that took over asks it to register
    //  again: the same engine, its id already given, its scheduler
    //  connections already made.
    json_t *again = json_pack ("{s:s, s:s, s:i, s:o, s:i, s:i, s:b}", "uuid", self->uuid,
        "host", zpar_hostname (), "pid", (int) getpid (),
        "functions", zpar_registry_names (self->registry), "id", self->info.id,
        "restarts", self->options->restarts, "reregister", 1);
    char *registration = json_dumps (again, JSON_COMPACT);
    json_decref (again);
    zpar_heart_config_t heart = {
        .ping_endpoint = self->hb_ping_ep, .pong_endpoint = self->hb_pong_ep,
        .uuid = self->uuid, .key = self->conn->key,
        .period_ms = self->hb_period_ms, .liveness = self->hb_liveness,
        .registration_endpoint = self->conn->registration, .registration = registration,
        .max_message_size = self->max_size
    };
    self->heart = zactor_new (zpar_heart_actor, &heart);
    free (registration);
    zpar_info ("engine %d ready (uuid %s, pid %d)", self->info.id, self->uuid, (int) getpid ());
    if (options->ready_fd >= 0) {
        if (write (options->ready_fd, "ready\n", 6) != 6)
            zpar_warn ("could not report readiness");
        close (options->ready_fd);
    }

    //  Control first: the poller reports the first ready socket in this
    //  order, so an abort or shutdown overtakes queued work. The hub's
    //  socket only answers requests, which wait for their replies.
    zpar_poller_t *poller = zpar_poller_new (self->control, self->mux, self->task, self->heart, NULL);
    if (self->broadcast)
        zpar_poller_add (poller, self->broadcast);
    //  A signal stops the engine after the running call, even with work
    //  still queued.
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    while (!self->stop && !zsys_interrupted) {
        void *which = zpar_poller_wait (poller, -1, &parts);
        if (which == self->control)
            s_engine_handle_control (self, &parts);
        else
        if (which == self->mux)
            s_engine_handle_work (self, self->mux, &parts, "mux");
        else
        if (which == self->task)
            s_engine_handle_work (self, self->task, &parts, "task");
        else
        if (which && which == self->broadcast)
            s_engine_handle_work (self, self->broadcast, &parts, "broadcast");
        else
        if (which == self->heart) {
            zmsg_t *raw = zpar_parts_to_zmsg (&parts);
            char *event = zmsg_popstr (raw);
            zmsg_destroy (&raw);
            if (event && streq (event, "LOST"))
                zpar_warn ("no heartbeat from the hub for %d periods", self->hb_liveness);
            else
            if (event && streq (event, "FOUND"))
                zpar_info ("heartbeats from the hub again");
            zstr_free (&event);
        }
        else
        if (zpar_poller_terminated (poller))
            break;
    }
    zpar_parts_free (&parts);
    zpar_poller_destroy (&poller);
    s_engine_goodbye (self);
    zpar_info ("engine %d stopping", self->info.id);
    rc = 0;
done:
    free (error);
    s_engine_destroy (self);
    return rc;
}

static zpar_msg_t *
s_engine_request (s_engine_t *self, zsock_t *sock, const char *msg_type,
                  json_t *content, int timeout_ms)
{
    zpar_peer_t peer = { sock, self->signer, self->session, self->max_size, &self->drops, 0 };
    return zpar_request (&peer, msg_type, content, timeout_ms);
}

static char *
s_endpoint (json_t *endpoints, const char *name)
{
    const char *value = json_string_value (json_object_get (endpoints, name));
    return value? strdup (value): NULL;
}

//  The broadcast role's leaf for engine id: its list's entry id % count.
static char *
s_leaf_endpoint (json_t *endpoints, int id)
{
    const char *list = json_string_value (json_object_get (endpoints, ZPAR_ROLE_BROADCAST));
    if (!list || !*list)
        return NULL;
    int count = 1;
    for (const char *c = list; *c; c++)
        count += *c == ' ';
    const char *start = list;
    for (int skip = id % count; skip > 0; skip--)
        start = strchr (start, ' ') + 1;
    return strndup (start, strcspn (start, " "));
}

static int
s_engine_register (s_engine_t *self)
{
    int64_t deadline = zpar_mono_ms () + (int64_t) self->options->registration_timeout_s * 1000;
    while (!zsys_interrupted) {
        json_t *content = json_pack ("{s:s, s:s, s:i, s:o}", "uuid", self->uuid,
            "host", zpar_hostname (), "pid", (int) getpid (),
            "functions", zpar_registry_names (self->registry));
        if (self->options->wanted_id >= 0)
            json_object_set_new (content, "id", json_integer (self->options->wanted_id));
        if (self->options->restarts > 0)
            json_object_set_new (content, "restarts", json_integer (self->options->restarts));
        zpar_msg_t *reply = s_engine_request (self, self->reg, "registration_request",
                                              content, S_ATTEMPT_MS);
        json_t *body = reply? zpar_msg_content (reply): NULL;
        const char *status = json_string_value (json_object_get (body, "status"));
        if (status && streq (status, "ok")) {
            json_t *endpoints = json_object_get (body, "endpoints");
            self->info.id = (int) json_integer_value (json_object_get (body, "id"));
            self->hb_period_ms = (int) json_integer_value (json_object_get (body, "hb_period_ms"));
            self->hb_liveness = (int) json_integer_value (json_object_get (body, "hb_liveness"));
            self->hb_ping_ep = s_endpoint (endpoints, "hb_ping");
            self->hb_pong_ep = s_endpoint (endpoints, "hb_pong");
            char *mux = s_endpoint (endpoints, ZPAR_ROLE_MUX);
            char *task = s_endpoint (endpoints, ZPAR_ROLE_TASK);
            char *control = s_endpoint (endpoints, ZPAR_ROLE_CONTROL);
            char *iopub = s_endpoint (endpoints, ZPAR_ROLE_IOPUB);
            int rc = -1;
            if (mux && task && control && iopub && self->hb_ping_ep && self->hb_pong_ep
            &&  self->hb_period_ms > 0 && self->hb_liveness > 0) {
                //  The uuid is each DEALER's identity: schedulers route by it.
                self->mux = zpar_connect (ZMQ_DEALER, mux, self->uuid, self->max_size);
                self->task = zpar_connect (ZMQ_DEALER, task, self->uuid, self->max_size);
                self->control = zpar_connect (ZMQ_DEALER, control, self->uuid, self->max_size);
                self->iopub = zpar_connect (ZMQ_PUB, iopub, NULL, self->max_size);
                rc = self->mux && self->task && self->control && self->iopub? 0: -1;
                char *leaf = s_leaf_endpoint (endpoints, self->info.id);
                if (leaf)
                    self->broadcast = zpar_connect (ZMQ_DEALER, leaf, self->uuid, self->max_size);
                if (leaf && !self->broadcast)
                    rc = -1;
                free (leaf);
            }
            else
                zpar_error ("the hub's registration reply lacks endpoints");
            free (mux);
            free (task);
            free (control);
            free (iopub);
            zpar_msg_destroy (&reply);
            if (rc == 0) {
                char name [32];
                snprintf (name, sizeof name, "engine %d", self->info.id);
                zpar_log_set_name (name);
            }
            return rc;
        }
        if (status)
            zpar_warn ("registration refused: %s",
                       json_string_value (json_object_get (body, "evalue")));
        zpar_msg_destroy (&reply);
        if (zpar_mono_ms () >= deadline) {
            zpar_error ("no hub answered at %s within %d s", self->conn->registration,
                        self->options->registration_timeout_s);
            return -1;
        }
        //  A refusal (schedulers not up yet) is answered at once: pause
        //  before asking again instead of spinning.
        if (status)
            zclock_sleep (100);
    }
    return -1;
}

//  Says hello on each scheduler connection and waits for the answers, so
//  that every scheduler knows this engine's connection before the hub
//  announces it and a client can send it work.
static int
s_engine_hello (s_engine_t *self)
{
    zsock_t *socks [] = { self->mux, self->task, self->control, self->broadcast };
    int64_t deadline = zpar_mono_ms () + (int64_t) self->options->registration_timeout_s * 1000;
    for (size_t i = 0; i < sizeof socks / sizeof *socks && socks [i]; i++) {
        zpar_msg_t *reply = NULL;
        while (!reply && !zsys_interrupted && zpar_mono_ms () < deadline)
            reply = s_engine_request (self, socks [i], "engine_hello",
                                      json_pack ("{s:i, s:s}", "id", self->info.id, "uuid", self->uuid),
                                      S_ATTEMPT_MS);
        if (!reply) {
            zpar_error ("a scheduler did not answer hello");
            return -1;
        }
        zpar_msg_destroy (&reply);
    }
    return 0;
}

static void
s_engine_goodbye (s_engine_t *self)
{
    //  The heart first: a hub that no longer knows this engine after its
    //  goodbye must not hear a pong from it, and have it register again.
    zactor_destroy (&self->heart);
    zpar_msg_t *reply = s_engine_request (self, self->reg, "unregistration_request",
                                          json_pack ("{s:s, s:i}", "uuid", self->uuid, "id", self->info.id),
                                          S_GOODBYE_MS);
    zpar_msg_destroy (&reply);
}

static json_t *
s_error_content (const char *ename, const char *evalue, int engine_id)
{
    char name [64], text [1024];
    snprintf (name, sizeof name, "%s", ename? ename: "FunctionError");
    snprintf (text, sizeof text, "%s", evalue? evalue: "");
    return json_pack ("{s:s, s:s, s:s, s:[], s:i}", "status", "error", "ename", zpar_utf8_clean (name),
                      "evalue", zpar_utf8_clean (text), "traceback", "engine_id", engine_id);
}

//  The buffers call returned go into reply as they are, none copied: the
//  ones it made or was given, and the request's own sent back (shared
//  with the request, so one sent back twice costs nothing either), all
//  in the order the function returned them.
static void
s_engine_out_buffers (zpar_msg_t *reply, zpar_msg_t *request, zpar_call_t *call)
{
    size_t count = call? zpar_call_out_buffers (call): 0;
    for (size_t i = 0; i < count; i++) {
        void *data, *hint;
        size_t size;
        zpar_free_fn *free_fn;
        int input;
        zpar_call_take_out_buffer (call, i, &data, &size, &free_fn, &hint, &input);
        if (input < 0)
            zpar_msg_give_buffer (reply, data, size, free_fn, hint);
        else
        if ((size_t) input < zpar_msg_buffers (request))
            zpar_msg_share_buffer (reply, zpar_msg_buffer (request, (size_t) input));
    }
}

//  Reply to request with content and status; timestamps go in metadata.
static void s_engine_reply (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, const char *msg_type,
                            json_t *content, int64_t started_us, zpar_call_t *call);

//  ok_text: a success's content, written already (content is NULL then).
static void
s_engine_reply_with (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, const char *msg_type,
                     json_t *content, const char *ok_text, size_t ok_size, int64_t started_us,
                     zpar_call_t *call)
{
    char started [40], completed [40];
    zpar_iso_date (started_us, started, sizeof started);
    zpar_iso_date (zpar_wall_us (), completed, sizeof completed);
    zpar_msg_t *reply = zpar_msg_new_reply (request, msg_type, self->session);
    const char *status = ok_text? "ok": json_string_value (json_object_get (content, "status"));
    if (!status || (!streq (status, "ok") && !streq (status, "aborted")))
        status = "error";
    //  Without output nothing here needs escaping (uuid and dates are
    //  zpar's own): written as text, at a fraction of building it.
    char text [256];
    int length = snprintf (text, sizeof text,
        "{\"status\":\"%s\",\"engine_id\":%d,\"engine_uuid\":\"%s\",\"started\":\"%s\","
        "\"completed\":\"%s\"}", status, self->info.id, self->uuid, started, completed);
    bool output = call && self->output_size;
    if (!output && length > 0 && (size_t) length < sizeof text)
        zpar_msg_set_text (reply, ZPAR_FRAME_METADATA, text, (size_t) length);
    else {
        json_t *metadata = json_pack ("{s:s, s:i, s:s, s:s, s:s}",
            "status", status, "engine_id", self->info.id,
            "engine_uuid", self->uuid, "started", started, "completed", completed);
        //  What the call printed travels with its answer too: iopub is for
        //  watching live, and a subscriber that joined late sees nothing.
        if (output) {
            json_object_set_new (metadata, "output", json_string (zpar_utf8_clean (self->output)));
            if (self->output_cut)
                json_object_set_new (metadata, "output_cut", json_true ());
        }
        zpar_msg_set_metadata (reply, metadata);
    }
    if (ok_text)
        zpar_msg_set_text (reply, ZPAR_FRAME_CONTENT, ok_text, ok_size);
    else
        zpar_msg_set_content (reply, content);
    s_engine_out_buffers (reply, request, call);
    size_t size = zpar_msg_size (reply, self->signer);
    if (size > (size_t) self->max_size) {
        //  The scheduler would refuse it and the caller would wait forever.
        zpar_msg_destroy (&reply);
        char evalue [256];
        snprintf (evalue, sizeof evalue, "the result is %zu bytes, over the cluster's limit of %lld "
                  "(ipcluster start --max-message-size)", size, (long long) self->max_size);
        s_engine_reply (self, sock, request, msg_type, s_error_content (ZPAR_E_VALUE, evalue, self->info.id),
                        started_us, NULL);
        return;
    }
    if (zpar_msg_send (&reply, sock, self->signer) != 0)
        zpar_warn ("could not send a %s: %s", msg_type, zmq_strerror (zmq_errno ()));
}

static void
s_engine_reply (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, const char *msg_type,
                json_t *content, int64_t started_us, zpar_call_t *call)
{
    s_engine_reply_with (self, sock, request, msg_type, content, NULL, 0, started_us, call);
}

//  A success: {"status": "ok", "result": ...} written around the result's
//  text, without building the object to encode it.
static void
s_engine_reply_ok (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, json_t *result,
                   int64_t started_us, zpar_call_t *call)
{
    static const char head [] = "{\"status\":\"ok\",\"result\":";
    char text [4096];
    size_t room = sizeof text - (sizeof head - 1) - 1;
    size_t size = json_dumpb (result, text + sizeof head - 1, room, JSON_COMPACT | JSON_ENCODE_ANY);
    if (size == 0 || size > room) {
        s_engine_reply (self, sock, request, "apply_reply",
                        json_pack ("{s:s, s:O}", "status", "ok", "result", result), started_us, call);
        return;
    }
    memcpy (text, head, sizeof head - 1);
    size += sizeof head - 1;
    text [size++] = '}';
    s_engine_reply_with (self, sock, request, "apply_reply", NULL, text, size, started_us, call);
}

//  A chunk of a map: fn once per argument list, answered together with
//  "results" (null where a call failed) and "errors" {"index": error}.
//  The reply's status is error when any call failed, so that a task with
//  retries runs again; ename and evalue are the first failure's.
static void
s_engine_chunk (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, const char *name,
                zpar_fn_t *fn, json_t *chunk, json_t *kwargs, int64_t started)
{
    json_t *results = json_array (), *errors = json_object (), *first = NULL;
    //  A map with buffers: "chunk_buffers" says how many of the request's
    //  buffers each input has, in order. What each call returns goes into
    //  the reply the same way, counted in "buffer_counts". A stand-in call
    //  holds all of it, so that it leaves uncopied (s_engine_out_buffers).
    zpar_call_t *all = zpar_call_new (&self->info, NULL, NULL);
    for (size_t b = 0; b < zpar_msg_buffers (request); b++) {
        zmq_msg_t *frame = zpar_msg_buffer (request, b);
        zpar_call_add_buffer (all, zmq_msg_data (frame), zmq_msg_size (frame));
    }
    json_t *shares = json_object_get (zpar_msg_content (request), "chunk_buffers");
    json_t *counts = json_array ();
    bool returned = false;
    size_t i, next = 0;
    json_t *args;
    json_array_foreach (chunk, i, args) {
        zpar_call_t *call = zpar_call_new (&self->info, args, kwargs);
        size_t share = (size_t) json_integer_value (json_array_get (shares, i)), from = next;
        for (; next < from + share && next < zpar_msg_buffers (request); next++) {
            zmq_msg_t *frame = zpar_msg_buffer (request, next);
            zpar_call_add_buffer (call, zmq_msg_data (frame), zmq_msg_size (frame));
        }
        zpar_call_run (call, name, fn);
        size_t out = zpar_call_out_buffers (call);
        for (size_t b = 0; b < out; b++) {
            void *data, *hint;
            size_t size;
            zpar_free_fn *free_fn;
            int input;
            zpar_call_take_out_buffer (call, b, &data, &size, &free_fn, &hint, &input);
            if (input >= 0)
                zpar_call_return_input (all, from + (size_t) input);
            else
                zpar_call_give_buffer (all, data, size, free_fn, hint);
        }
        json_array_append_new (counts, json_integer ((json_int_t) out));
        returned |= out > 0;
        json_t *error = zpar_call_error (call);
        json_array_append (results, error? json_null (): zpar_call_result (call));
        if (error) {
            char key [24];
            snprintf (key, sizeof key, "%zu", i);
            json_object_set (errors, key, error);
            if (!first)
                first = json_incref (error);
        }
        zpar_call_destroy (&call);
    }
    json_t *reply = first
        ? s_error_content (json_string_value (json_object_get (first, "ename")),
                           json_string_value (json_object_get (first, "evalue")), self->info.id)
        : json_pack ("{s:s}", "status", "ok");
    json_object_set_new (reply, "results", results);
    json_object_set_new (reply, "errors", errors);
    if (returned)
        json_object_set (reply, "buffer_counts", counts);
    json_decref (counts);
    json_decref (first);
    s_engine_reply (self, sock, request, "apply_reply", reply, started, all);
    zpar_call_destroy (&all);
}

//  A task with a walltime: the heart thread ends this engine when the
//  call runs past it (with a second's grace, so that the task scheduler,
//  whose clock started first, answers TaskTimeout before the engine goes).
static void
s_engine_watch (s_engine_t *self, zpar_msg_t *request)
{
    zmq_msg_t *frame = zpar_msg_frame (request, ZPAR_FRAME_METADATA);
    if (!frame || !memmem (zmq_msg_data (frame), zmq_msg_size (frame), "walltime", 8))
        return;                         //  most tasks: no parse
    json_t *walltime = json_object_get (zpar_msg_metadata (request), "walltime");
    if (!json_is_number (walltime) || !(json_number_value (walltime) > 0)
    ||  json_number_value (walltime) > 1e9)
        return;
    char ms [32];
    snprintf (ms, sizeof ms, "%lld", (long long) (json_number_value (walltime) * 1000) + S_WALLTIME_GRACE_MS);
    zstr_sendx (self->heart, "WALLTIME", ms, NULL);
    self->watched = true;
}

static void
s_engine_unwatch (s_engine_t *self)
{
    if (self->watched)
        zstr_send (self->heart, "DONE");
    self->watched = false;
}

static bool s_engine_run (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, int64_t started,
                          const char *name, json_t *args, json_t *chunk, json_t *kwargs);

//  A plain call's fn and args read from the content's text, not parsed
//  as a whole: most requests are {"fn": NAME, "args": [...], "kwargs": {}}.
//  False when the request is another kind, or the text needs the parser.
static bool
s_engine_plain_call (zpar_msg_t *request, char *name, size_t name_size, json_t **args)
{
    const char *const keys [] = { "fn", "args", "chunk", "kwargs" };
    const char *texts [4];
    size_t sizes [4];
    if (zpar_msg_scan_members (request, ZPAR_FRAME_CONTENT, keys, 4, texts, sizes) != 0
    ||  !texts [0] || *texts [0] != '"' || sizes [0] - 2 >= name_size || !texts [1] || texts [2]
    ||  (texts [3] && !(sizes [3] == 2 && memcmp (texts [3], "{}", 2) == 0)))
        return false;
    memcpy (name, texts [0] + 1, sizes [0] - 2);
    name [sizes [0] - 2] = 0;
    *args = json_loadb (texts [1], sizes [1], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    return *args != NULL;
}

//  False: the content is no JSON object (malformed; nothing answered).
static bool
s_engine_apply (s_engine_t *self, zsock_t *sock, zpar_msg_t *request)
{
    int64_t started = zpar_wall_us ();
    char plain_name [128];
    json_t *plain_args = NULL, *content = NULL;
    const char *name;
    json_t *args, *chunk = NULL, *kwargs = NULL;
    if (s_engine_plain_call (request, plain_name, sizeof plain_name, &plain_args)) {
        name = plain_name;
        args = plain_args;
    }
    else {
        if (!(content = zpar_msg_content (request)))
            return false;
        name = json_string_value (json_object_get (content, "fn"));
        args = json_object_get (content, "args");
        chunk = json_object_get (content, "chunk");
        kwargs = json_object_get (content, "kwargs");
    }
    bool rc = s_engine_run (self, sock, request, started, name, args, chunk, kwargs);
    json_decref (plain_args);
    return rc;
}

static bool
s_engine_run (s_engine_t *self, zsock_t *sock, zpar_msg_t *request, int64_t started,
              const char *name, json_t *args, json_t *chunk, json_t *kwargs)
{
    char evalue [1024];

    if (zhashx_lookup (self->aborted, zpar_msg_id (request))) {
        zhashx_delete (self->aborted, zpar_msg_id (request));
        json_t *reply = s_error_content (ZPAR_E_ABORTED, "the task was aborted before it started",
                                         self->info.id);
        json_object_set_new (reply, "status", json_string ("aborted"));
        s_engine_reply (self, sock, request, "apply_reply", reply, started, NULL);
        return true;
    }
    bool bad_chunk = chunk && !json_is_array (chunk);
    size_t i;
    json_t *each;
    json_array_foreach (chunk, i, each)
        bad_chunk |= !json_is_array (each);
    if (!name || (args && !json_is_array (args)) || (kwargs && !json_is_object (kwargs)) || bad_chunk) {
        s_engine_reply (self, sock, request, "apply_reply", s_error_content (ZPAR_E_VALUE,
            "apply_request needs fn (a string), args (a list) or chunk (a list of lists), "
            "and kwargs (an object)", self->info.id), started, NULL);
        return true;
    }
    zpar_fn_t *fn = zpar_registry_lookup (self->registry, name);
    if (!fn) {
        json_t *names = zpar_registry_names (self->registry);
        size_t used = (size_t) snprintf (evalue, sizeof evalue,
            "name '%.128s' is not defined on engine %d; registered:", name, self->info.id);
        size_t i;
        json_t *each;
        json_array_foreach (names, i, each)
            if (used < sizeof evalue)
                used += (size_t) snprintf (evalue + used, sizeof evalue - used, "%s %s",
                                           i? ",": "", json_string_value (each));
        json_decref (names);
        s_engine_reply (self, sock, request, "apply_reply",
                        s_error_content (ZPAR_E_NAME, evalue, self->info.id), started, NULL);
        return true;
    }
    self->current = request;
    self->output_size = 0;
    self->output_cut = false;
    s_engine_watch (self, request);
    if (chunk) {
        s_engine_chunk (self, sock, request, name, fn, chunk, kwargs, started);
        self->current = NULL;
        s_engine_unwatch (self);
        return true;
    }
    zpar_call_t *call = zpar_call_new (&self->info, args, kwargs);
    for (size_t i = 0; i < zpar_msg_buffers (request); i++) {
        zmq_msg_t *frame = zpar_msg_buffer (request, i);
        zpar_call_add_buffer (call, zmq_msg_data (frame), zmq_msg_size (frame));
    }
    zpar_call_run (call, name, fn);
    self->current = NULL;
    s_engine_unwatch (self);
    json_t *error = zpar_call_error (call);
    if (error)
        s_engine_reply (self, sock, request, "apply_reply",
                        s_error_content (json_string_value (json_object_get (error, "ename")),
                                         json_string_value (json_object_get (error, "evalue")),
                                         self->info.id), started, call);
    else
        s_engine_reply_ok (self, sock, request, zpar_call_result (call), started, call);
    zpar_call_destroy (&call);
    return true;
}

static void
s_engine_handle_work (s_engine_t *self, zsock_t *sock, zpar_parts_t *raw, const char *where)
{
    zpar_drop_t reason;
    zpar_msg_t *request = zpar_msg_decode_parts (raw, self->signer, self->max_size, where, &reason);
    if (!request) {
        zpar_drops_add (&self->drops, reason, where);
        return;
    }
    const char *type = zpar_msg_type (request);
    if (streq (type, "apply_request")) {
        if (!s_engine_apply (self, sock, request))
            zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, where);
    }
    else
    if (!zpar_msg_content (request))
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, where);
    else
    if (!streq (type, "engine_hello_reply"))
        //  Not answered: see the hub's registration handler.
        zpar_drops_add (&self->drops, ZPAR_DROP_UNKNOWN_TYPE, where);
    zpar_msg_destroy (&request);
}

static void
s_engine_abort (s_engine_t *self, json_t *msg_ids)
{
    size_t i;
    json_t *id;
    json_array_foreach (msg_ids, i, id) {
        if (!json_is_string (id) || zhashx_lookup (self->aborted, json_string_value (id)))
            continue;
        if (zlistx_size (self->aborted_order) >= S_ABORTED_MAX) {
            char *oldest = zlistx_first (self->aborted_order);
            zhashx_delete (self->aborted, oldest);
            zlistx_delete (self->aborted_order, zlistx_cursor (self->aborted_order));
        }
        zlistx_add_end (self->aborted_order, strdup (json_string_value (id)));
        zhashx_insert (self->aborted, json_string_value (id), "");
    }
}

static void
s_engine_handle_control (s_engine_t *self, zpar_parts_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *request = zpar_msg_decode_parts (raw, self->signer, self->max_size, "control", &reason);
    if (!request) {
        zpar_drops_add (&self->drops, reason, "control");
        return;
    }
    const char *type = zpar_msg_type (request);
    json_t *content = zpar_msg_content (request);
    int64_t now = zpar_wall_us ();
    if (!content)
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "control");
    else
    if (streq (type, "shutdown_request")) {
        zpar_info ("shutdown requested");
        s_engine_reply (self, self->control, request, "shutdown_reply",
                        json_pack ("{s:s}", "status", "ok"), now, NULL);
        self->stop = true;
    }
    else
    if (streq (type, "abort_request")) {
        json_t *ids = json_object_get (content, "msg_ids");
        if (json_is_array (ids))
            s_engine_abort (self, ids);
        s_engine_reply (self, self->control, request, "abort_reply",
                        json_is_array (ids)? json_pack ("{s:s}", "status", "ok")
                        : s_error_content (ZPAR_E_VALUE, "abort_request needs msg_ids (a list)",
                                           self->info.id), now, NULL);
    }
    else
    if (streq (type, "clear_request")) {
        json_object_clear (self->namespace);
        zhashx_purge (self->bytes);
        s_engine_reply (self, self->control, request, "clear_reply",
                        json_pack ("{s:s}", "status", "ok"), now, NULL);
    }
    else
    if (!streq (type, "engine_hello_reply"))
        zpar_drops_add (&self->drops, ZPAR_DROP_UNKNOWN_TYPE, "control");
    zpar_msg_destroy (&request);
}

//  Keeps printed text for the reply, within the limit.
static void
s_engine_keep_output (s_engine_t *self, const char *text)
{
    size_t limit = (size_t) self->max_size / 4 < S_OUTPUT_MAX? (size_t) self->max_size / 4: S_OUTPUT_MAX;
    size_t size = strlen (text);
    if (self->output_size + size > limit) {
        size = limit - self->output_size;
        self->output_cut = true;
    }
    char *grown = realloc (self->output, self->output_size + size + 1);
    if (!grown)
        return;
    self->output = grown;
    memcpy (self->output + self->output_size, text, size);
    self->output_size += size;
    self->output [self->output_size] = 0;
    //  A cut in the middle of a character would not be valid JSON.
    if (self->output_cut)
        self->output_size = strlen (zpar_utf8_clean (self->output));
}

//  Output of a running function: a stream message on iopub, whose parent
//  is the request, so the client can tell which call printed it.
static void
s_engine_print (void *context, const char *name, const char *text)
{
    s_engine_t *self = context;
    if (!self->iopub)
        return;
    zpar_msg_t *msg = zpar_msg_new ("stream", self->session);
    if (self->current)
        zpar_msg_set_parent (msg, json_deep_copy (zpar_msg_header (self->current)));
    //  Output over half the message limit is cut, with a note, so the
    //  stream message still fits.
    size_t room = (size_t) self->max_size / 2;
    char *cut = strlen (text) > room? strndup (text, room): NULL;
    if (cut)
        zpar_utf8_clean (cut);
    json_t *content = json_pack ("{s:s, s:s}", "name", name, "text", cut? cut: text);
    if (cut)
        json_object_set_new (content, "cut", json_true ());
    free (cut);
    zpar_msg_set_content (msg, content);
    zpar_msg_set_metadata (msg, json_pack ("{s:i}", "engine_id", self->info.id));
    char topic [64];
    snprintf (topic, sizeof topic, "engine.%d.%s", self->info.id, name);
    zpar_msg_add_route (msg, topic, strlen (topic));
    zpar_msg_send (&msg, self->iopub, self->signer);
    s_engine_keep_output (self, text);
}
