/*  zpar_sched.c - scheduler roles: forwarding, load balancing (zpar_task.c),
    iopub fan-out. One poll loop per role, no other thread on the path.  */

#include "zpar_sched_int.h"

#include "zpar_drops.h"
#include "zpar_log.h"
#include "zpar_msg.h"
#include "zpar_net.h"
#include "zpar_poller.h"
#include "zpar_util.h"

//  Counters go to the hub at most this often, and only when they changed,
//  so a flood of garbage costs the hub one message per interval.
#define S_STATS_INTERVAL_MS 100

//  Monitor copies go to the hub in batches: at most this long after the
//  first copy of a batch, or as soon as it holds S_BATCH_MAX copies or
//  S_BATCH_BYTES. One message per call would wake the hub twice a call
//  and, on a machine with few cores, take CPU from the client, scheduler
//  and engine; 10 ms keeps the hub's view that fresh.
#define S_BATCH_MS    10
#define S_BATCH_MAX   256
#define S_BATCH_BYTES (1024 * 1024)

//  A batch also goes once the role has been idle this long: when traffic
//  stops, the hub's view (zpar status, zpar engines) catches up at once.
#define S_BATCH_IDLE_MS 1

//  -- role ----------------------------------------------------------------
static zpar_role_t *s_sched_new (zsock_t *pipe, zpar_sched_config_t *config);
static void s_sched_destroy (zpar_role_t **self_p);
static void s_sched_handle_pipe (zpar_role_t *self, zmsg_t *raw);
static void s_sched_handle_front (zpar_role_t *self, zpar_parts_t *raw);
static void s_sched_handle_back (zpar_role_t *self, zpar_parts_t *raw);
static void s_sched_handle_notification (zpar_role_t *self, zmsg_t *raw);
static void s_sched_flush (zpar_role_t *self);
static void s_sched_stats (zpar_role_t *self);
static bool s_stats_changed (zpar_role_t *self);
//  Binds on port when it is free, else on an ephemeral one.
static zsock_t *
s_bind (int type, zpar_sched_config_t *config, int port, char **endpoint)
{
    zsock_t *sock = port? zpar_bind_at (type, config->ip, port, config->max_message_size, endpoint): NULL;
    if (port && !sock)
        zpar_warn ("%s: port %d is taken; peers of the scheduler before must start again",
                   config->role, port);
    return sock? sock: zpar_bind (type, config->ip, config->max_message_size, endpoint);
}

static zpar_role_t *
s_sched_new (zsock_t *pipe, zpar_sched_config_t *config)
{
    zpar_role_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->config = *config;
    self->config.role = strdup (config->role);
    self->config.ip = strdup (config->ip);
    self->config.key = strdup (config->key);
    self->kind = streq (config->role, ZPAR_ROLE_TASK)? ZPAR_ROLE_KIND_TASK
               : streq (config->role, ZPAR_ROLE_IOPUB)? ZPAR_ROLE_KIND_IOPUB: ZPAR_ROLE_KIND_DIRECT;
    self->monitored = streq (config->role, ZPAR_ROLE_MUX) || self->kind == ZPAR_ROLE_KIND_TASK;
    self->signer = zpar_sign_new (config->key, ZPAR_REPLAY_HISTORY);
    self->session = zpar_new_uuid ();
    self->greeted = zhashx_new ();
    if (self->kind == ZPAR_ROLE_KIND_TASK)
        self->task = zpar_task_new (self);
    bool iopub = self->kind == ZPAR_ROLE_KIND_IOPUB;
    self->front = s_bind (iopub? ZMQ_PUB: ZMQ_ROUTER, config, config->client_port, &self->front_ep);
    self->back = s_bind (iopub? ZMQ_SUB: ZMQ_ROUTER, config, config->engine_port, &self->back_ep);
    if (!self->signer || !self->front || !self->back) {
        zpar_error ("%s: cannot bind on %s: %s", config->role, config->ip, zmq_strerror (zmq_errno ()));
        s_sched_destroy (&self);
        return NULL;
    }
    self->poller = zpar_poller_new (pipe, self->front, self->back, NULL);
    //  A flood of requests (or of garbage) must not hold replies back.
    zpar_poller_set_fair (self->poller, true);
    return self;
}

static void
s_sched_destroy (zpar_role_t **self_p)
{
    if (!*self_p)
        return;
    zpar_role_t *self = *self_p;
    zpar_poller_destroy (&self->poller);
    free (self->batch);
    zsock_destroy (&self->front);
    zsock_destroy (&self->back);
    zsock_destroy (&self->notification);
    zsock_destroy (&self->monitor);
    free (self->front_ep);
    free (self->back_ep);
    zpar_task_destroy (&self->task);
    zhashx_destroy (&self->greeted);
    zpar_sign_destroy (&self->signer);
    free (self->session);
    free ((char *) self->config.role);
    free ((char *) self->config.ip);
    free ((char *) self->config.key);
    free (self);
    *self_p = NULL;
}

void
zpar_sched_actor (zsock_t *pipe, void *args)
{
    zpar_sched_config_t *config = args;
    char name [32];
    snprintf (name, sizeof name, "scheduler %s", config->role);
    zpar_log_set_thread_name (name);
    zpar_role_t *self = s_sched_new (pipe, config);
    zsock_signal (pipe, 0);
    if (!self) {
        char *command = zstr_recv (pipe);
        if (command && streq (command, "ENDPOINTS"))
            zstr_sendx (pipe, "", "", NULL);
        zstr_free (&command);
        return;
    }
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    //  The clock is read once a message: the handlers take microseconds.
    int64_t now = zpar_mono_ms ();
    while (!self->terminated) {
        //  Wake for the next batch of monitor copies, counters or task
        //  timeout due.
        int64_t due = self->task? zpar_task_tick (self->task, now): INT64_MAX;
        if (self->batched && self->batch_due < due)
            due = self->batch_due;
        if (self->batched && self->idle_at < due)
            due = self->idle_at;
        if (s_stats_changed (self) && self->stats_at < due)
            due = self->stats_at;
        int64_t wait = due == INT64_MAX? -1: due - now;
        void *which = zpar_poller_wait (self->poller, wait < 0? (due == INT64_MAX? -1: 0): (int) wait,
                                        &parts);
        if (which == self->front)
            s_sched_handle_front (self, &parts);
        else
        if (which == self->back)
            s_sched_handle_back (self, &parts);
        else
        if (which == pipe)
            s_sched_handle_pipe (self, zpar_parts_to_zmsg (&parts));
        else
        if (which && which == self->notification)
            s_sched_handle_notification (self, zpar_parts_to_zmsg (&parts));
        else
        if (zpar_poller_terminated (self->poller))
            break;
        //  Every handler may send on either data socket (see zpar_poller.h).
        zpar_poller_touch (self->poller, self->front);
        zpar_poller_touch (self->poller, self->back);
        now = zpar_mono_ms ();
        if (self->batched && (now >= self->batch_due || self->batched >= S_BATCH_MAX
                              || (!which && now >= self->idle_at)))
            s_sched_flush (self);
        if (which)
            self->idle_at = now + S_BATCH_IDLE_MS;
        if (s_stats_changed (self) && now >= self->stats_at)
            s_sched_stats (self);
    }
    zpar_parts_free (&parts);
    s_sched_flush (self);
    s_sched_destroy (&self);
}

static void
s_sched_handle_pipe (zpar_role_t *self, zmsg_t *raw)
{
    zmsg_t *msg = raw;
    char *command = zmsg_popstr (msg);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "ENDPOINTS"))
        zstr_sendx (self->pipe, self->front_ep, self->back_ep, NULL);
    else
    if (streq (command, "CONNECT")) {
        char *notification = zmsg_popstr (msg);
        char *monitor = zmsg_popstr (msg);
        char *engines = zmsg_popstr (msg);
        //  The task role follows engines to balance over them; mux and
        //  control to know whom to take replies from (an engine that said
        //  hello to the scheduler before this one does not say it again).
        if (notification && self->kind != ZPAR_ROLE_KIND_IOPUB) {
            self->notification = zpar_connect (ZMQ_SUB, notification, NULL, self->config.max_message_size);
            if (self->notification)
                zpar_poller_add (self->poller, self->notification);
        }
        self->monitor = monitor? zpar_connect (ZMQ_PUB, monitor, NULL, 0): NULL;
        //  Engines the hub knew before this scheduler started.
        json_t *table = engines? json_loads (engines, 0, NULL): NULL;
        const char *id;
        json_t *uuid;
        //  They said hello to the scheduler before this one (or are about
        //  to say it to this one), and their connections come back by
        //  themselves: they may answer clients.
        json_object_foreach (table, id, uuid)
            if (json_is_string (uuid) && self->kind == ZPAR_ROLE_KIND_TASK)
                zpar_task_engine_up (self->task, json_string_value (uuid), atoi (id), true, true);
            else
            if (json_is_string (uuid))
                zhashx_update (self->greeted, json_string_value (uuid), "");
        json_decref (table);
        zstr_free (&notification);
        zstr_free (&monitor);
        zstr_free (&engines);
    }
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static size_t
s_unassigned (zpar_role_t *self)
{
    return self->task? zpar_task_unassigned (self->task): 0;
}

//  The counters the hub has are out of date.
static bool
s_stats_changed (zpar_role_t *self)
{
    return self->monitor && (zpar_drops_total (&self->drops) != self->drops_reported
                             || s_unassigned (self) != self->unassigned_reported);
}

void
zpar_sched_report (zsock_t *monitor, zpar_sign_t *signer, const char *session, const char *role,
                   const zpar_drops_t *drops, size_t unassigned)
{
    zpar_msg_t *msg = zpar_msg_new ("scheduler_stats", session);
    zpar_msg_set_content (msg, json_pack ("{s:s, s:o, s:I}", "role", role,
                                          "dropped", zpar_drops_json (drops),
                                          "unassigned", (json_int_t) unassigned));
    zpar_msg_add_route (msg, ZPAR_MON_STATS, strlen (ZPAR_MON_STATS));
    zpar_msg_add_route (msg, role, strlen (role));
    zpar_msg_send (&msg, monitor, signer);
}

static void
s_sched_stats (zpar_role_t *self)
{
    self->unassigned_reported = s_unassigned (self);
    zpar_sched_report (self->monitor, self->signer, self->session, self->config.role,
                       &self->drops, self->unassigned_reported);
    self->drops_reported = zpar_drops_total (&self->drops);
    self->stats_at = zpar_mono_ms () + S_STATS_INTERVAL_MS;
}

//  Appends one part of a monitor entry: length, then bytes.
static void
s_batch_put (zpar_role_t *self, const void *data, size_t size)
{
    if (!self->batch) {
        //  The last batch left with its buffer: a new one, as large.
        self->batch_capacity = self->batch_capacity? self->batch_capacity: 16384;
        self->batch = malloc (self->batch_capacity);
        if (!self->batch)
            self->batch_capacity = 0;
    }
    if (self->batch_size + 4 + size > self->batch_capacity) {
        size_t capacity = self->batch_capacity? 2 * self->batch_capacity: 16384;
        while (capacity < self->batch_size + 4 + size)
            capacity *= 2;
        uint8_t *grown = realloc (self->batch, capacity);
        if (!grown)
            return;
        self->batch = grown;
        self->batch_capacity = capacity;
    }
    uint8_t *cursor = self->batch + self->batch_size;
    cursor [0] = (uint8_t) (size >> 24);
    cursor [1] = (uint8_t) (size >> 16);
    cursor [2] = (uint8_t) (size >> 8);
    cursor [3] = (uint8_t) size;
    memcpy (cursor + 4, data, size);
    self->batch_size += 4 + size;
}

//  The largest batch: the hub refuses messages over the cluster's limit.
static size_t
s_batch_limit (zpar_role_t *self)
{
    size_t half = (size_t) self->config.max_message_size / 2;
    return half < S_BATCH_BYTES? half: S_BATCH_BYTES;
}

//  Adds a copy of what is being routed to the batch for the hub: topic,
//  engine, client and the JSON frames (buffers stay out, and a content
//  over ZPAR_MON_CONTENT_MAX too: the hub keeps records, not bulk data).
//  Returns the batch's size before, to take the copy back with
//  zpar_role_send when the message could not leave; SIZE_MAX when no copy
//  was added (this role sends none, or it would not fit any batch).
size_t
zpar_role_monitor (zpar_role_t *self, const char *topic, const char *engine,
                 zmq_msg_t *client, zpar_msg_t *msg)
{
    if (!self->monitored || !self->monitor)
        return SIZE_MAX;
    //  A message changed here (a retry's new attempt) is encoded first.
    zpar_msg_size (msg, self->signer);
    zmq_msg_t *content = zpar_msg_frame (msg, ZPAR_FRAME_CONTENT);
    bool keep_content = zmq_msg_size (content) <= ZPAR_MON_CONTENT_MAX;
    //  A request too big to copy still says which function it calls.
    char *stub = NULL;
    if (!keep_content && streq (topic, ZPAR_MON_IN)) {
        json_t *fn = json_object_get (zpar_msg_content (msg), "fn");
        json_t *small = json_pack ("{s:O?, s:b}", "fn", fn, "args_cut", true);
        stub = json_dumps (small, JSON_COMPACT);
        json_decref (small);
    }
    size_t kept = keep_content? zmq_msg_size (content): stub? strlen (stub): 0;
    //  An answer: no header, and its parent's msg_id only (zpar_proto.h),
    //  unless that cannot be read without parsing.
    const char *parent_id = streq (topic, ZPAR_MON_IN)? NULL: zpar_msg_parent_id (msg);
    char parent [160];
    int parent_size = parent_id? snprintf (parent, sizeof parent, "{\"msg_id\":\"%s\"}", parent_id): -1;
    bool short_answer = parent_size > 0 && (size_t) parent_size < sizeof parent;
    size_t size = 4 * ZPAR_MON_ENTRY_PARTS + strlen (topic) + strlen (engine) + zmq_msg_size (client)
                + kept;
    if (short_answer)
        size += (size_t) parent_size + zmq_msg_size (zpar_msg_frame (msg, ZPAR_FRAME_METADATA));
    else
        for (int i = ZPAR_FRAME_HEADER; i < ZPAR_FRAME_CONTENT; i++)
            size += zmq_msg_size (zpar_msg_frame (msg, i));
    if (size > s_batch_limit (self)) {
        free (stub);
        return SIZE_MAX;
    }
    if (self->batch_size + size > s_batch_limit (self))
        s_sched_flush (self);
    size_t mark = self->batch_size;
    if (!self->batched)
        self->batch_due = zpar_mono_ms () + S_BATCH_MS;
    s_batch_put (self, topic, strlen (topic));
    s_batch_put (self, engine, strlen (engine));
    s_batch_put (self, zmq_msg_data (client), zmq_msg_size (client));
    for (int i = ZPAR_FRAME_HEADER; i < ZPAR_FRAME_CONTENT; i++) {
        zmq_msg_t *frame = zpar_msg_frame (msg, i);
        if (short_answer && i == ZPAR_FRAME_HEADER)
            s_batch_put (self, "", 0);
        else
        if (short_answer && i == ZPAR_FRAME_PARENT)
            s_batch_put (self, parent, (size_t) parent_size);
        else
            s_batch_put (self, zmq_msg_data (frame), zmq_msg_size (frame));
    }
    if (stub)
        s_batch_put (self, stub, strlen (stub));
    else
        s_batch_put (self, zmq_msg_data (content), keep_content? zmq_msg_size (content): 0);
    free (stub);
    self->batched++;
    return mark;
}

//  A message that did not leave takes its monitor copy (added at mark)
//  back with it, so the hub never counts what did not go.
static int
s_role_sent (zpar_role_t *self, int rc, size_t mark)
{
    if (rc != 0 && mark != SIZE_MAX) {
        self->batch_size = mark;
        self->batched--;
    }
    return rc;
}

int
zpar_role_send (zpar_role_t *self, zpar_msg_t **msg_p, zsock_t *sock, size_t mark)
{
    return s_role_sent (self, zpar_msg_send (msg_p, sock, self->signer), mark);
}

int
zpar_role_send_or_keep (zpar_role_t *self, zpar_msg_t **msg_p, zsock_t *sock, size_t mark)
{
    return s_role_sent (self, zpar_msg_send_or_keep (msg_p, sock, self->signer), mark);
}

static void
s_batch_free (void *data, void *hint)
{
    (void) hint;
    free (data);
}

//  Signs the batch once (see zpar_proto.h) and sends it.
static void
s_sched_flush (zpar_role_t *self)
{
    if (self->batched && self->monitor) {
        const void *parts [] = { ZPAR_MON_DOMAIN, self->batch };
        size_t sizes [] = { sizeof ZPAR_MON_DOMAIN - 1, self->batch_size };
        char signature [ZPAR_SIGNATURE_LEN + 1];
        zpar_sign_parts (self->signer, parts, sizes, 2, signature);
        //  The entries leave in their own buffer, uncopied; ZeroMQ frees it.
        void *handle = zsock_resolve (self->monitor);
        zmq_msg_t blob;
        if (zmq_msg_init_data (&blob, self->batch, self->batch_size, s_batch_free, NULL) == 0) {
            self->batch = NULL;
            if (zmq_send (handle, ZPAR_MON_BATCH, strlen (ZPAR_MON_BATCH), ZMQ_SNDMORE) < 0
            ||  zmq_send (handle, signature, ZPAR_SIGNATURE_LEN, ZMQ_SNDMORE) < 0
            ||  zmq_msg_send (&blob, handle, 0) < 0)
                zmq_msg_close (&blob);
        }
    }
    self->batch_size = 0;
    self->batched = 0;
}

//  Tells the client its request failed: an apply_reply with status error,
//  signed by this scheduler, routed [client] [engine].
void
zpar_role_fail (zpar_role_t *self, json_t *header, zmq_msg_t *client,
              const char *engine_uuid, int engine_id, const char *ename, const char *evalue)
{
    //  The uuid came from a client's routing frame: any bytes at all.
    char uuid [128], text [512];
    snprintf (uuid, sizeof uuid, "%s", engine_uuid);
    snprintf (text, sizeof text, "%s", evalue);
    zpar_utf8_clean (uuid);
    evalue = zpar_utf8_clean (text);
    zpar_msg_t *reply = zpar_msg_new ("apply_reply", self->session);
    zpar_msg_set_parent (reply, header? json_deep_copy (header): NULL);
    zpar_msg_set_metadata (reply, json_pack ("{s:s, s:i, s:s, s:s}", "status", "error",
        "engine_id", engine_id, "engine_uuid", uuid, "failed_in", self->config.role));
    zpar_msg_set_content (reply, json_pack ("{s:s, s:s, s:s, s:[], s:i}", "status", "error",
        "ename", ename, "evalue", evalue, "traceback", "engine_id", engine_id));
    //  The hub keeps answers for clients that ask later: this one too.
    zpar_role_monitor (self, ZPAR_MON_FAIL, uuid, client, reply);
    zpar_msg_add_route (reply, zmq_msg_data (client), zmq_msg_size (client));
    zpar_msg_add_route (reply, engine_uuid, strlen (engine_uuid));
    if (zpar_msg_send (&reply, self->front, self->signer) != 0)
        zpar_debug ("client gone before its error reply");
}

//  A routing id as a string (an engine's is its uuid): its bytes up to
//  the first NUL, cut to fit.
static void
s_route_text (zmq_msg_t *route, char *text, size_t size)
{
    size_t length = zmq_msg_size (route) < size? zmq_msg_size (route): size - 1;
    memcpy (text, zmq_msg_data (route), length);
    text [length] = 0;
}

//  From a client. mux/control: [client] [engine] DELIM ...; task: [client] DELIM ...
static void
s_sched_handle_front (zpar_role_t *self, zpar_parts_t *raw)
{
    //  The task role needs the msg_id; mux and control route by frames
    //  and leave the JSON to the engine.
    zpar_drop_t reason;
    zpar_msg_t *msg = self->kind == ZPAR_ROLE_KIND_TASK
        ? zpar_msg_decode_parts (raw, self->signer, self->config.max_message_size, "front", &reason)
        : zpar_msg_decode_parts_frames (raw, self->signer, self->config.max_message_size, "front", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "client socket");
        return;
    }
    size_t want = self->kind == ZPAR_ROLE_KIND_TASK? 1: 2;
    if (zpar_msg_routes (msg) != want) {
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "client socket");
        zpar_msg_destroy (&msg);
        return;
    }
    if (self->kind == ZPAR_ROLE_KIND_TASK) {
        zpar_task_submit (self->task, &msg);
        return;
    }
    //  [client] [engine] -> [engine] [client]; the client's id and the
    //  header's bytes kept (shared, not copied) for an error reply.
    char uuid [256];
    s_route_text (zpar_msg_route (msg, 1), uuid, sizeof uuid);
    zmq_msg_t client, header;
    zmq_msg_init (&client);
    zmq_msg_copy (&client, zpar_msg_route (msg, 0));
    zmq_msg_init (&header);
    zmq_msg_copy (&header, zpar_msg_frame (msg, ZPAR_FRAME_HEADER));
    zpar_msg_swap_routes (msg);
    size_t mark = zpar_role_monitor (self, ZPAR_MON_IN, uuid, &client, msg);
    if (zpar_role_send (self, &msg, self->back, mark) != 0) {
        char evalue [400];
        snprintf (evalue, sizeof evalue, "engine %.64s is not connected to the %s scheduler",
                  uuid, self->config.role);
        json_t *parsed = json_loadb ((const char *) zmq_msg_data (&header), zmq_msg_size (&header), 0, NULL);
        zpar_role_fail (self, parsed, &client, uuid, -1, ZPAR_E_ENGINE, evalue);
        json_decref (parsed);
    }
    zmq_msg_close (&header);
    zmq_msg_close (&client);
}

//  From an engine: [engine] DELIM ... (hello, iopub) or [engine] [client] DELIM ... (reply).
static void
s_sched_handle_back (zpar_role_t *self, zpar_parts_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode_parts_frames (raw, self->signer, self->config.max_message_size,
                                                    "back", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "engine socket");
        return;
    }
    if (self->kind == ZPAR_ROLE_KIND_IOPUB) {
        //  Engine output goes to every subscribed client as it came.
        zpar_msg_send (&msg, self->front, self->signer);
        return;
    }
    const char *type = zpar_msg_type (msg);
    if (zpar_msg_routes (msg) == 1 && type && streq (type, "engine_hello")) {
        json_t *content = zpar_msg_content (msg);
        const char *uuid = json_string_value (json_object_get (content, "uuid"));
        json_t *id = json_object_get (content, "id");
        char *route = zpar_part_strdup (zpar_msg_route (msg, 0));
        if (uuid && json_is_integer (id) && streq (uuid, route)) {
            if (self->kind == ZPAR_ROLE_KIND_TASK) {
                zpar_task_engine_up (self->task, uuid, (int) json_integer_value (id), false, true);
            }
            else
                zhashx_update (self->greeted, uuid, "");
            zpar_msg_t *reply = zpar_msg_new_reply (msg, "engine_hello_reply", self->session);
            zpar_msg_set_content (reply, json_pack ("{s:s, s:s}", "status", "ok",
                                                    "role", self->config.role));
            zpar_msg_send (&reply, self->back, self->signer);
        }
        else
            zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "engine socket");
        free (route);
        zpar_msg_destroy (&msg);
        return;
    }
    if (zpar_msg_routes (msg) != 2) {
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "engine socket");
        zpar_msg_destroy (&msg);
        return;
    }
    //  [engine] [client]: client stays borrowed from msg until its routes
    //  are swapped for sending.
    char uuid [256];
    s_route_text (zpar_msg_route (msg, 0), uuid, sizeof uuid);
    zmq_msg_t *client = zpar_msg_route (msg, 1);
    bool forward = true;
    if (self->kind == ZPAR_ROLE_KIND_DIRECT && !zhashx_lookup (self->greeted, uuid)) {
        //  Only an engine that said hello (with the key) answers clients.
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "engine socket");
        forward = false;
    }
    if (self->kind == ZPAR_ROLE_KIND_TASK) {
        zpar_task_verdict_t verdict = zpar_task_reply (self->task, msg, uuid);
        forward = verdict == ZPAR_TASK_FORWARD;
        //  A failed attempt that runs again still ended on its engine.
        if (verdict == ZPAR_TASK_RETRY)
            zpar_role_monitor (self, ZPAR_MON_RETRY, uuid, client, msg);
    }
    if (forward) {
        //  The hub counts the reply even when its client has gone.
        zpar_role_monitor (self, ZPAR_MON_OUT, uuid, client, msg);
        zpar_msg_swap_routes (msg);
        if (zpar_msg_send (&msg, self->front, self->signer) != 0)
            zpar_debug ("client gone before its reply");
    }
    zpar_msg_destroy (&msg);
}

zpar_msg_t *
zpar_sched_notification (zmsg_t *raw, zpar_sign_t *signer, int64_t max_size, zpar_drops_t *drops,
                         const char **uuid, json_t **id)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, signer, (size_t) max_size, "notification", &reason);
    if (!msg) {
        zpar_drops_add (drops, reason, "notification");
        return NULL;
    }
    json_t *content = zpar_msg_content (msg);
    *uuid = json_string_value (json_object_get (content, "uuid"));
    *id = json_object_get (content, "id");
    return msg;
}

static void
s_sched_handle_notification (zpar_role_t *self, zmsg_t *raw)
{
    const char *uuid;
    json_t *id;
    zpar_msg_t *msg = zpar_sched_notification (raw, self->signer, self->config.max_message_size,
                                               &self->drops, &uuid, &id);
    if (!msg)
        return;
    const char *type = zpar_msg_type (msg);
    json_t *content = zpar_msg_content (msg);
    //  An engine announced has said hello to a scheduler: to this one, or
    //  to the one before, and its connection comes back by itself (until
    //  then a send to it fails, and the task waits for another).
    if (self->kind == ZPAR_ROLE_KIND_TASK && uuid && json_is_integer (id)) {
        if (streq (type, "registration_notification")) {
            zpar_task_engine_up (self->task, uuid, (int) json_integer_value (id), true, true);
        }
        else
        if (streq (type, "unregistration_notification")) {
            const char *why = json_string_value (json_object_get (content, "reason"));
            zpar_task_engine_down (self->task, uuid, why? why: "unregistered");
        }
    }
    else
    if (self->kind == ZPAR_ROLE_KIND_DIRECT && uuid) {
        if (streq (type, "registration_notification"))
            zhashx_update (self->greeted, uuid, "");
        else
        if (streq (type, "unregistration_notification"))
            zhashx_delete (self->greeted, uuid);
    }
    zpar_msg_destroy (&msg);
}
