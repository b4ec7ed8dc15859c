/*  zpar_hub.c - the hub actor: registration, heartbeats, notifications,
    monitor counts, status. One poll loop; tunables in zpar_proto.h.     */

#include "zpar_hub.h"
#include "zpar_hub_engine.h"
#include "zpar_hub_db.h"

#include "zpar_drops.h"
#include "zpar_log.h"
#include "zpar_msg.h"
#include "zpar_net.h"
#include "zpar_util.h"

#define S_ROLES 5
static const char *s_role_names [S_ROLES] = {
    ZPAR_ROLE_MUX, ZPAR_ROLE_TASK, ZPAR_ROLE_CONTROL, ZPAR_ROLE_IOPUB, ZPAR_ROLE_BROADCAST
};

//  Longest uuid or host name the hub stores; longer ones are malformed.
#define S_NAME_MAX 255

//  Engine ids stay below this (a million engines over a hub's life), so
//  they never overflow and every one can be named in a target list.
#define S_ID_LIMIT 1000000

//  msg_ids one result_request, purge_request or resubmit_request may
//  name, and records one db_request returns by default.
#define S_RESULT_IDS_MAX 10000

//  Engines declared dead for missed heartbeats that the hub remembers, to
//  tell them so if they come back (and only them).
#define S_DECLARED_MAX 10000

//  A scheduler registers its roles again every second; one not heard of
//  for this long is lost, and so is every call inside it.
#define S_SCHEDULER_SILENT_MS 10000

//  How long a lost scheduler is announced again (see s_scheduler_lost).
#define S_LOST_REPEAT_MS 3000

//  Requests dated longer ago than this are replays (see the handler).
//  The clocks of a cluster's hosts must agree better than that.
#define S_FRESH_US (60 * 1000000LL)

typedef struct {
    char *client_ep;
    char *engine_ep;
    int64_t pid;
    int64_t seen_ms;            //  its latest registration (it repeats them)
    json_t *dropped;            //  the scheduler's latest counters
    int64_t unassigned;         //  task role: tasks not handed to an engine yet
} s_role_t;

typedef struct {
    zsock_t *pipe;
    zpar_hub_config_t config;
    zpar_sign_t *signer;
    char *session;
    zsock_t *registration, *ping, *pong, *notification, *monitor;
    char *registration_ep, *ping_ep, *pong_ep, *notification_ep, *monitor_ep;
    zhashx_t *engines;          //  uuid -> zpar_hub_engine_t (owned)
    zpar_hub_db_t *db;          //  task records (the config's)
    zpoller_t *poller;
    zsock_t *iopub;             //  SUB to the iopub role: what tasks print
    char *iopub_ep;
    zsock_t *resubmit;          //  DEALER to the task role, for resubmit_request
    char *resubmit_ep;
    zsock_t *watch [5];         //  handshake failures of each bound socket (PAIR)
    zhashx_t *declared_dead;    //  uuids of engines that missed their beats
    zlistx_t *declared_order;   //  the same, oldest first (S_DECLARED_MAX kept)
    int next_id;
    s_role_t roles [S_ROLES];
    zpar_drops_t drops;
    uint64_t ping_counter;
    int64_t next_ping_ms;
    int64_t started_ms;
    uint64_t version;           //  bumped at every arrival and departure
    uint64_t clients;           //  connection requests answered
    uint64_t routed;            //  requests routed to engines (monitor)
    int64_t lost_pid;           //  the scheduler announced lost last
    char lost_reason [128];     //  and why
    int64_t lost_repeat_until;  //  announced again at each beat till then (monotonic ms)
    int64_t fresh_after_ms;     //  after a takeover: new engines wait till then
    bool shutdown_announced;
    bool terminated;
} s_hub_t;

//  -- hub ------------------------------------------------------------------
static s_hub_t *s_hub_new (zsock_t *pipe, zpar_hub_config_t *config);
static void s_hub_destroy (s_hub_t **self_p);
static void s_hub_handle_pipe (s_hub_t *self);
static void s_hub_handle_registration (s_hub_t *self);
static void s_hub_handle_pong (s_hub_t *self);
static void s_hub_handle_monitor (s_hub_t *self);
static void s_hub_monitor_entry (s_hub_t *self, const uint8_t **data, size_t *size);
static void s_hub_monitor_stats (s_hub_t *self, zmsg_t **raw_p);
static void s_hub_beat (s_hub_t *self);
static void s_hub_publish (s_hub_t *self, const char *msg_type, json_t *content);
static void s_hub_reply (s_hub_t *self, zpar_msg_t *request, const char *msg_type, json_t *content);
//  -- requests ---------------------------------------------------------------
static void s_engine_registration (s_hub_t *self, zpar_msg_t *request);
static void s_engine_unregistration (s_hub_t *self, zpar_msg_t *request);
static void s_engine_exit (s_hub_t *self, zpar_msg_t *request);
static void s_engine_announce (s_hub_t *self, zpar_hub_engine_t *engine, zpar_engine_action_t action,
                               zpar_engine_event_t event);
static void s_scheduler_registration (s_hub_t *self, zpar_msg_t *request);
static void s_scheduler_exit (s_hub_t *self, zpar_msg_t *request);
static void s_scheduler_lost (s_hub_t *self, int64_t pid, const char *reason);
static void s_connection_request (s_hub_t *self, zpar_msg_t *request);
static void s_engines_request (s_hub_t *self, zpar_msg_t *request);
static void s_status_request (s_hub_t *self, zpar_msg_t *request);
static void s_result_request (s_hub_t *self, zpar_msg_t *request);
static void s_queue_request (s_hub_t *self, zpar_msg_t *request);
static void s_db_request (s_hub_t *self, zpar_msg_t *request);
static void s_purge_request (s_hub_t *self, zpar_msg_t *request);
static void s_resubmit_request (s_hub_t *self, zpar_msg_t *request);
static void s_hub_handle_iopub (s_hub_t *self);
static void s_hub_handle_watch (s_hub_t *self, int which);
static int s_watch_index (s_hub_t *self, void *which);
static void s_follow_roles (s_hub_t *self);
static void s_shutdown_request (s_hub_t *self, zpar_msg_t *request);
//  -- engines ---------------------------------------------------------------
static void s_engine_apply (s_hub_t *self, zpar_hub_engine_t *engine,
                            zpar_engine_event_t event, bool ok);
static json_t *s_engine_table (s_hub_t *self);

static json_t *
s_error (const char *ename, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  What the registration socket answers, by msg_type.
static const struct {
    const char *type;
    void (*handle) (s_hub_t *self, zpar_msg_t *request);
} s_requests [] = {
    { "registration_request", s_engine_registration },
    { "unregistration_request", s_engine_unregistration },
    { "engine_exit_request", s_engine_exit },
    { "scheduler_registration", s_scheduler_registration },
    { "scheduler_exit_request", s_scheduler_exit },
    { "connection_request", s_connection_request },
    { "engines_request", s_engines_request },
    { "status_request", s_status_request },
    { "result_request", s_result_request },
    { "queue_request", s_queue_request },
    { "db_request", s_db_request },
    { "purge_request", s_purge_request },
    { "resubmit_request", s_resubmit_request },
    { "shutdown_request", s_shutdown_request },
    { NULL, NULL }
};

static json_t *
s_error (const char *ename, const char *format, ...)
{
    char evalue [512];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    return json_pack ("{s:s, s:s, s:s}", "status", "error", "ename", ename,
                      "evalue", zpar_utf8_clean (evalue));
}

static void
s_engine_free (void **item)
{
    zpar_hub_engine_destroy ((zpar_hub_engine_t **) item);
}

static s_hub_t *
s_hub_new (zsock_t *pipe, zpar_hub_config_t *config)
{
    s_hub_t *self = calloc (1, sizeof *self);
    self->pipe = pipe;
    self->config = *config;
    self->config.ip = strdup (config->ip);
    self->config.key = strdup (config->key);
    self->signer = zpar_sign_new (config->key, ZPAR_REPLAY_HISTORY);
    self->session = zpar_new_uuid ();
    self->engines = zhashx_new ();
    self->db = config->db;
    self->declared_dead = zhashx_new ();
    self->declared_order = zlistx_new ();
    zlistx_set_destructor (self->declared_order, (czmq_destructor *) zstr_free);
    zhashx_set_destructor (self->engines, s_engine_free);
    self->started_ms = zpar_mono_ms ();
    if (!self->signer)
        goto err;
    int64_t max = config->max_message_size;
    const char *ip = self->config.ip;
    const int *port = config->ports;
    if (!(self->registration = zpar_bind_at (ZMQ_ROUTER, ip, port [0], max, &self->registration_ep))
    ||  !(self->ping = zpar_bind_at (ZMQ_PUB, ip, port [1], max, &self->ping_ep))
    ||  !(self->pong = zpar_bind_at (ZMQ_ROUTER, ip, port [2], max, &self->pong_ep))
    ||  !(self->notification = zpar_bind_at (ZMQ_PUB, ip, port [3], max, &self->notification_ep))
    ||  !(self->monitor = zpar_bind_at (ZMQ_SUB, ip, port [4], max, &self->monitor_ep)))
        goto err;
    //  A peer whose handshake fails (a wrong CurveZMQ key, no key, not
    //  ZMTP at all) gets no message through and never reaches a handler:
    //  libzmq reports it on a monitor socket, and the hub counts it.
    zsock_t *bound [5] = { self->registration, self->ping, self->pong, self->notification, self->monitor };
    for (int i = 0; i < 5; i++) {
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "inproc://zpar-hub-watch-%d", i);
        if (zmq_socket_monitor (zsock_resolve (bound [i]), endpoint,
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0)
            self->watch [i] = zsock_new (ZMQ_PAIR);
        if (self->watch [i] && zsock_connect (self->watch [i], "%s", endpoint) != 0)
            zsock_destroy (&self->watch [i]);
    }
    //  Pongs need no reply: a pong ROUTER that refuses unknown peers
    //  would only make noise.
    zsock_set_router_mandatory (self->pong, 0);
    //  The last replies and the shutdown notification must get out even
    //  when the hub stops right after sending them.
    zsock_set_linger (self->registration, 200);
    zsock_set_linger (self->notification, 200);
    self->next_ping_ms = zpar_mono_ms () + self->config.hb_period_ms;
    //  Counters go on from the wall clock in ms, so that a hub that takes
    //  over never sends one an earlier hub sent: a pong, or a signed
    //  answer to one, from before cannot be replayed to it.
    self->ping_counter = (uint64_t) (zpar_wall_us () / 1000);
    //  Engines of the hub before register again in their first beats;
    //  until then their ids are not given to new engines.
    if (config->not_before_us)
        self->fresh_after_ms = zpar_mono_ms () + ZPAR_SCHEDULER_CHECK_MS
                             + 2 * (int64_t) self->config.hb_period_ms;
    return self;
err:
    zpar_error ("cannot bind on %s: %s", config->ip, zmq_strerror (zmq_errno ()));
    s_hub_destroy (&self);
    return NULL;
}

static void
s_hub_destroy (s_hub_t **self_p)
{
    if (!*self_p)
        return;
    s_hub_t *self = *self_p;
    for (int i = 0; i < 5; i++)
        zsock_destroy (&self->watch [i]);
    zsock_destroy (&self->registration);
    zsock_destroy (&self->ping);
    zsock_destroy (&self->pong);
    zsock_destroy (&self->notification);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->iopub);
    zsock_destroy (&self->resubmit);
    free (self->iopub_ep);
    free (self->resubmit_ep);
    free (self->registration_ep);
    free (self->ping_ep);
    free (self->pong_ep);
    free (self->notification_ep);
    free (self->monitor_ep);
    for (int i = 0; i < S_ROLES; i++) {
        free (self->roles [i].client_ep);
        free (self->roles [i].engine_ep);
        json_decref (self->roles [i].dropped);
    }
    zhashx_destroy (&self->engines);
    zhashx_destroy (&self->declared_dead);
    zlistx_destroy (&self->declared_order);
    zpar_sign_destroy (&self->signer);
    free (self->session);
    free ((char *) self->config.ip);
    free ((char *) self->config.key);
    free (self);
    *self_p = NULL;
}

void
zpar_hub_actor (zsock_t *pipe, void *args)
{
    s_hub_t *self = s_hub_new (pipe, (zpar_hub_config_t *) args);
    zsock_signal (pipe, 0);
    if (!self) {
        //  Answer ENDPOINT with "" so the caller learns of the failure.
        char *command = zstr_recv (pipe);
        if (command && streq (command, "ENDPOINT"))
            zstr_send (pipe, "");
        zstr_free (&command);
        return;
    }
    zpoller_t *poller = zpoller_new (pipe, self->registration, self->pong, self->monitor, NULL);
    self->poller = poller;
    for (int i = 0; i < 5; i++)
        if (self->watch [i])
            zpoller_add (poller, self->watch [i]);
    while (!self->terminated) {
        int64_t wait = self->next_ping_ms - zpar_mono_ms ();
        void *which = zpoller_wait (poller, wait > 0? (int) wait: 0);
        if (which == pipe)
            s_hub_handle_pipe (self);
        else
        if (which == self->registration)
            s_hub_handle_registration (self);
        else
        if (which == self->pong)
            s_hub_handle_pong (self);
        else
        if (which == self->monitor)
            s_hub_handle_monitor (self);
        else
        if (which && which == self->iopub)
            s_hub_handle_iopub (self);
        else
        if (which && s_watch_index (self, which) >= 0)
            s_hub_handle_watch (self, s_watch_index (self, which));
        else
        if (which && which == self->resubmit) {
            //  Answers to resubmitted tasks: the monitor copies record them.
            zmsg_t *answer = zmsg_recv (self->resubmit);
            zmsg_destroy (&answer);
        }
        else
        if (zpoller_terminated (poller))
            break;
        if (zpar_mono_ms () >= self->next_ping_ms)
            s_hub_beat (self);
    }
    zpoller_destroy (&poller);
    //  Clients waiting on the cluster learn that it is going away.
    if (!self->shutdown_announced)
        s_hub_publish (self, "shutdown_notification", json_pack ("{s:s}", "reason", "hub stopping"));
    s_hub_destroy (&self);
}

static void
s_hub_handle_pipe (s_hub_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command || streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "ENDPOINT"))
        zstr_send (self->pipe, self->registration_ep);
    else
    if (streq (command, "PORTS"))
        zstr_sendf (self->pipe, "%d %d %d %d", zpar_endpoint_port (self->ping_ep),
                    zpar_endpoint_port (self->pong_ep), zpar_endpoint_port (self->notification_ep),
                    zpar_endpoint_port (self->monitor_ep));
    zstr_free (&command);
}

//  -- registration socket ---------------------------------------------------

static void
s_hub_handle_registration (s_hub_t *self)
{
    zmsg_t *raw = zmsg_recv (self->registration);
    if (!raw)
        return;
    zpar_drop_t reason;
    zpar_msg_t *request = zpar_msg_decode (&raw, self->signer, self->config.max_message_size,
                                           "registration", &reason);
    if (!request) {
        zpar_drops_add (&self->drops, reason, "registration");
        return;
    }
    if (zpar_msg_routes (request) < 1 || !zpar_msg_content (request)) {
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "registration");
        zpar_msg_destroy (&request);
        return;
    }
    //  The replay history holds the last 65,536 signatures, which a busy
    //  hub goes through in minutes: older requests are replays too. So is
    //  one dated before a hub that took over from a killed one started
    //  (same key, but the history did not come along).
    int64_t date = zpar_iso_parse (zpar_msg_date (request));
    int64_t not_before = zpar_wall_us () - S_FRESH_US;
    if (self->config.not_before_us > not_before)
        not_before = self->config.not_before_us;
    if (date >= 0 && date < not_before) {
        zpar_drops_add (&self->drops, ZPAR_DROP_REPLAY, "registration");
        zpar_msg_destroy (&request);
        return;
    }
    const char *type = zpar_msg_type (request);
    size_t i = 0;
    while (s_requests [i].type && !streq (s_requests [i].type, type))
        i++;
    if (s_requests [i].type)
        s_requests [i].handle (self, request);
    else
        //  No answer: a signed message of another kind (an engine's output
        //  picked up from iopub, say) must not earn a freshly signed one.
        zpar_drops_add (&self->drops, ZPAR_DROP_UNKNOWN_TYPE, "registration");
    zpar_msg_destroy (&request);
}

//  Replies to request on the registration socket; takes content.
static void
s_hub_reply (s_hub_t *self, zpar_msg_t *request, const char *msg_type, json_t *content)
{
    zpar_msg_t *reply = zpar_msg_new_reply (request, msg_type, self->session);
    zpar_msg_set_content (reply, content);
    //  A peer that left before its answer is not an error of the hub's.
    zpar_msg_send (&reply, self->registration, self->signer);
}

static void
s_hub_publish (s_hub_t *self, const char *msg_type, json_t *content)
{
    zpar_msg_t *msg = zpar_msg_new (msg_type, self->session);
    json_object_set_new (content, "registry_version", json_integer ((json_int_t) self->version));
    zpar_msg_set_content (msg, content);
    zpar_msg_add_route (msg, msg_type, strlen (msg_type));     //  topic
    zpar_msg_send (&msg, self->notification, self->signer);
}

static bool
s_roles_ready (s_hub_t *self)
{
    for (int i = 0; i < S_ROLES; i++)
        if (!self->roles [i].engine_ep)
            return false;
    return true;
}

static json_t *
s_endpoints (s_hub_t *self, bool for_engine)
{
    json_t *endpoints = json_object ();
    for (int i = 0; i < S_ROLES; i++) {
        const char *ep = for_engine? self->roles [i].engine_ep: self->roles [i].client_ep;
        if (ep)
            json_object_set_new (endpoints, s_role_names [i], json_string (ep));
    }
    json_object_set_new (endpoints, "registration", json_string (self->registration_ep));
    json_object_set_new (endpoints, "notification", json_string (self->notification_ep));
    if (for_engine) {
        json_object_set_new (endpoints, "hb_ping", json_string (self->ping_ep));
        json_object_set_new (endpoints, "hb_pong", json_string (self->pong_ep));
    }
    return endpoints;
}

static bool
s_valid_name (json_t *value)
{
    const char *text = json_string_value (value);
    return text && *text && strlen (text) <= S_NAME_MAX;
}

static bool
s_id_in_use (s_hub_t *self, int id)
{
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines))
        if (engine->id == id)
            return true;
    return false;
}

static void
s_engine_registration (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    json_t *uuid = json_object_get (content, "uuid");
    json_t *host = json_object_get (content, "host");
    json_t *pid = json_object_get (content, "pid");
    json_t *functions = json_object_get (content, "functions");
    json_t *wanted = json_object_get (content, "id");
    json_t *restarts = json_object_get (content, "restarts");
    json_t *again = json_object_get (content, "reregister");
    if (!s_valid_name (uuid) || !s_valid_name (host) || !json_is_integer (pid)
    ||  (functions && !json_is_array (functions)) || (wanted && !json_is_integer (wanted))
    ||  (restarts && !json_is_integer (restarts)) || (again && !json_is_boolean (again))
    ||  (json_is_true (again) && !wanted)) {
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "registration");
        s_hub_reply (self, request, "registration_reply", s_error (ZPAR_E_VALUE,
                     "registration_request needs uuid, host (strings), pid (integer), functions (list)"));
        return;
    }
    if (!s_roles_ready (self)) {
        s_hub_reply (self, request, "registration_reply", s_error ("NotReady",
                     "no scheduler has registered with the hub yet; try again"));
        return;
    }
    zpar_hub_engine_t *engine = zhashx_lookup (self->engines, json_string_value (uuid));
    if (engine && engine->pid != json_integer_value (pid)) {
        s_hub_reply (self, request, "registration_reply", s_error (ZPAR_E_VALUE,
                     "uuid %s is already registered by another process", engine->uuid));
        return;
    }
    if (!engine && !json_is_true (again) && zpar_mono_ms () < self->fresh_after_ms) {
        s_hub_reply (self, request, "registration_reply", s_error ("NotReady",
                     "this hub took over moments ago; its engines register first"));
        return;
    }
    if (!engine && json_is_true (again) && s_id_in_use (self, (int) json_integer_value (wanted))) {
        s_hub_reply (self, request, "registration_reply", s_error (ZPAR_E_VALUE,
                     "engine id %lld is taken", (long long) json_integer_value (wanted)));
        return;
    }
    if (!engine) {
        //  An engine may ask for an id (zpar-engine --id), e.g. to take
        //  its old one again; it gets it when no live engine holds it.
        int id = self->next_id;
        if (wanted && json_integer_value (wanted) >= 0 && json_integer_value (wanted) < S_ID_LIMIT
        &&  !s_id_in_use (self, (int) json_integer_value (wanted)))
            id = (int) json_integer_value (wanted);
        if (id >= S_ID_LIMIT) {
            s_hub_reply (self, request, "registration_reply", s_error (ZPAR_E_VALUE,
                         "no engine ids left (%d were given); restart the hub", S_ID_LIMIT));
            return;
        }
        if (id >= self->next_id)
            self->next_id = id + 1;
        engine = zpar_hub_engine_new (id, json_string_value (uuid), json_string_value (host),
                                      json_integer_value (pid), functions);
        engine->last_ping = self->ping_counter;
        engine->restarts = json_integer_value (restarts);
        zhashx_insert (self->engines, engine->uuid, engine);
        zhashx_delete (self->declared_dead, engine->uuid);     //  registered again
        zpar_info ("engine %d (%s, pid %lld on %s) registering%s", engine->id, engine->uuid,
                   (long long) engine->pid, engine->host, json_is_true (again)? " again": "");
        //  Registered with the hub this one took over from: its scheduler
        //  connections and heart are up, so it is ready at once.
        if (json_is_true (again))
            s_engine_apply (self, engine, ZPAR_EV_PONG, true);
    }
    s_hub_reply (self, request, "registration_reply",
                 json_pack ("{s:s, s:i, s:o, s:i, s:i}", "status", "ok", "id", engine->id,
                            "endpoints", s_endpoints (self, true),
                            "hb_period_ms", self->config.hb_period_ms,
                            "hb_liveness", self->config.hb_liveness));
}

//  A supervisor saw an engine's process end: {pid, host, how}. Its tasks
//  need not wait for missed heartbeats, and the departure says how.
static void
s_engine_exit (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    const char *uuid = json_string_value (json_object_get (content, "uuid"));
    json_t *pid = json_object_get (content, "pid");
    const char *host = json_string_value (json_object_get (content, "host"));
    const char *how = json_string_value (json_object_get (content, "how"));
    if (!uuid || !json_is_integer (pid) || !host || !how) {
        s_hub_reply (self, request, "engine_exit_reply",
                     s_error (ZPAR_E_VALUE, "engine_exit_request needs uuid, pid, host and how"));
        return;
    }
    //  The uuid its supervisor gave it; pid and host must agree, so that a
    //  report can never take another engine down.
    zpar_hub_engine_t *found = zhashx_lookup (self->engines, uuid);
    if (found && (found->pid != json_integer_value (pid) || !streq (found->host, host)))
        found = NULL;
    if (!found) {
        //  Gone already (its goodbye or the heartbeat came first).
        s_hub_reply (self, request, "engine_exit_reply",
                     s_error (ZPAR_E_KEY, "no engine %s with pid %lld on %s", uuid,
                              (long long) json_integer_value (pid), host));
        return;
    }
    s_hub_reply (self, request, "engine_exit_reply", json_pack ("{s:s}", "status", "ok"));
    zpar_engine_action_t action = zpar_hub_engine_exited (found, how);
    //  The transition is made; publish or forget as for any departure.
    s_engine_announce (self, found, action, ZPAR_EV_EXITED);
}

static void
s_engine_unregistration (s_hub_t *self, zpar_msg_t *request)
{
    const char *uuid = json_string_value (json_object_get (zpar_msg_content (request), "uuid"));
    zpar_hub_engine_t *engine = uuid? zhashx_lookup (self->engines, uuid): NULL;
    if (!engine) {
        s_hub_reply (self, request, "unregistration_reply",
                     s_error (ZPAR_E_KEY, "no engine with uuid %s", uuid? uuid: "(none)"));
        return;
    }
    s_hub_reply (self, request, "unregistration_reply", json_pack ("{s:s}", "status", "ok"));
    s_engine_apply (self, engine, ZPAR_EV_UNREGISTER, true);
}

//  {"id": uuid} of the engines announced so far (caller owns).
static json_t *
s_engine_ids (s_hub_t *self)
{
    json_t *engines = json_object ();
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines))
        if (engine->state != ZPAR_ENGINE_REGISTERING) {
            char id [16];
            snprintf (id, sizeof id, "%d", engine->id);
            json_object_set_new (engines, id, json_string (engine->uuid));
        }
    return engines;
}

static int
s_role_index (const char *role)
{
    for (int i = 0; role && i < S_ROLES; i++)
        if (streq (role, s_role_names [i]))
            return i;
    return -1;
}

static void
s_scheduler_registration (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    int index = s_role_index (json_string_value (json_object_get (content, "role")));
    const char *client_ep = json_string_value (json_object_get (content, "client_endpoint"));
    const char *engine_ep = json_string_value (json_object_get (content, "engine_endpoint"));
    json_t *pid = json_object_get (content, "pid");
    if (index < 0 || !client_ep || !engine_ep) {
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "registration");
        s_hub_reply (self, request, "scheduler_reply", s_error (ZPAR_E_VALUE,
                     "scheduler_registration needs role (mux, task, control, iopub, broadcast), "
                     "client_endpoint and engine_endpoint"));
        return;
    }
    s_role_t *role = &self->roles [index];
    int64_t new_pid = json_is_integer (pid)? json_integer_value (pid): 0;
    json_t *replaces = json_object_get (content, "replaces");
    //  One scheduler per role: a second one would take the role over
    //  every second, and the first would seem lost every time. One that
    //  replaces it (started again by its supervisor), or that comes after
    //  it fell silent, may.
    if (role->pid && role->pid != new_pid && json_integer_value (replaces) != role->pid
    &&  zpar_mono_ms () - role->seen_ms < S_SCHEDULER_SILENT_MS) {
        s_hub_reply (self, request, "scheduler_reply", s_error (ZPAR_E_VALUE,
                     "the %s role is served by the scheduler of pid %lld", s_role_names [index],
                     (long long) role->pid));
        return;
    }
    //  A scheduler registers its roles again every second (a hub that
    //  took over from a killed one learns of them so): the same again
    //  changes nothing.
    bool same = role->client_ep && streq (role->client_ep, client_ep)
             && streq (role->engine_ep, engine_ep) && role->pid == new_pid;
    role->seen_ms = zpar_mono_ms ();
    if (role->pid && role->pid != new_pid)
        s_scheduler_lost (self, role->pid, "another scheduler took its place");
    //  Started again in place of one this hub may never have known (it
    //  died while the hub was away too).
    if (json_is_integer (replaces) && json_integer_value (replaces) != new_pid)
        s_scheduler_lost (self, json_integer_value (replaces), "another scheduler took its place");
    //  Back after a silence taken for its end: it may be lost again.
    if (new_pid == self->lost_pid) {
        self->lost_pid = 0;
        self->lost_repeat_until = 0;
    }
    if (!same) {
        free (role->client_ep);
        free (role->engine_ep);
        role->client_ep = strdup (client_ep);
        role->engine_ep = strdup (engine_ep);
        role->pid = new_pid;
        zpar_info ("scheduler %s registered: clients at %s, engines at %s",
                   s_role_names [index], client_ep, engine_ep);
        s_follow_roles (self);
    }
    json_t *engines = s_engine_ids (self);
    s_hub_reply (self, request, "scheduler_reply",
                 json_pack ("{s:s, s:s, s:s, s:o, s:I}", "status", "ok",
                            "notification", self->notification_ep,
                            "monitor", self->monitor_ep, "engines", engines,
                            "registry_version", (json_int_t) self->version));
}

//  Connects sock (of type) to endpoint, again when endpoint changed.
static void
s_follow (s_hub_t *self, zsock_t **sock, char **current, int type, const char *endpoint)
{
    if (!endpoint || (*current && streq (*current, endpoint)))
        return;
    if (*sock)
        zpoller_remove (self->poller, *sock);
    zsock_destroy (sock);
    free (*current);
    *current = strdup (endpoint);
    *sock = zpar_connect (type, endpoint, NULL, self->config.max_message_size);
    if (*sock)
        zpoller_add (self->poller, *sock);
}

//  The hub records what tasks print (iopub) and resubmits tasks through
//  the task role, at whatever endpoints those roles registered.
static void
s_follow_roles (s_hub_t *self)
{
    s_follow (self, &self->iopub, &self->iopub_ep, ZMQ_SUB, self->roles [3].client_ep);
    s_follow (self, &self->resubmit, &self->resubmit_ep, ZMQ_DEALER, self->roles [1].client_ep);
}

//  Calls inside a scheduler that ended are lost: its clients hear so at
//  once, and fail them, instead of waiting for ever. Said once a pid.
static void
s_scheduler_lost_publish (s_hub_t *self)
{
    s_hub_publish (self, "scheduler_lost_notification",
                   json_pack ("{s:I, s:s}", "pid", (json_int_t) self->lost_pid,
                              "reason", zpar_utf8_clean (self->lost_reason)));
}

static void
s_scheduler_lost (s_hub_t *self, int64_t pid, const char *reason)
{
    if (!pid || pid == self->lost_pid)
        return;
    self->lost_pid = pid;
    zpar_warn ("the scheduler (pid %lld) is lost: %s", (long long) pid, reason);
    //  What it had routed will not be answered through it.
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines))
        s_engine_apply (self, engine, ZPAR_EV_TASKS_LOST, true);
    json_t *error = json_pack ("{s:s, s:s, s:s}", "status", "error", "ename", ZPAR_E_SCHEDULER,
                               "evalue", "the scheduler ended before answering; the task may or may not have run");
    char *content = json_dumps (error, JSON_COMPACT);
    json_decref (error);
    zpar_hub_db_fail_pending (self->db, content);
    free (content);
    //  Said again at each beat for a while: a client whose subscription
    //  is reconnecting (to a hub that has just taken over) would miss a
    //  single one, and wait for ever. Clients act once per pid.
    snprintf (self->lost_reason, sizeof self->lost_reason, "%s", reason);
    self->lost_repeat_until = zpar_mono_ms () + S_LOST_REPEAT_MS;
    s_scheduler_lost_publish (self);
}

//  A supervisor saw the scheduler's process end: {pid, how}.
static void
s_scheduler_exit (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    json_t *pid = json_object_get (content, "pid");
    const char *how = json_string_value (json_object_get (content, "how"));
    bool known = false;
    for (int i = 0; json_is_integer (pid) && i < S_ROLES; i++)
        known |= self->roles [i].pid == json_integer_value (pid);
    if (!json_is_integer (pid) || !how || !known) {
        s_hub_reply (self, request, "scheduler_exit_reply",
                     s_error (ZPAR_E_KEY, "scheduler_exit_request needs the pid of a scheduler and how it ended"));
        return;
    }
    s_hub_reply (self, request, "scheduler_exit_reply", json_pack ("{s:s}", "status", "ok"));
    s_scheduler_lost (self, json_integer_value (pid), how);
}

static void
s_connection_request (s_hub_t *self, zpar_msg_t *request)
{
    //  A client may connect before the schedulers (or without them): it
    //  can still ask for status and shut the hub down.
    self->clients++;
    json_t *engines = s_engine_ids (self);
    s_hub_reply (self, request, "connection_reply",
                 json_pack ("{s:s, s:o, s:o, s:I, s:i}", "status", "ok",
                            "engines", engines, "endpoints", s_endpoints (self, false),
                            "registry_version", (json_int_t) self->version,
                            "hb_period_ms", self->config.hb_period_ms));
}

static int
s_compare_ids (const void *a, const void *b)
{
    int x = (int) json_integer_value (json_object_get (*(json_t *const *) a, "id"));
    int y = (int) json_integer_value (json_object_get (*(json_t *const *) b, "id"));
    return (x > y) - (x < y);
}

//  Engines sorted by id, as JSON objects (caller owns the array).
static json_t *
s_engine_table (s_hub_t *self)
{
    size_t count = zhashx_size (self->engines), i = 0;
    json_t **rows = calloc (count + 1, sizeof *rows);
    int64_t now = zpar_mono_ms ();
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines))
        rows [i++] = zpar_hub_engine_json (engine, now);
    qsort (rows, count, sizeof *rows, s_compare_ids);
    json_t *table = json_array ();
    for (i = 0; i < count; i++)
        json_array_append_new (table, rows [i]);
    free (rows);
    return table;
}

static void
s_engines_request (s_hub_t *self, zpar_msg_t *request)
{
    s_hub_reply (self, request, "engines_reply",
                 json_pack ("{s:s, s:o}", "status", "ok", "engines", s_engine_table (self)));
}

//  Every socket the hub binds, for people and tests that look at them.
static json_t *
s_hub_endpoints (s_hub_t *self)
{
    return json_pack ("{s:s, s:s, s:s, s:s, s:s}", "registration", self->registration_ep,
                      "hb_ping", self->ping_ep, "hb_pong", self->pong_ep,
                      "notification", self->notification_ep, "monitor", self->monitor_ep);
}

//  result_request {msg_ids}: what the hub kept of each, in order. A reply
//  stays within half the message size limit: what does not fit comes back
//  as {"status": "later"}, to ask again.
static void
s_result_request (s_hub_t *self, zpar_msg_t *request)
{
    json_t *ids = json_object_get (zpar_msg_content (request), "msg_ids");
    bool valid = json_is_array (ids) && json_array_size (ids) <= S_RESULT_IDS_MAX;
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        valid &= json_is_string (id);
    if (!valid) {
        s_hub_reply (self, request, "result_reply", s_error (ZPAR_E_VALUE,
                     "result_request needs msg_ids, a list of at most %d strings", S_RESULT_IDS_MAX));
        return;
    }
    json_t *results = json_array ();
    size_t budget = (size_t) self->config.max_message_size / 2, used = 0;
    json_array_foreach (ids, i, id) {
        json_t *result = zpar_hub_db_result (self->db, json_string_value (id));
        char *text = json_dumps (result, JSON_COMPACT);
        size_t size = text? strlen (text): 0;
        free (text);
        if (used + size > budget) {
            json_decref (result);
            result = json_pack ("{s:s}", "status", "later");
        }
        else
            used += size;
        json_array_append_new (results, result);
    }
    s_hub_reply (self, request, "result_reply", json_pack ("{s:s, s:o}", "status", "ok", "results", results));
}

//  msg_ids in content: a list of 1 to S_RESULT_IDS_MAX strings, or NULL
//  (with an error reply sent).
static json_t *
s_msg_ids (s_hub_t *self, zpar_msg_t *request, const char *reply_type)
{
    json_t *ids = json_object_get (zpar_msg_content (request), "msg_ids");
    bool valid = json_is_array (ids) && json_array_size (ids) > 0
              && json_array_size (ids) <= S_RESULT_IDS_MAX;
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        valid &= json_is_string (id);
    if (!valid)
        s_hub_reply (self, request, reply_type, s_error (ZPAR_E_VALUE,
                     "msg_ids must be a list of 1 to %d strings", S_RESULT_IDS_MAX));
    return valid? ids: NULL;
}

//  The records of ids, each known and not pending, or NULL (with an error
//  reply sent: KeyError for an unknown one, ValueError for one pending).
static json_t *
s_finished_records (s_hub_t *self, zpar_msg_t *request, json_t *ids, const char *reply_type)
{
    json_t *records = json_array ();
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id) {
        json_t *record = zpar_hub_db_record (self->db, json_string_value (id));
        const char *status = json_string_value (json_object_get (record, "status"));
        char shown [64];
        snprintf (shown, sizeof shown, "%s", json_string_value (id));
        zpar_utf8_clean (shown);
        if (!record || !status) {
            s_hub_reply (self, request, reply_type, s_error (ZPAR_E_KEY, "no record of task %s", shown));
            json_decref (records);
            return NULL;
        }
        if (streq (status, "pending")) {
            s_hub_reply (self, request, reply_type,
                         s_error (ZPAR_E_VALUE, "task %s is still pending", shown));
            json_decref (record);
            json_decref (records);
            return NULL;
        }
        json_array_append_new (records, record);
    }
    return records;
}

//  queue_request {}: per engine its calls waiting (queue), running and
//  done; tasks the task scheduler has not handed to an engine.
static void
s_queue_request (s_hub_t *self, zpar_msg_t *request)
{
    json_t *engines = json_object ();
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines)) {
        if (engine->state == ZPAR_ENGINE_DEAD || engine->state == ZPAR_ENGINE_REGISTERING)
            continue;
        char id [16];
        snprintf (id, sizeof id, "%d", engine->id);
        //  An engine runs one call at a time; the rest wait in its queue.
        json_object_set_new (engines, id, json_pack ("{s:I, s:I, s:I, s:I, s:s}",
            "queue", (json_int_t) (engine->queued > 1? engine->queued - 1: 0),
            "running", (json_int_t) (engine->queued > 0),
            "completed", (json_int_t) engine->completed, "failed", (json_int_t) engine->failed,
            "current", engine->current));
    }
    s_hub_reply (self, request, "queue_reply", json_pack ("{s:s, s:o, s:I, s:I, s:I}",
        "status", "ok", "engines", engines,
        "unassigned", (json_int_t) self->roles [1].unassigned,
        "records", (json_int_t) zpar_hub_db_count (self->db),
        "pending", (json_int_t) zpar_hub_db_pending (self->db)));
}

//  db_request {query, keys, offset, limit, last, after}: matching records,
//  oldest first, within half the message size limit. "more" says there
//  are others: ask again with after = the reply's last_seq (an offset
//  would skip records the memory store culled meanwhile). last: the
//  newest records only.
static void
s_db_request (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    json_t *keys = json_object_get (content, "keys");
    json_t *offset = json_object_get (content, "offset"), *limit = json_object_get (content, "limit");
    json_t *last = json_object_get (content, "last"), *after = json_object_get (content, "after");
    zpar_db_query_t query;
    char error [512];
    if (zpar_hub_db_parse_query (json_object_get (content, "query"), &query, error, sizeof error) != 0
    ||  zpar_hub_db_check_keys (keys, error, sizeof error) != 0) {
        s_hub_reply (self, request, "db_reply", s_error (ZPAR_E_VALUE, "%s", error));
        return;
    }
    if ((offset && (!json_is_integer (offset) || json_integer_value (offset) < 0))
    ||  (after && (!json_is_integer (after) || json_integer_value (after) < 0))
    ||  (limit && (!json_is_integer (limit) || json_integer_value (limit) < 1))
    ||  (last && (!json_is_integer (last) || json_integer_value (last) < 1))) {
        s_hub_reply (self, request, "db_reply", s_error (ZPAR_E_VALUE,
                     "offset and after must be integers >= 0, limit and last integers >= 1"));
        return;
    }
    query.by_after = after != NULL;
    query.after = json_integer_value (after);
    zpar_db_page_t page = {
        .offset = offset? (size_t) json_integer_value (offset): 0,
        .limit = limit && json_integer_value (limit) < S_RESULT_IDS_MAX
               ? (size_t) json_integer_value (limit): S_RESULT_IDS_MAX,
        .budget = (size_t) self->config.max_message_size / 2
    };
    if (last) {
        //  The newest last records: the offset counted from the end.
        zpar_db_page_t count = { 0 };
        json_decref (zpar_hub_db_find (self->db, &query, NULL, &count));
        size_t newest = (size_t) json_integer_value (last);
        page.offset += count.total > newest? count.total - newest: 0;
    }
    json_t *records = zpar_hub_db_find (self->db, &query, json_is_array (keys)? keys: NULL, &page);
    bool more = page.offset + page.returned < page.total;
    s_hub_reply (self, request, "db_reply", json_pack ("{s:s, s:o, s:I, s:b, s:I}", "status", "ok",
                 "records", records, "total", (json_int_t) page.total, "more", more,
                 "last_seq", (json_int_t) page.last_seq));
}

//  purge_request {msg_ids} | {engine} | {all: true}: forgets finished
//  records (never pending ones).
static void
s_purge_request (s_hub_t *self, zpar_msg_t *request)
{
    json_t *content = zpar_msg_content (request);
    json_t *engine = json_object_get (content, "engine");
    bool by_ids = json_object_get (content, "msg_ids") != NULL, all = json_is_true (json_object_get (content, "all"));
    zpar_db_query_t query = { .status = "completed" };
    if (by_ids + (engine != NULL) + all != 1
    ||  (engine && (!json_is_integer (engine) || json_integer_value (engine) < 0
                    || json_integer_value (engine) > INT32_MAX))) {
        s_hub_reply (self, request, "purge_reply", s_error (ZPAR_E_VALUE,
                     "purge_request needs one of msg_ids (a list), engine (an id) or all (true)"));
        return;
    }
    json_t *ids = by_ids? s_msg_ids (self, request, "purge_reply"): NULL;
    json_t *records = ids? s_finished_records (self, request, ids, "purge_reply"): NULL;
    if (by_ids && !records)
        return;
    json_decref (records);
    query.msg_ids = ids;
    if (engine) {
        query.by_engine = true;
        query.engine_id = (int) json_integer_value (engine);
    }
    size_t purged = zpar_hub_db_purge (self->db, &query);
    s_hub_reply (self, request, "purge_reply", json_pack ("{s:s, s:I}", "status", "ok",
                                                          "purged", (json_int_t) purged));
}

//  resubmit_request {msg_ids}: each finished task again, as a new task
//  (new msg_id) with the same function, arguments and options, through
//  the task scheduler. Their answers are recorded like any other:
//  fetch them with result_request.
static void
s_resubmit_request (s_hub_t *self, zpar_msg_t *request)
{
    json_t *ids = s_msg_ids (self, request, "resubmit_reply");
    if (!ids)
        return;
    if (!self->resubmit) {
        s_hub_reply (self, request, "resubmit_reply", s_error (ZPAR_E_VALUE,
                     "no task scheduler has registered: nothing to resubmit through"));
        return;
    }
    json_t *records = s_finished_records (self, request, ids, "resubmit_reply");
    if (!records)
        return;
    size_t i;
    json_t *record;
    json_array_foreach (records, i, record) {
        json_t *content = json_object_get (json_object_get (record, "request"), "content");
        json_t *sent = json_object_get (json_object_get (json_object_get (record, "request"), "metadata"),
                                        "buffers");
        if (json_integer_value (sent) > 0) {
            s_hub_reply (self, request, "resubmit_reply", s_error (ZPAR_E_VALUE,
                         "task %s was sent with binary buffers, which the hub does not keep: it cannot "
                         "be resubmitted", json_string_value (json_object_get (record, "msg_id"))));
            json_decref (records);
            return;
        }
        if (!json_is_object (content) || json_object_get (content, "args_cut")) {
            s_hub_reply (self, request, "resubmit_reply", s_error (ZPAR_E_VALUE,
                         "the arguments of task %s were over %d bytes and not kept: it cannot be "
                         "resubmitted", json_string_value (json_object_get (record, "msg_id")),
                         ZPAR_MON_CONTENT_MAX));
            json_decref (records);
            return;
        }
    }
    json_t *resubmitted = json_object ();
    json_array_foreach (records, i, record) {
        json_t *sent = json_object_get (record, "request");
        json_t *metadata = json_object_get (sent, "metadata");
        zpar_msg_t *msg = zpar_msg_new ("apply_request", self->session);
        zpar_msg_set_metadata (msg, json_is_object (metadata)? json_deep_copy (metadata): json_object ());
        zpar_msg_set_content (msg, json_deep_copy (json_object_get (sent, "content")));
        char *new_id = strdup (zpar_msg_id (msg));
        const char *old_id = json_string_value (json_object_get (record, "msg_id"));
        if (zpar_msg_send (&msg, self->resubmit, self->signer) == 0) {
            zpar_hub_db_resubmitted (self->db, old_id, new_id);
            json_object_set_new (resubmitted, old_id, json_string (new_id));
        }
        free (new_id);
    }
    json_decref (records);
    s_hub_reply (self, request, "resubmit_reply", json_pack ("{s:s, s:o}", "status", "ok",
                                                             "resubmitted", resubmitted));
}

static int
s_watch_index (s_hub_t *self, void *which)
{
    for (int i = 0; i < 5; i++)
        if (self->watch [i] && which == self->watch [i])
            return i;
    return -1;
}

//  A monitor event of a bound socket: a peer failed its handshake.
static void
s_hub_handle_watch (s_hub_t *self, int which)
{
    static const char *names [5] = { "registration", "hb_ping", "hb_pong", "notification", "monitor" };
    zmsg_t *event = zmsg_recv (self->watch [which]);
    if (event)
        zpar_drops_add (&self->drops, ZPAR_DROP_HANDSHAKE, names [which]);
    zmsg_destroy (&event);
}

//  What a task printed: a stream message whose parent is its request.
static void
s_hub_handle_iopub (s_hub_t *self)
{
    zmsg_t *raw = zmsg_recv (self->iopub);
    if (!raw)
        return;
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (&raw, self->signer, self->config.max_message_size,
                                       "iopub", &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "iopub");
        return;
    }
    json_t *content = zpar_msg_content (msg);
    const char *name = json_string_value (json_object_get (content, "name"));
    const char *text = json_string_value (json_object_get (content, "text"));
    const char *parent = zpar_msg_parent_id (msg);
    if (streq (zpar_msg_type (msg), "stream") && parent && text && name
    &&  (streq (name, "stdout") || streq (name, "stderr")))
        zpar_hub_db_output (self->db, parent, name, text);
    zpar_msg_destroy (&msg);
}

static void
s_status_request (s_hub_t *self, zpar_msg_t *request)
{
    //  Dropped messages are the hub's own plus what each scheduler reported.
    zpar_drops_t total = self->drops;
    json_t *schedulers = json_object ();
    for (int i = 0; i < S_ROLES; i++) {
        s_role_t *role = &self->roles [i];
        if (!role->client_ep)
            continue;
        json_object_set_new (schedulers, s_role_names [i],
            json_pack ("{s:s, s:s, s:I, s:o}", "client_endpoint", role->client_ep,
                       "engine_endpoint", role->engine_ep, "pid", (json_int_t) role->pid,
                       "dropped", role->dropped? json_incref (role->dropped): json_object ()));
        if (role->dropped)
            zpar_drops_merge_json (&total, role->dropped);
    }
    int states [4] = { 0 };
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines))
        states [engine->state]++;
    json_t *status = json_pack ("{s:s, s:i, s:{s:i, s:i, s:i}, s:o, s:{s:I, s:I, s:i, s:i, s:o, s:s, s:o},"
                                " s:o, s:I, s:I, s:I}",
        "status", "ok",
        "engines", states [ZPAR_ENGINE_IDLE] + states [ZPAR_ENGINE_BUSY],
        "engine_states", "registering", states [ZPAR_ENGINE_REGISTERING],
                         "idle", states [ZPAR_ENGINE_IDLE], "busy", states [ZPAR_ENGINE_BUSY],
        "dropped", zpar_drops_json (&total),
        "hub", "pid", (json_int_t) getpid (),
               "uptime_ms", (json_int_t) (zpar_mono_ms () - self->started_ms),
               "hb_period_ms", self->config.hb_period_ms,
               "hb_liveness", self->config.hb_liveness,
               "dropped", zpar_drops_json (&self->drops),
               "registration", self->registration_ep,
               "endpoints", s_hub_endpoints (self),
        "schedulers", schedulers,
        "clients", (json_int_t) self->clients,
        "routed", (json_int_t) self->routed,
        "registry_version", (json_int_t) self->version);
    json_object_set_new (status, "db", json_pack ("{s:s, s:I, s:I, s:I}",
        "spec", zpar_hub_db_spec (self->db), "records", (json_int_t) zpar_hub_db_count (self->db),
        "pending", (json_int_t) zpar_hub_db_pending (self->db),
        "bytes", (json_int_t) zpar_hub_db_bytes (self->db)));
    json_object_set_new (status, "unassigned", json_integer (self->roles [1].unassigned));
    s_hub_reply (self, request, "status_reply", status);
}

static void
s_shutdown_request (s_hub_t *self, zpar_msg_t *request)
{
    zpar_info ("shutdown requested by session %s",
               json_string_value (json_object_get (zpar_msg_header (request), "session")));
    s_hub_reply (self, request, "shutdown_reply", json_pack ("{s:s}", "status", "ok"));
    s_hub_publish (self, "shutdown_notification", json_pack ("{s:s}", "reason", "shutdown_request"));
    self->shutdown_announced = true;
    zstr_send (self->pipe, "SHUTDOWN");
}

//  -- engines ---------------------------------------------------------------

static void
s_engine_apply (s_hub_t *self, zpar_hub_engine_t *engine, zpar_engine_event_t event, bool ok)
{
    s_engine_announce (self, engine, zpar_hub_engine_event (engine, event, ok), event);
}

//  What the hub does once an engine's state changed (see zpar_hub_engine.h).
static void
s_engine_announce (s_hub_t *self, zpar_hub_engine_t *engine, zpar_engine_action_t action,
                   zpar_engine_event_t event)
{
    switch (action) {
        case ZPAR_ACT_ANNOUNCE:
            self->version++;
            zpar_info ("engine %d registered", engine->id);
            s_hub_publish (self, "registration_notification",
                json_pack ("{s:i, s:s, s:s, s:I}", "id", engine->id, "uuid", engine->uuid,
                           "host", engine->host, "pid", (json_int_t) engine->pid));
            break;
        case ZPAR_ACT_DEPART:
            if (event == ZPAR_EV_EXPIRED && !zhashx_lookup (self->declared_dead, engine->uuid)) {
                //  It may still live (stopped, cut off): remembered, so
                //  that its next pong can be answered "unknown".
                if (zlistx_size (self->declared_order) >= S_DECLARED_MAX) {
                    char *oldest = zlistx_first (self->declared_order);
                    zhashx_delete (self->declared_dead, oldest);
                    zlistx_delete (self->declared_order, zlistx_cursor (self->declared_order));
                }
                zhashx_insert (self->declared_dead, engine->uuid, (void *) 1);
                zlistx_add_end (self->declared_order, strdup (engine->uuid));
            }
            self->version++;
            zpar_info ("engine %d unregistered (%s)", engine->id, engine->reason);
            s_hub_publish (self, "unregistration_notification",
                json_pack ("{s:i, s:s, s:s}", "id", engine->id, "uuid", engine->uuid,
                           "reason", engine->reason));
            zpar_hub_db_engine_gone (self->db, engine->id);
            zhashx_delete (self->engines, engine->uuid);
            break;
        case ZPAR_ACT_FORGET:
            zpar_warn ("engine %d never answered a heartbeat; forgotten", engine->id);
            zhashx_delete (self->engines, engine->uuid);
            break;
        case ZPAR_ACT_UNEXPECTED:
            zpar_debug ("engine %d: event %d unexpected in state %s", engine->id, (int) event,
                        zpar_hub_engine_state_name (engine->state));
            break;
        case ZPAR_ACT_NONE:
            break;
    }
}

//  Answers a pong: [word] [counter] [hmac of "word:uuid:counter"], signed
//  and for this ping only, so that it can be neither forged nor replayed.
static void
s_hub_tell (s_hub_t *self, zframe_t *uuid, zframe_t *counter, const char *word)
{
    const void *told [] = { word, ":", zframe_data (uuid), ":", zframe_data (counter) };
    size_t told_sizes [] = { strlen (word), 1, zframe_size (uuid), 1, zframe_size (counter) };
    char mac [ZPAR_SIGNATURE_LEN + 1];
    zpar_sign_parts (self->signer, told, told_sizes, 5, mac);
    zmsg_t *reply = zmsg_new ();
    zmsg_addmem (reply, zframe_data (uuid), zframe_size (uuid));
    zmsg_addstr (reply, word);
    zmsg_addmem (reply, zframe_data (counter), zframe_size (counter));
    zmsg_addstr (reply, mac);
    zmsg_send (&reply, self->pong);
    zmsg_destroy (&reply);
}

//  Pong: [uuid identity] [ping counter] [hmac of "uuid:counter"]
static void
s_hub_handle_pong (s_hub_t *self)
{
    zmsg_t *raw = zmsg_recv (self->pong);
    if (!raw)
        return;
    zframe_t *uuid = zmsg_pop (raw);
    zframe_t *counter = zmsg_pop (raw);
    zframe_t *signature = zmsg_pop (raw);
    zpar_drop_t reason = ZPAR_DROP_MALFORMED;
    char text [32];
    if (!signature || zmsg_size (raw) || zframe_size (counter) >= sizeof text)
        goto drop;
    memcpy (text, zframe_data (counter), zframe_size (counter));
    text [zframe_size (counter)] = 0;
    long value;
    if (zpar_parse_long (text, 0, LONG_MAX, &value) != 0)
        goto drop;
    const void *parts [] = { zframe_data (uuid), ":", zframe_data (counter) };
    size_t sizes [] = { zframe_size (uuid), 1, zframe_size (counter) };
    if (zpar_sign_verify (self->signer, parts, sizes, 3, (const char *) zframe_data (signature),
                          zframe_size (signature)) != 0) {
        reason = ZPAR_DROP_BAD_SIGNATURE;
        goto drop;
    }
    char *key = zframe_strdup (uuid);
    zpar_hub_engine_t *engine = zhashx_lookup (self->engines, key);
    //  Only an engine this hub declared dead is told so.
    bool declared = !engine && zhashx_lookup (self->declared_dead, key);
    free (key);
    //  Only an answer to the latest ping counts; counter 0 is the heart's
    //  hello and counts only while the engine registers. An old pong
    //  replayed proves nothing.
    bool hello = value == 0 && engine && engine->state == ZPAR_ENGINE_REGISTERING;
    if (engine && ((uint64_t) value == self->ping_counter || hello)) {
        engine->last_ping = self->ping_counter;
        s_engine_apply (self, engine, ZPAR_EV_PONG, true);
    }
    else
    if (!engine && value > 0 && (uint64_t) value == self->ping_counter)
        //  Declared dead (it was stopped, or cut off): it must leave
        //  instead of answering work nobody waits for any more. Unknown
        //  otherwise: this hub took over from one that knew it, and it is
        //  to register again, with its uuid and id.
        s_hub_tell (self, uuid, counter, declared? "unknown": "reregister");
    goto done;
drop:
    zpar_drops_add (&self->drops, reason, "heartbeat");
done:
    zframe_destroy (&uuid);
    zframe_destroy (&counter);
    zframe_destroy (&signature);
    zmsg_destroy (&raw);
}

//  Once a period: engines that did not answer the last ping miss a beat;
//  then the next ping goes out.
static void
s_hub_beat (s_hub_t *self)
{
    zlistx_t *expired = zlistx_new ();
    for (zpar_hub_engine_t *engine = zhashx_first (self->engines); engine;
         engine = zhashx_next (self->engines)) {
        if (engine->last_ping >= self->ping_counter)
            continue;
        if (++engine->missed >= self->config.hb_liveness)
            zlistx_add_end (expired, engine);
    }
    //  Expire after the walk: s_engine_apply deletes from the table.
    for (zpar_hub_engine_t *engine = zlistx_first (expired); engine; engine = zlistx_next (expired)) {
        zpar_warn ("engine %d missed %d heartbeats", engine->id, engine->missed);
        s_engine_apply (self, engine, ZPAR_EV_EXPIRED, false);
    }
    zlistx_destroy (&expired);
    for (int i = 0; i < S_ROLES; i++)
        if (self->roles [i].pid && zpar_mono_ms () - self->roles [i].seen_ms > S_SCHEDULER_SILENT_MS)
            s_scheduler_lost (self, self->roles [i].pid, "no word from it for 10 s");
    if (self->lost_pid && zpar_mono_ms () < self->lost_repeat_until)
        s_scheduler_lost_publish (self);
    self->ping_counter++;
    zstr_sendf (self->ping, "%llu", (unsigned long long) self->ping_counter);
    self->next_ping_ms = zpar_mono_ms () + self->config.hb_period_ms;
}

//  -- monitor ---------------------------------------------------------------

//  The monitor socket takes batches of copies (see zpar_proto.h), checked
//  once by their signature, and a scheduler's counters: [stats] [role]
//  DELIM ..., a signed message of its own.
static void
s_hub_handle_monitor (s_hub_t *self)
{
    zmsg_t *raw = zmsg_recv (self->monitor);
    if (!raw)
        return;
    if (!zframe_streq (zmsg_first (raw), ZPAR_MON_BATCH)) {
        s_hub_monitor_stats (self, &raw);
        return;
    }
    zframe_t *signature = zmsg_next (raw);
    zframe_t *blob = zmsg_next (raw);
    zpar_drop_t reason = ZPAR_DROP_MALFORMED;
    if (!blob || zmsg_size (raw) != 3)
        goto drop;
    const void *parts [] = { ZPAR_MON_DOMAIN, zframe_data (blob) };
    size_t sizes [] = { sizeof ZPAR_MON_DOMAIN - 1, zframe_size (blob) };
    if (zpar_sign_verify (self->signer, parts, sizes, 2, (const char *) zframe_data (signature),
                          zframe_size (signature)) != 0) {
        reason = ZPAR_DROP_BAD_SIGNATURE;
        goto drop;
    }
    if (zpar_sign_seen (self->signer, ZPAR_MON_BATCH, (const char *) zframe_data (signature),
                        zframe_size (signature))) {
        reason = ZPAR_DROP_REPLAY;
        goto drop;
    }
    //  Signed by a scheduler, so well formed unless a scheduler is broken;
    //  still, no length is trusted.
    const uint8_t *cursor = zframe_data (blob), *end = cursor + zframe_size (blob);
    zpar_hub_db_begin (self->db);
    while (cursor && cursor < end) {
        const uint8_t *data [ZPAR_MON_ENTRY_PARTS];
        size_t size [ZPAR_MON_ENTRY_PARTS];
        for (int i = 0; i < ZPAR_MON_ENTRY_PARTS && cursor; i++) {
            size_t left = (size_t) (end - cursor);
            size [i] = left < 4? 0: (size_t) cursor [0] << 24 | (size_t) cursor [1] << 16
                                  | (size_t) cursor [2] << 8 | cursor [3];
            if (left < 4 || size [i] > left - 4)
                cursor = NULL;
            else {
                data [i] = cursor + 4;
                cursor += 4 + size [i];
            }
        }
        if (cursor)
            s_hub_monitor_entry (self, data, size);
    }
    zpar_hub_db_commit (self->db);
    if (cursor) {
        zmsg_destroy (&raw);
        return;
    }
drop:
    zpar_drops_add (&self->drops, reason, "monitor");
    zmsg_destroy (&raw);
}

//  One copy from a batch: topic, engine, client, header, parent,
//  metadata, content.
static void
s_hub_monitor_entry (s_hub_t *self, const uint8_t **data, size_t *size)
{
    char topic [8], uuid [S_NAME_MAX + 1];
    if (size [0] >= sizeof topic || size [1] >= sizeof uuid)
        return;
    memcpy (topic, data [0], size [0]);
    topic [size [0]] = 0;
    memcpy (uuid, data [1], size [1]);
    uuid [size [1]] = 0;
    zpar_hub_engine_t *engine = zhashx_lookup (self->engines, uuid);
    //  The task records: requests handed to engines, and the answers, from
    //  an engine or from a scheduler itself.
    char msg_id [128], fn [sizeof ((zpar_hub_engine_t *) 0)->current] = "";
    char session [128] = "", date [48] = "";
    const char *const keys [] = { "msg_id", "session", "date" };
    char *const values [] = { msg_id, session, date };
    const size_t sizes [] = { sizeof msg_id, sizeof session, sizeof date };
    if (streq (topic, ZPAR_MON_IN)
    &&  zpar_json_scan_strings (data [3], size [3], keys, 3, values, sizes) > 0 && *msg_id) {
        //  The scan gives up on escaped text in the arguments: then parse.
        if (size [6] && zpar_json_scan_string (data [6], size [6], "fn", fn, sizeof fn) != 0) {
            json_t *content = json_loadb ((const char *) data [6], size [6], 0, NULL);
            const char *name = json_string_value (json_object_get (content, "fn"));
            snprintf (fn, sizeof fn, "%s", name? name: "");
            json_decref (content);
        }
        zpar_db_task_t task = {
            .msg_id = msg_id, .client = *session? session: NULL, .engine_uuid = uuid,
            .fn = *fn? fn: NULL, .submitted = *date? date: NULL, .engine_id = engine? engine->id: -1,
            .header = (const char *) data [3], .header_size = size [3],
            .metadata = (const char *) data [5], .metadata_size = size [5],
            .content = (const char *) data [6], .content_size = size [6]
        };
        zpar_hub_db_task (self->db, &task);
    }
    const char *recorded = NULL;       //  an answer's status, as the records took it
    if ((streq (topic, ZPAR_MON_OUT) || streq (topic, ZPAR_MON_FAIL))
    &&  zpar_json_scan_string (data [4], size [4], "msg_id", msg_id, sizeof msg_id) == 0)
        recorded = zpar_hub_db_answer (self->db, msg_id, uuid, engine? engine->id: -1,
                                       data [5], size [5], data [6], size [6]);
    if (!engine)
        return;
    if (streq (topic, ZPAR_MON_IN)) {
        self->routed++;
        s_engine_apply (self, engine, ZPAR_EV_TASK_IN, true);
        //  What it runs: its oldest call in flight, as far as the hub can
        //  tell (a pipelined engine may hold several).
        if (engine->queued == 1)
            snprintf (engine->current, sizeof engine->current, "%s", fn);
    }
    else
    if (streq (topic, ZPAR_MON_OUT) || streq (topic, ZPAR_MON_RETRY)) {
        //  Read from the bytes; parsed only when the scan gives up (escapes).
        char status [16] = "";
        if (recorded)
            snprintf (status, sizeof status, "%s", recorded);
        else
        if (zpar_json_scan_string (data [5], size [5], "status", status, sizeof status) != 0) {
            json_t *metadata = json_loadb ((const char *) data [5], size [5], 0, NULL);
            const char *said = json_string_value (json_object_get (metadata, "status"));
            snprintf (status, sizeof status, "%s", said? said: "");
            json_decref (metadata);
        }
        s_engine_apply (self, engine, ZPAR_EV_TASK_OUT, streq (status, "ok"));
        if (engine->queued == 0)
            engine->current [0] = 0;
    }
}

//  A scheduler's counters: [stats] [role] DELIM ... (scheduler_stats).
static void
s_hub_monitor_stats (s_hub_t *self, zmsg_t **raw_p)
{
    zpar_drop_t reason;
    zpar_msg_t *msg = zpar_msg_decode (raw_p, self->signer, self->config.max_message_size,
                                       ZPAR_MON_STATS, &reason);
    if (!msg) {
        zpar_drops_add (&self->drops, reason, "monitor");
        return;
    }
    char *topic = zpar_msg_routes (msg) == 2? zpar_part_strdup (zpar_msg_route (msg, 0)): NULL;
    char *role = topic? zpar_part_strdup (zpar_msg_route (msg, 1)): NULL;
    int index = role? s_role_index (role): -1;
    json_t *dropped = json_object_get (zpar_msg_content (msg), "dropped");
    if (!topic || !streq (topic, ZPAR_MON_STATS) || !streq (zpar_msg_type (msg), "scheduler_stats"))
        zpar_drops_add (&self->drops, ZPAR_DROP_UNKNOWN_TYPE, "monitor");
    else
    if (index < 0 || !json_is_object (dropped))
        zpar_drops_add (&self->drops, ZPAR_DROP_MALFORMED, "monitor");
    else {
        json_decref (self->roles [index].dropped);
        self->roles [index].dropped = json_incref (dropped);
        json_t *unassigned = json_object_get (zpar_msg_content (msg), "unassigned");
        if (json_is_integer (unassigned))
            self->roles [index].unassigned = json_integer_value (unassigned);
    }
    free (topic);
    free (role);
    zpar_msg_destroy (&msg);
}
