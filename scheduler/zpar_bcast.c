/*  zpar_bcast.c - the broadcast role: one request for many engines goes
    down a tree of nodes, one thread each, and one reply per request comes
    back up, gathered on the way.

    The root takes clients' requests and splits each one's targets between
    its two children, and they between theirs. A leaf binds a ROUTER of its
    own for engines (engine id i connects to leaf i % leaves), sends the
    request to each of its targets and gathers their replies. A node
    answers its parent once every part it sent down has answered, so the
    client sends one message and gets one broadcast_reply: the engines'
    replies in the order of its targets. With depth d there are 2^d
    leaves, and no thread talks to more than 1/2^d of the engines.

    Between nodes (actor pipes inside the process, not signed again):
        down  REQ token targets DELIM signature header parent metadata content [buffers]
              targets: [[index, engine id, uuid], ...]
        up    REP token (place entry [buffers])...
              place: "index buffers"; entry: {"index", "engine_id",
              "buffers", "content", "metadata"} as JSON text
        up    DROPS counters   (messages the node dropped since it last said)
    A request's frames go down as the client signed them and are shared,
    not copied (ZFRAME_REUSE): every engine checks the client's signature,
    and buffers cost nothing per engine. Answers come up as text: a leaf
    writes each entry around the engine's content and metadata frames as
    they came (checked by their signature, never parsed), the nodes above
    pass the frames on, and the root writes the reply's content around
    them. Nothing is parsed or encoded again on the way.

    Broadcast calls leave no task records in the hub: one msg_id answered
    by many engines is not one task.                                      */

#include "zpar_sched_int.h"

#include "zpar_log.h"
#include "zpar_net.h"
#include "zpar_util.h"

#define S_CHILDREN 2
#define S_STATS_INTERVAL_MS 100

//  Most engines one request may name: more than a cluster runs, few
//  enough that a request's answers stay within reason.
#define S_TARGETS_MAX 65536

//  Engines a leaf remembers as gone (their departure may reach it before
//  a request for them that the root sent earlier).
#define S_GONE_MAX 4096

//  Where a node stands in the tree.
typedef struct {
    const zpar_sched_config_t *config;
    int level;                  //  levels below it; 0: a leaf
    int first, count;           //  its leaves: first .. first + count - 1
    int leaves;                 //  in the whole tree
} s_place_t;

typedef struct {
    int index;                  //  in the client's targets
    int id;
} s_target_t;

//  One engine's answer, on its way to the client.
typedef struct {
    int index;                  //  in the client's targets
    zframe_t *text;             //  the entry, JSON text
    zmsg_t *buffers;            //  the engine's reply buffers
} s_entry_t;

//  A request in progress at one node.
typedef struct {
    char token [24];            //  its key at this node
    char up_token [24];         //  its key at the parent (not at the root)
    zpar_msg_t *request;        //  root: the client's, answered at the end
    size_t waiting;             //  parts sent down (leaf: engines) not answered
    s_entry_t *entries;         //  answers gathered, in arrival order
    size_t count, capacity;
    zhashx_t *awaiting;         //  leaf: engine uuid -> s_target_t
} s_job_t;

typedef struct {
    zsock_t *pipe;
    s_place_t place;
    zpar_sched_config_t own;    //  root: the config, its strings owned
    bool root;
    zpar_sign_t *signer;        //  root and leaves: they check what they hear
    char *session;
    zsock_t *front;             //  root: clients
    zsock_t *back;              //  leaf: engines
    char *front_ep, *back_ep;   //  back_ep: the leaves' endpoints below, joined
    zactor_t *children [S_CHILDREN];
    zsock_t *notification, *monitor;
    zpar_poller_t *poller;
    zhashx_t *engines;          //  root: engine id ("%d") -> uuid
    zhashx_t *gone;             //  leaf: uuids of engines the hub said left -> why
    zlistx_t *gone_order;       //  oldest first, to forget them
    zhashx_t *jobs;             //  token -> s_job_t
    uint64_t tokens;
    zpar_drops_t drops;
    uint64_t reported [ZPAR_DROP_COUNT];
    int64_t stats_at;
    bool terminated;
} s_node_t;

static void s_node_actor (zsock_t *pipe, void *args);

//  -- jobs ------------------------------------------------------------------

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_job_free (void **item)
{
    s_job_t *job = *item;
    zpar_msg_destroy (&job->request);
    for (size_t i = 0; i < job->count; i++) {
        zframe_destroy (&job->entries [i].text);
        zmsg_destroy (&job->entries [i].buffers);
    }
    free (job->entries);
    zhashx_destroy (&job->awaiting);
    free (job);
    *item = NULL;
}

static s_job_t *
s_job_new (s_node_t *self)
{
    s_job_t *job = calloc (1, sizeof *job);
    snprintf (job->token, sizeof job->token, "%llx", (unsigned long long) ++self->tokens);
    zhashx_insert (self->jobs, job->token, job);
    return job;
}

//  Adds an answer to job; takes text and buffers (NULL: none).
static void
s_job_add (s_job_t *job, int index, zframe_t *text, zmsg_t *buffers)
{
    if (job->count == job->capacity) {
        job->capacity = job->capacity? 2 * job->capacity: 16;
        job->entries = realloc (job->entries, job->capacity * sizeof *job->entries);
    }
    job->entries [job->count++] = (s_entry_t) { index, text, buffers };
}

//  An answer that no engine gave: the engine is unknown, unreachable or gone.
static void
s_job_error (s_job_t *job, int index, int id, const char *ename, const char *format, ...)
{
    char evalue [512];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    json_t *entry = json_pack ("{s:i, s:i, s:i, s:{s:s, s:s, s:s, s:[], s:i}, s:{s:i}}",
        "index", index, "engine_id", id, "buffers", 0,
        "content", "status", "error", "ename", ename, "evalue", zpar_utf8_clean (evalue),
        "traceback", "engine_id", id, "metadata", "engine_id", id);
    char *text = json_dumps (entry, JSON_COMPACT);
    json_decref (entry);
    s_job_add (job, index, zframe_new (text, strlen (text)), NULL);
    free (text);
}

//  -- sending ---------------------------------------------------------------

//  Sends the frames of body after what was sent already, leaving body as
//  it was: the frames' bytes are shared, not copied.
static int
s_send_body (void *sock, zmsg_t *body)
{
    int rc = 0;
    size_t left = zmsg_size (body);
    for (zframe_t *frame = zmsg_first (body); frame && rc == 0; frame = zmsg_next (body))
        rc = zframe_send (&frame, sock, ZFRAME_REUSE | (--left? ZFRAME_MORE: 0));
    return rc;
}

//  The leaf (an index into the tree's leaves) where engine id connects.
static int
s_leaf_of (s_node_t *self, int id)
{
    return id % self->place.leaves;
}

static void s_node_answer (s_node_t *self, s_job_t *job);

//  Leaf: the request to each target engine, [uuid] [token] body.
static void
s_leaf_send (s_node_t *self, s_job_t *job, json_t *targets, zmsg_t *body)
{
    job->awaiting = zhashx_new ();
    zhashx_set_destructor (job->awaiting, s_free);
    size_t i;
    json_t *target;
    json_array_foreach (targets, i, target) {
        int index = (int) json_integer_value (json_array_get (target, 0));
        int id = (int) json_integer_value (json_array_get (target, 1));
        const char *uuid = json_string_value (json_array_get (target, 2));
        const char *why = uuid? zhashx_lookup (self->gone, uuid): NULL;
        if (!uuid || why || zhashx_lookup (job->awaiting, uuid)) {
            //  Left already (the root had not heard yet), or named twice
            //  (the root's table lagged behind a replacement): asked once.
            s_job_error (job, index, id, ZPAR_E_ENGINE, why? "engine %d died (%s)"
                         : "engine %d is not connected to the broadcast scheduler%s", id, why? why: "");
            continue;
        }
        zframe_t *route = zframe_new (uuid, strlen (uuid));
        //  ROUTER_MANDATORY: nothing leaves for an engine not connected here.
        if (zframe_send (&route, self->back, ZFRAME_MORE) != 0) {
            zframe_destroy (&route);
            s_job_error (job, index, id, ZPAR_E_ENGINE,
                         "engine %d is not connected to the broadcast scheduler", id);
            continue;
        }
        zframe_t *token = zframe_new (job->token, strlen (job->token));
        zframe_send (&token, self->back, ZFRAME_MORE);
        s_send_body (self->back, body);
        s_target_t *waiting = malloc (sizeof *waiting);
        waiting->index = index;
        waiting->id = id;
        zhashx_insert (job->awaiting, uuid, waiting);
        job->waiting++;
    }
    if (!job->waiting)
        s_node_answer (self, job);
}

//  Sends job's request on down the tree (or, at a leaf, to its engines).
//  targets: [[index, id, uuid], ...]; takes it.
static void
s_node_down (s_node_t *self, s_job_t *job, json_t *targets, zmsg_t *body)
{
    if (self->place.level == 0) {
        s_leaf_send (self, job, targets, body);
        json_decref (targets);
        return;
    }
    json_t *split [S_CHILDREN] = { NULL };
    int half = self->place.count / S_CHILDREN;
    size_t i;
    json_t *target;
    json_array_foreach (targets, i, target) {
        int leaf = s_leaf_of (self, (int) json_integer_value (json_array_get (target, 1)));
        int child = (leaf - self->place.first) / half;
        if (!split [child])
            split [child] = json_array ();
        json_array_append (split [child], target);
    }
    json_decref (targets);
    for (int child = 0; child < S_CHILDREN; child++) {
        if (!split [child])
            continue;
        char *text = json_dumps (split [child], JSON_COMPACT);
        json_decref (split [child]);
        zstr_sendm (self->children [child], "REQ");
        zstr_sendm (self->children [child], job->token);
        zstr_sendm (self->children [child], text);
        free (text);
        s_send_body (self->children [child], body);
        job->waiting++;
    }
    if (!job->waiting)
        s_node_answer (self, job);
}

//  -- answers -----------------------------------------------------------------

static int
s_by_index (const void *a, const void *b)
{
    return ((const s_entry_t *) a)->index - ((const s_entry_t *) b)->index;
}

//  The root's one reply: every entry in the order of the client's
//  targets, their buffers after the JSON in the same order.
static void
s_root_reply (s_node_t *self, s_job_t *job)
{
    qsort (job->entries, job->count, sizeof *job->entries, s_by_index);
    size_t size = 64;
    for (size_t i = 0; i < job->count; i++)
        size += zframe_size (job->entries [i].text) + 1;
    char *content = malloc (size), *at = content;
    at += sprintf (at, "{\"status\":\"ok\",\"replies\":[");
    zmsg_t *buffers = zmsg_new ();
    for (size_t i = 0; i < job->count; i++) {
        s_entry_t *entry = &job->entries [i];
        if (i)
            *at++ = ',';
        memcpy (at, zframe_data (entry->text), zframe_size (entry->text));
        at += zframe_size (entry->text);
        zframe_t *frame;
        while (entry->buffers && (frame = zmsg_pop (entry->buffers)))
            zmsg_append (buffers, &frame);
    }
    at += sprintf (at, "]}");
    zpar_msg_t *reply = zpar_msg_new_reply (job->request, "broadcast_reply", self->session);
    zpar_msg_set_text (reply, ZPAR_FRAME_CONTENT, content, (size_t) (at - content));
    free (content);
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    zpar_parts_take_zmsg (&parts, &buffers);
    zpar_msg_append_buffers (reply, &parts);
    zpar_parts_free (&parts);
    size = zpar_msg_size (reply, self->signer);
    if (size > (size_t) self->own.max_message_size) {
        zpar_msg_destroy (&reply);
        reply = zpar_msg_new_reply (job->request, "broadcast_reply", self->session);
        char evalue [300];
        snprintf (evalue, sizeof evalue, "the %zu replies come to %zu bytes, over the cluster's "
                  "limit of %lld (ipcluster start --max-message-size)", job->count, size,
                  (long long) self->own.max_message_size);
        zpar_msg_set_content (reply, json_pack ("{s:s, s:s, s:s, s:[]}", "status", "error",
                              "ename", ZPAR_E_VALUE, "evalue", evalue, "traceback"));
    }
    if (zpar_msg_send (&reply, self->front, self->signer) != 0)
        zpar_debug ("client gone before its broadcast reply");
}

//  Every part answered: up to the parent, or at the root to the client.
static void
s_node_answer (s_node_t *self, s_job_t *job)
{
    if (self->root)
        s_root_reply (self, job);
    else {
        zmsg_t *up = zmsg_new ();
        zmsg_addstr (up, "REP");
        zmsg_addstr (up, job->up_token);
        for (size_t i = 0; i < job->count; i++) {
            s_entry_t *entry = &job->entries [i];
            zmsg_addstrf (up, "%d %zu", entry->index, entry->buffers? zmsg_size (entry->buffers): 0);
            zmsg_append (up, &entry->text);
            zframe_t *frame;
            while (entry->buffers && (frame = zmsg_pop (entry->buffers)))
                zmsg_append (up, &frame);
        }
        zmsg_send (&up, self->pipe);
    }
    zhashx_delete (self->jobs, job->token);
}

//  A child's answer: its entries join the job's, frames as they are.
static void
s_node_child_answer (s_node_t *self, zmsg_t *msg)
{
    char *token = zmsg_popstr (msg);
    s_job_t *job = token? zhashx_lookup (self->jobs, token): NULL;
    zstr_free (&token);
    if (!job)
        return;
    char *place;
    while ((place = zmsg_popstr (msg))) {
        int index = 0;
        size_t buffers = 0;
        zframe_t *text = zmsg_pop (msg);
        if (sscanf (place, "%d %zu", &index, &buffers) == 2 && text) {
            zmsg_t *own = buffers? zmsg_new (): NULL;
            for (; buffers > 0; buffers--) {
                zframe_t *frame = zmsg_pop (msg);
                if (frame)
                    zmsg_append (own, &frame);
            }
            s_job_add (job, index, text, own);
        }
        else
            zframe_destroy (&text);
        zstr_free (&place);
    }
    if (--job->waiting == 0)
        s_node_answer (self, job);
}

//  -- the root's requests ------------------------------------------------------

//  An answer for the whole request: it is not one the role takes.
static void
s_root_refuse (s_node_t *self, zpar_msg_t *request, const char *evalue)
{
    zpar_msg_t *reply = zpar_msg_new_reply (request, "broadcast_reply", self->session);
    zpar_msg_set_content (reply, json_pack ("{s:s, s:s, s:s, s:[]}", "status", "error",
                          "ename", ZPAR_E_VALUE, "evalue", evalue, "traceback"));
    zpar_msg_send (&reply, self->front, self->signer);
}

//  The engine ids a request names, each once; NULL when they are fine.
static const char *
s_targets_fault (json_t *targets)
{
    if (!json_is_array (targets) || json_array_size (targets) == 0)
        return "a broadcast needs targets: a list of engine ids";
    if (json_array_size (targets) > S_TARGETS_MAX)
        return "a broadcast names at most 65536 engines";
    zhashx_t *seen = zhashx_new ();
    const char *fault = NULL;
    size_t i;
    json_t *id;
    json_array_foreach (targets, i, id) {
        char key [24];
        if (!json_is_integer (id) || json_integer_value (id) < 0 || json_integer_value (id) > INT32_MAX) {
            fault = "targets must be engine ids (integers >= 0)";
            break;
        }
        snprintf (key, sizeof key, "%lld", (long long) json_integer_value (id));
        if (zhashx_insert (seen, key, "") != 0) {
            fault = "targets name an engine twice";
            break;
        }
    }
    zhashx_destroy (&seen);
    return fault;
}

//  From a client: [client] DELIM ... with the engine ids in metadata.targets.
static void
s_root_request (s_node_t *self, zmsg_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, self->signer, (size_t) self->own.max_message_size,
                                       "front", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "client socket");
        return;
    }
    json_t *targets = json_object_get (zpar_msg_metadata (msg), "targets");
    const char *fault = zpar_msg_routes (msg) != 1? "": !streq (zpar_msg_type (msg), "apply_request")
                      ? "the broadcast scheduler takes apply_request only": s_targets_fault (targets);
    if (fault) {
        if (*fault)
            s_root_refuse (self, msg, fault);
        else
            zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "client socket");
        zpar_msg_destroy (&msg);
        return;
    }
    s_job_t *job = s_job_new (self);
    //  What goes down: the request as signed, buffers taken, not copied.
    zmsg_t *body = zmsg_new ();
    zmsg_addstr (body, ZPAR_DELIM);
    zmsg_addstr (body, zpar_msg_signature (msg));
    zframe_t *frame;
    for (int i = ZPAR_FRAME_HEADER; i <= ZPAR_FRAME_CONTENT; i++)
        zmsg_addmem (body, zmq_msg_data (zpar_msg_frame (msg, i)), zmq_msg_size (zpar_msg_frame (msg, i)));
    zpar_parts_t parts = ZPAR_PARTS_EMPTY;
    zpar_msg_take_buffers (msg, &parts);
    zmsg_t *buffers = zpar_parts_to_zmsg (&parts);
    zpar_parts_free (&parts);
    while ((frame = zmsg_pop (buffers)))
        zmsg_append (body, &frame);
    zmsg_destroy (&buffers);
    json_t *down = json_array ();
    size_t i;
    json_t *id;
    json_array_foreach (targets, i, id) {
        char key [24];
        snprintf (key, sizeof key, "%lld", (long long) json_integer_value (id));
        const char *uuid = zhashx_lookup (self->engines, key);
        if (uuid)
            json_array_append_new (down, json_pack ("[i, i, s]", (int) i, (int) json_integer_value (id), uuid));
        else
            s_job_error (job, (int) i, (int) json_integer_value (id), ZPAR_E_ENGINE,
                         "no engine %s is registered", key);
    }
    job->request = msg;
    s_node_down (self, job, down, body);
    zmsg_destroy (&body);
}

//  -- a node's parent, children and engines ------------------------------------

//  From the parent (not the root): REQ token targets body.
static void
s_node_request (s_node_t *self, zmsg_t *msg)
{
    char *token = zmsg_popstr (msg);
    char *text = zmsg_popstr (msg);
    json_t *targets = text? json_loads (text, 0, NULL): NULL;
    if (token && json_is_array (targets)) {
        s_job_t *job = s_job_new (self);
        snprintf (job->up_token, sizeof job->up_token, "%s", token);
        s_node_down (self, job, targets, msg);
    }
    else
        json_decref (targets);
    zstr_free (&token);
    zstr_free (&text);
}

//  Leaf: an engine's hello or reply, [uuid] DELIM ... or [uuid] [token] DELIM ...
static void
s_leaf_engine (s_node_t *self, zmsg_t *raw)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode_frames (&raw, self->signer, (size_t) self->own.max_message_size,
                                              "back", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "engine socket");
        return;
    }
    char *uuid = zpar_part_strdup (zpar_msg_route (msg, 0));
    const char *type = zpar_msg_type (msg);
    if (zpar_msg_routes (msg) == 1 && type && streq (type, "engine_hello")) {
        zpar_msg_t *reply = zpar_msg_new_reply (msg, "engine_hello_reply", self->session);
        zpar_msg_set_content (reply, json_pack ("{s:s, s:s}", "status", "ok", "role", ZPAR_ROLE_BROADCAST));
        zpar_msg_send (&reply, self->back, self->signer);
    }
    else {
        char *token = zpar_msg_routes (msg) == 2? zpar_part_strdup (zpar_msg_route (msg, 1)): NULL;
        s_job_t *job = token? zhashx_lookup (self->jobs, token): NULL;
        s_target_t *target = job? zhashx_lookup (job->awaiting, uuid): NULL;
        zmq_msg_t *content = target? zpar_msg_frame (msg, ZPAR_FRAME_CONTENT): NULL;
        zmq_msg_t *metadata = target? zpar_msg_frame (msg, ZPAR_FRAME_METADATA): NULL;
        if (!job || !target)
            //  Late: its engine was taken for dead, or its job ended.
            zpar_debug ("broadcast: a reply from %s that no request waits for", uuid);
        else
        if (!content || !metadata)
            zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "engine socket");
        else {
            //  The engine's JSON frames go in as they came: signed by a
            //  holder of the key, the same bytes the client would parse.
            zpar_parts_t parts = ZPAR_PARTS_EMPTY;
            zpar_msg_take_buffers (msg, &parts);
            zmsg_t *buffers = zpar_parts_to_zmsg (&parts);
            zpar_parts_free (&parts);
            char head [96];
            int length = snprintf (head, sizeof head, "{\"index\":%d,\"engine_id\":%d,\"buffers\":%zu,\"content\":",
                                   target->index, target->id, zmsg_size (buffers));
            size_t size = (size_t) length + zmq_msg_size (content) + 12 + zmq_msg_size (metadata) + 1;
            zframe_t *text = zframe_new (NULL, size);
            char *at = (char *) zframe_data (text);
            memcpy (at, head, (size_t) length);
            at += length;
            memcpy (at, zmq_msg_data (content), zmq_msg_size (content));
            at += zmq_msg_size (content);
            memcpy (at, ",\"metadata\":", 12);
            at += 12;
            memcpy (at, zmq_msg_data (metadata), zmq_msg_size (metadata));
            at += zmq_msg_size (metadata);
            *at = '}';
            if (!zmsg_size (buffers))
                zmsg_destroy (&buffers);
            s_job_add (job, target->index, text, buffers);
            zhashx_delete (job->awaiting, uuid);
            if (--job->waiting == 0)
                s_node_answer (self, job);
        }
        free (token);
    }
    free (uuid);
    zpar_msg_destroy (&msg);
}

//  Leaf: an engine the hub said left, for requests that come after.
static void
s_leaf_remember_gone (s_node_t *self, const char *uuid, const char *why)
{
    if (zhashx_lookup (self->gone, uuid))
        return;
    if (zlistx_size (self->gone_order) >= S_GONE_MAX) {
        char *oldest = zlistx_first (self->gone_order);
        zhashx_delete (self->gone, oldest);
        zlistx_delete (self->gone_order, zlistx_cursor (self->gone_order));
    }
    zhashx_insert (self->gone, uuid, (void *) why);
    zlistx_add_end (self->gone_order, strdup (uuid));
}

//  Leaf: an engine left; what it was asked fails with why.
static void
s_leaf_engine_gone (s_node_t *self, const char *uuid, const char *why)
{
    zlistx_t *done = zlistx_new ();
    for (s_job_t *job = zhashx_first (self->jobs); job; job = zhashx_next (self->jobs)) {
        s_target_t *target = zhashx_lookup (job->awaiting, uuid);
        if (!target)
            continue;
        s_job_error (job, target->index, target->id, ZPAR_E_ENGINE, "engine %d died (%s)", target->id, why);
        zhashx_delete (job->awaiting, uuid);
        if (--job->waiting == 0)
            zlistx_add_end (done, job);
    }
    for (s_job_t *job = zlistx_first (done); job; job = zlistx_next (done))
        s_node_answer (self, job);
    zlistx_destroy (&done);
}

static void
s_node_notification (s_node_t *self, zmsg_t *raw)
{
    const char *uuid;
    json_t *id;
    zpar_msg_t *msg = zpar_sched_notification (raw, self->signer, self->own.max_message_size,
                                               &self->drops, &uuid, &id);
    if (!msg)
        return;
    const char *type = zpar_msg_type (msg);
    json_t *content = zpar_msg_content (msg);
    bool up = streq (type, "registration_notification"), down = streq (type, "unregistration_notification");
    if (uuid && json_is_integer (id) && (up || down)) {
        char key [24];
        snprintf (key, sizeof key, "%lld", (long long) json_integer_value (id));
        if (self->root && up)
            zhashx_update (self->engines, key, (void *) uuid);
        if (self->root && down)
            zhashx_delete (self->engines, key);
        if (self->place.level == 0 && down) {
            const char *why = json_string_value (json_object_get (content, "reason"));
            s_leaf_remember_gone (self, uuid, why? why: "unregistered");
            s_leaf_engine_gone (self, uuid, why? why: "unregistered");
        }
        if (self->place.level == 0 && up && zhashx_lookup (self->gone, uuid)) {
            //  Back (a hub that took over knows it again).
            zhashx_delete (self->gone, uuid);
            for (char *old = zlistx_first (self->gone_order); old; old = zlistx_next (self->gone_order))
                if (streq (old, uuid)) {
                    zlistx_delete (self->gone_order, zlistx_cursor (self->gone_order));
                    break;
                }
        }
    }
    zpar_msg_destroy (&msg);
}

//  Counters: the root tells the hub, a node below tells its parent what
//  it dropped since it last said.
static void
s_node_stats (s_node_t *self)
{
    self->stats_at = zpar_mono_ms () + S_STATS_INTERVAL_MS;
    if (self->root) {
        if (self->monitor)
            zpar_sched_report (self->monitor, self->signer, self->session, ZPAR_ROLE_BROADCAST, &self->drops, 0);
    }
    else {
        zpar_drops_t since;
        memset (&since, 0, sizeof since);
        for (int i = 0; i < ZPAR_DROP_COUNT; i++)
            since.count [i] = self->drops.count [i] - self->reported [i];
        json_t *counters = zpar_drops_json (&since);
        char *text = json_dumps (counters, JSON_COMPACT);
        json_decref (counters);
        zsock_send (self->pipe, "ss", "DROPS", text);
        free (text);
    }
    memcpy (self->reported, self->drops.count, sizeof self->reported);
}

static bool
s_stats_changed (s_node_t *self)
{
    return memcmp (self->reported, self->drops.count, sizeof self->reported) != 0;
}

//  -- the node's life ---------------------------------------------------------

static void
s_node_destroy (s_node_t **self_p)
{
    s_node_t *self = *self_p;
    if (!self)
        return;
    //  Children first: they use the config the root owns.
    for (int child = 0; child < S_CHILDREN; child++)
        zactor_destroy (&self->children [child]);
    zpar_poller_destroy (&self->poller);
    zhashx_destroy (&self->jobs);
    zhashx_destroy (&self->engines);
    zhashx_destroy (&self->gone);
    zlistx_destroy (&self->gone_order);
    zsock_destroy (&self->front);
    zsock_destroy (&self->back);
    zsock_destroy (&self->notification);
    zsock_destroy (&self->monitor);
    zpar_sign_destroy (&self->signer);
    free (self->session);
    free (self->front_ep);
    free (self->back_ep);
    if (self->root) {
        free ((char *) self->own.role);
        free ((char *) self->own.ip);
        free ((char *) self->own.key);
    }
    free (self);
    *self_p = NULL;
}

static s_node_t *
s_node_new (zsock_t *pipe, const s_place_t *place, bool root)
{
    s_node_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->root = root;
    self->own = *place->config;
    if (root) {
        self->own.role = strdup (place->config->role);
        self->own.ip = strdup (place->config->ip);
        self->own.key = strdup (place->config->key);
    }
    self->place = *place;
    self->place.config = root? &self->own: place->config;
    self->jobs = zhashx_new ();
    zhashx_set_destructor (self->jobs, s_job_free);
    self->session = zpar_new_uuid ();
    self->poller = zpar_poller_new (pipe, NULL);
    zpar_poller_set_fair (self->poller, true);
    bool ok = true;
    if (root || place->level == 0)
        ok = (self->signer = zpar_sign_new (self->own.key, ZPAR_REPLAY_HISTORY)) != NULL;
    if (ok && root) {
        self->engines = zhashx_new ();
        zhashx_set_duplicator (self->engines, (zhashx_duplicator_fn *) strdup);
        zhashx_set_destructor (self->engines, s_free);
        self->front = zpar_bind_at (ZMQ_ROUTER, self->own.ip, self->own.client_port,
                                    self->own.max_message_size, &self->front_ep);
        if (!self->front)
            self->front = zpar_bind (ZMQ_ROUTER, self->own.ip, self->own.max_message_size, &self->front_ep);
        ok = self->front && zpar_poller_add (self->poller, self->front) == 0;
    }
    if (ok && place->level == 0) {
        self->gone = zhashx_new ();
        zhashx_set_duplicator (self->gone, (zhashx_duplicator_fn *) strdup);
        zhashx_set_destructor (self->gone, s_free);
        self->gone_order = zlistx_new ();
        zlistx_set_destructor (self->gone_order, s_free);
        int port = self->own.leaf_ports [place->first];
        self->back = port? zpar_bind_at (ZMQ_ROUTER, self->own.ip, port, self->own.max_message_size,
                                         &self->back_ep): NULL;
        if (!self->back)
            self->back = zpar_bind (ZMQ_ROUTER, self->own.ip, self->own.max_message_size, &self->back_ep);
        ok = self->back && zpar_poller_add (self->poller, self->back) == 0;
    }
    if (ok && place->level > 0) {
        //  Two children, each with half the leaves; their endpoints, joined.
        self->back_ep = strdup ("");
        for (int child = 0; ok && child < S_CHILDREN; child++) {
            s_place_t below = { self->place.config, place->level - 1,
                                place->first + child * place->count / S_CHILDREN,
                                place->count / S_CHILDREN, place->leaves };
            self->children [child] = zactor_new (s_node_actor, &below);
            char *endpoints = NULL;
            zstr_send (self->children [child], "ENDPOINTS");
            endpoints = zstr_recv (self->children [child]);
            ok = endpoints && *endpoints && zpar_poller_add (self->poller, self->children [child]) == 0;
            char *joined = NULL;
            if (ok && asprintf (&joined, "%s%s%s", self->back_ep, *self->back_ep? " ": "", endpoints) > 0) {
                free (self->back_ep);
                self->back_ep = joined;
            }
            zstr_free (&endpoints);
        }
    }
    if (!ok) {
        zpar_error ("broadcast: cannot bind on %s: %s", self->own.ip, zmq_strerror (zmq_errno ()));
        s_node_destroy (&self);
    }
    return self;
}

static void
s_node_pipe (s_node_t *self, zmsg_t *msg)
{
    char *command = zmsg_popstr (msg);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "ENDPOINTS")) {
        if (self->root)
            zstr_sendx (self->pipe, self->front_ep, self->back_ep, NULL);
        else
            zstr_send (self->pipe, self->back_ep);
    }
    else
    if (streq (command, "CONNECT")) {
        char *notification = zmsg_popstr (msg);
        char *monitor = zmsg_popstr (msg);
        char *engines = zmsg_popstr (msg);
        //  The root knows engines by id, leaves hear of those that leave.
        if (notification && *notification && self->signer) {
            self->notification = zpar_connect (ZMQ_SUB, notification, NULL, self->own.max_message_size);
            if (self->notification)
                zpar_poller_add (self->poller, self->notification);
        }
        if (self->root && monitor && *monitor)
            self->monitor = zpar_connect (ZMQ_PUB, monitor, NULL, 0);
        json_t *table = self->root && engines? json_loads (engines, 0, NULL): NULL;
        const char *id;
        json_t *uuid;
        json_object_foreach (table, id, uuid)
            if (json_is_string (uuid))
                zhashx_update (self->engines, id, (void *) json_string_value (uuid));
        json_decref (table);
        for (int child = 0; child < S_CHILDREN; child++)
            if (self->children [child])
                zstr_sendx (self->children [child], "CONNECT", notification? notification: "", "", "{}", NULL);
        zstr_free (&notification);
        zstr_free (&monitor);
        zstr_free (&engines);
    }
    else
    if (streq (command, "REQ") && !self->root)
        s_node_request (self, msg);
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static void
s_node_child (s_node_t *self, zmsg_t *msg)
{
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "REP"))
        s_node_child_answer (self, msg);
    else
    if (command && streq (command, "DROPS")) {
        char *text = zmsg_popstr (msg);
        json_t *counters = text? json_loads (text, 0, NULL): NULL;
        zpar_drops_merge_json (&self->drops, counters);
        json_decref (counters);
        zstr_free (&text);
    }
    zstr_free (&command);
    zmsg_destroy (&msg);
}

static void
s_node_run (s_node_t *self)
{
    while (!self->terminated) {
        int wait = -1;
        if (s_stats_changed (self)) {
            int64_t left = self->stats_at - zpar_mono_ms ();
            wait = left > 0? (int) left: 0;
        }
        void *which;
        zmsg_t *msg = zpar_poller_recv (self->poller, wait, &which);
        if (which == self->pipe)
            s_node_pipe (self, msg);
        else
        if (which && which == self->front)
            s_root_request (self, msg);
        else
        if (which && which == self->back)
            s_leaf_engine (self, msg);
        else
        if (which && which == self->notification)
            s_node_notification (self, msg);
        else
        if (which)
            s_node_child (self, msg);
        else
        if (zpar_poller_terminated (self->poller))
            break;
        //  A handler may have sent on any of them (see zpar_poller.h).
        void *socks [] = { self->pipe, self->front, self->back, self->children [0], self->children [1] };
        for (size_t i = 0; i < sizeof socks / sizeof *socks; i++)
            if (socks [i])
                zpar_poller_touch (self->poller, socks [i]);
        if (s_stats_changed (self) && zpar_mono_ms () >= self->stats_at)
            s_node_stats (self);
    }
}

static void
s_node_actor (zsock_t *pipe, void *args)
{
    zpar_log_set_thread_name ("scheduler broadcast node");
    s_node_t *self = s_node_new (pipe, args, false);
    zsock_signal (pipe, 0);
    if (self)
        s_node_run (self);
    else {
        //  The parent asks for endpoints first ("" says it failed), then
        //  ends this thread.
        for (int i = 0; i < 2; i++) {
            char *command = zstr_recv (pipe);
            if (command && streq (command, "ENDPOINTS"))
                zstr_send (pipe, "");
            zstr_free (&command);
        }
    }
    s_node_destroy (&self);
}

void
zpar_bcast_actor (zsock_t *pipe, void *args)
{
    const zpar_sched_config_t *config = args;
    zpar_log_set_thread_name ("scheduler broadcast");
    //  Requests go down while answers come up: pipes that never block
    //  cannot hold each other up. (The setting is the process's: it goes
    //  back once the tree's pipes are made.)
    size_t pipehwm = zsys_pipehwm ();
    zsys_set_pipehwm (0);
    int depth = config->depth < 0? 0: config->depth > ZPAR_BCAST_DEPTH_MAX? ZPAR_BCAST_DEPTH_MAX: config->depth;
    s_place_t place = { config, depth, 0, 1 << depth, 1 << depth };
    s_node_t *self = s_node_new (pipe, &place, true);
    zsys_set_pipehwm (pipehwm);
    zsock_signal (pipe, 0);
    if (!self) {
        char *command = zstr_recv (pipe);
        if (command && streq (command, "ENDPOINTS"))
            zstr_sendx (pipe, "", "", NULL);
        zstr_free (&command);
        return;
    }
    s_node_run (self);
    if (s_stats_changed (self))
        s_node_stats (self);
    s_node_destroy (&self);
}
