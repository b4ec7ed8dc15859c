/*  zpar_task.c - the task role's balancing: schemes, the high-water mark,
    targets, after/follow dependencies, retries and timeouts.

    A task (one apply_request) waits until its dependencies are met and an
    engine may take it, runs on that engine, and ends with the reply that
    goes to its client. Its metadata may hold:

        retries  N                    run again elsewhere after a failure or
                                      an engine's death, N times at most
        timeout  S                    fail with TaskTimeout unless started
                                      within S seconds
        after    DEP                  start only once DEP is met
        follow   DEP                  same, and on the engine(s) DEP ran on
        targets  [ids]                only on these engines

    where DEP is a list of msg_ids, or {"msg_ids": [...], "all": true,
    "success": true, "failure": false}: met when all (or, with all false,
    any) of the tasks ended the way asked for. A dependency that can no
    longer be met fails the task with ImpossibleDependency (so does one
    whose outcome was forgotten while the task waited); an msg_id this
    role never saw fails it with InvalidDependency. The timeout counts
    until the task first starts.                                         */

#include "zpar_sched_int.h"

#include "zpar_log.h"
#include "zpar_util.h"

//  Tasks whose outcome is remembered for dependencies; older ones are
//  forgotten (a dependency on them is then invalid).
#define S_OUTCOMES_MAX 100000

typedef struct {
    char *uuid;
    int id;
    bool registered;            //  the hub announced it
    bool connected;             //  it said hello on this role's socket
    int outstanding;            //  tasks sent and not answered
    uint64_t last_used;         //  dispatch order
} s_worker_t;

typedef struct {
    json_t *ids;                //  msg_ids, NULL when none
    bool all, success, failure;
} s_dep_t;

typedef struct {
    zpar_msg_t *request;        //  as the client sent it, routed [client]; kept
                                //  after dispatch only for a retry
    zframe_t *header;           //  its header, to answer it with an error
    zframe_t *client;           //  its client's routing id
    char *msg_id;
    int retries;                //  left
    int attempts;
    int64_t deadline;           //  must start by then (monotonic ms), 0: no limit
    s_dep_t after, follow;
    json_t *targets;            //  engine ids, NULL: any
    zlistx_t *failed_on;        //  uuids of engines it failed on
    char *worker;               //  while it runs
} s_job_t;

typedef struct {
    bool ok;
    char *engine;
} s_outcome_t;

struct _zpar_task_t {
    zpar_role_t *role;
    zhashx_t *workers;          //  uuid -> s_worker_t
    zlistx_t *waiting;          //  s_job_t, in arrival order
    zhashx_t *running;          //  msg_id -> s_job_t
    zhashx_t *known;            //  msg_id -> s_job_t, waiting or running
    zhashx_t *outcomes;         //  msg_id -> s_outcome_t
    zlistx_t *outcome_order;    //  msg_ids, oldest first
    uint64_t dispatched;
    int highest_id;             //  of the engines the hub announced: ids below
                                //  it that are not here are gone for good
    int64_t next_deadline;
    bool scheduling, again;     //  see s_task_schedule
};

typedef enum { S_DEP_MET, S_DEP_WAIT, S_DEP_IMPOSSIBLE } s_dep_state_t;

static void s_task_schedule (zpar_task_t *self);
static void s_task_fail (zpar_task_t *self, s_job_t *job, const char *engine, int engine_id,
                         const char *ename, const char *format, ...) __attribute__ ((format (printf, 6, 7)));

static void
s_worker_free (void **item)
{
    s_worker_t *worker = *item;
    if (worker) {
        free (worker->uuid);
        free (worker);
        *item = NULL;
    }
}

static void
s_job_destroy (s_job_t **job_p)
{
    s_job_t *job = *job_p;
    if (!job)
        return;
    zpar_msg_destroy (&job->request);
    zframe_destroy (&job->header);
    zframe_destroy (&job->client);
    free (job->msg_id);
    json_decref (job->after.ids);
    json_decref (job->follow.ids);
    json_decref (job->targets);
    zlistx_destroy (&job->failed_on);
    free (job->worker);
    free (job);
    *job_p = NULL;
}

static void
s_outcome_free (void **item)
{
    s_outcome_t *outcome = *item;
    if (outcome) {
        free (outcome->engine);
        free (outcome);
        *item = NULL;
    }
}

zpar_task_t *
zpar_task_new (zpar_role_t *role)
{
    zpar_task_t *self = calloc (1, sizeof *self);
    self->role = role;
    self->highest_id = -1;
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->waiting = zlistx_new ();
    self->running = zhashx_new ();
    self->known = zhashx_new ();
    self->outcomes = zhashx_new ();
    zhashx_set_destructor (self->outcomes, s_outcome_free);
    self->outcome_order = zlistx_new ();
    zlistx_set_destructor (self->outcome_order, (czmq_destructor *) zstr_free);
    self->next_deadline = INT64_MAX;
    return self;
}

void
zpar_task_destroy (zpar_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_task_t *self = *self_p;
    //  Each job is in waiting or in running, once.
    for (s_job_t *job = zlistx_first (self->waiting); job; job = zlistx_next (self->waiting))
        s_job_destroy (&job);
    for (s_job_t *job = zhashx_first (self->running); job; job = zhashx_next (self->running))
        s_job_destroy (&job);
    zlistx_destroy (&self->waiting);
    zhashx_destroy (&self->running);
    zhashx_destroy (&self->known);
    zhashx_destroy (&self->outcomes);
    zlistx_destroy (&self->outcome_order);
    zhashx_destroy (&self->workers);
    free (self);
    *self_p = NULL;
}

//  -- engines -------------------------------------------------------------

void
zpar_task_engine_up (zpar_task_t *self, const char *uuid, int id, bool registered, bool connected)
{
    s_worker_t *worker = zhashx_lookup (self->workers, uuid);
    if (!worker) {
        worker = calloc (1, sizeof *worker);
        worker->uuid = strdup (uuid);
        zhashx_insert (self->workers, uuid, worker);
    }
    worker->id = id;
    worker->registered |= registered;
    if (registered && id > self->highest_id)
        self->highest_id = id;
    worker->connected |= connected;
    s_task_schedule (self);
}

//  -- outcomes ------------------------------------------------------------

static void
s_task_remember (zpar_task_t *self, const char *msg_id, bool ok, const char *engine)
{
    if (zhashx_lookup (self->outcomes, msg_id))
        return;
    if (zlistx_size (self->outcome_order) >= S_OUTCOMES_MAX) {
        char *oldest = zlistx_first (self->outcome_order);
        zhashx_delete (self->outcomes, oldest);
        zlistx_delete (self->outcome_order, zlistx_cursor (self->outcome_order));
    }
    s_outcome_t *outcome = calloc (1, sizeof *outcome);
    outcome->ok = ok;
    outcome->engine = strdup (engine? engine: "");
    zhashx_insert (self->outcomes, msg_id, outcome);
    zlistx_add_end (self->outcome_order, strdup (msg_id));
}

//  Ends a job: remembered, forgotten as a task, freed.
static void
s_task_end (zpar_task_t *self, s_job_t **job_p, bool ok, const char *engine)
{
    s_job_t *job = *job_p;
    s_task_remember (self, job->msg_id, ok, engine);
    zhashx_delete (self->known, job->msg_id);
    zhashx_delete (self->running, job->msg_id);
    s_job_destroy (job_p);
}

//  Answers the job's client with an error and ends the job (which must be
//  neither waiting nor running any more).
static void
s_task_fail (zpar_task_t *self, s_job_t *job, const char *engine, int engine_id,
             const char *ename, const char *format, ...)
{
    char evalue [512];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    json_t *header = json_loadb ((const char *) zframe_data (job->header), zframe_size (job->header), 0, NULL);
    zpar_role_fail (self->role, header, job->client, engine? engine: "", engine_id, ename, evalue);
    json_decref (header);
    s_task_end (self, &job, false, engine);
}

//  -- submission ----------------------------------------------------------

//  Reads a dependency from metadata; false when it is malformed.
static bool
s_dep_read (json_t *value, s_dep_t *dep)
{
    *dep = (s_dep_t) { .ids = NULL, .all = true, .success = true, .failure = false };
    if (!value || json_is_null (value))
        return true;
    json_t *ids = json_is_array (value)? value: json_object_get (value, "msg_ids");
    if (!json_is_array (ids))
        return false;
    if (json_is_object (value)) {
        json_t *all = json_object_get (value, "all");
        json_t *success = json_object_get (value, "success");
        json_t *failure = json_object_get (value, "failure");
        if ((all && !json_is_boolean (all)) || (success && !json_is_boolean (success))
        ||  (failure && !json_is_boolean (failure)))
            return false;
        if (all)
            dep->all = json_is_true (all);
        if (success)
            dep->success = json_is_true (success);
        if (failure)
            dep->failure = json_is_true (failure);
    }
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
        if (!json_is_string (id))
            return false;
    if (json_array_size (ids))
        dep->ids = json_incref (ids);
    return true;
}

//  A msg_id this role has seen (waiting, running or ended)?
static bool
s_task_knows (zpar_task_t *self, const char *msg_id)
{
    return zhashx_lookup (self->known, msg_id) || zhashx_lookup (self->outcomes, msg_id);
}

void
zpar_task_submit (zpar_task_t *self, zpar_msg_t **msg_p)
{
    zpar_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (s_task_knows (self, zpar_msg_id (msg))) {
        //  The same msg_id twice from a key holder: refuse the second.
        zpar_drops_add (&self->role->drops, ZPAR_DROP_MALFORMED, "client socket");
        zpar_msg_destroy (&msg);
        return;
    }
    s_job_t *job = calloc (1, sizeof *job);
    job->request = msg;
    job->header = zframe_dup (zpar_msg_frame (msg, ZPAR_FRAME_HEADER));
    job->client = zframe_dup (zpar_msg_route (msg, 0));
    job->msg_id = strdup (zpar_msg_id (msg));
    job->failed_on = zlistx_new ();
    zlistx_set_destructor (job->failed_on, (czmq_destructor *) zstr_free);
    zhashx_insert (self->known, job->msg_id, job);

    //  Most tasks carry no flags: "{}" needs no parse.
    zframe_t *raw = zpar_msg_frame (msg, ZPAR_FRAME_METADATA);
    json_t *metadata = raw && zframe_streq (raw, "{}")? NULL: zpar_msg_metadata (msg);
    json_t *retries = json_object_get (metadata, "retries");
    json_t *timeout = json_object_get (metadata, "timeout");
    json_t *targets = json_object_get (metadata, "targets");
    const char *bad = NULL;
    if (!metadata && !(raw && zframe_streq (raw, "{}")))
        bad = "metadata must be a JSON object";
    else
    if (retries && !json_is_null (retries) && (!json_is_integer (retries) || json_integer_value (retries) < 0
                    || json_integer_value (retries) > 1000))
        bad = "retries must be an integer from 0 to 1000";
    else
    if (timeout && !json_is_null (timeout) && (!json_is_number (timeout) || json_number_value (timeout) <= 0))
        bad = "timeout must be a number of seconds above 0";
    else
    if (targets && !json_is_null (targets) && !json_is_array (targets))
        bad = "targets must be a list of engine ids";
    else
    if (!s_dep_read (json_object_get (metadata, "after"), &job->after)
    ||  !s_dep_read (json_object_get (metadata, "follow"), &job->follow))
        bad = "after and follow must be lists of msg_ids, or {msg_ids, all, success, failure}";
    if (bad) {
        s_task_fail (self, job, NULL, -1, ZPAR_E_VALUE, "%s", bad);
        return;
    }
    size_t i;
    json_t *id;
    json_array_foreach (targets, i, id)
        if (!json_is_integer (id)) {
            s_task_fail (self, job, NULL, -1, ZPAR_E_VALUE, "targets must be a list of engine ids");
            return;
        }
    job->retries = json_is_integer (retries)? (int) json_integer_value (retries): 0;
    job->targets = json_is_array (targets)? json_incref (targets): NULL;
    if (json_is_number (timeout)) {
        job->deadline = zpar_mono_ms () + (int64_t) (json_number_value (timeout) * 1000);
        if (job->deadline < self->next_deadline)
            self->next_deadline = job->deadline;
    }
    s_dep_t *deps [] = { &job->after, &job->follow };
    for (int d = 0; d < 2; d++)
        json_array_foreach (deps [d]->ids, i, id)
            if (!s_task_knows (self, json_string_value (id))) {
                s_task_fail (self, job, NULL, -1, "InvalidDependency",
                             "%s depends on %s, a task this scheduler does not know",
                             job->msg_id, json_string_value (id));
                return;
            }
    zlistx_add_end (self->waiting, job);
    s_task_schedule (self);
}

//  -- dependencies --------------------------------------------------------

//  Where a met follow dependency says the job must run (engine uuids the
//  satisfying tasks ran on) is collected into engines when not NULL.
static s_dep_state_t
s_dep_state (zpar_task_t *self, s_dep_t *dep, zlistx_t *engines)
{
    if (!dep->ids)
        return S_DEP_MET;
    size_t total = json_array_size (dep->ids), good = 0, bad = 0, i;
    json_t *id;
    json_array_foreach (dep->ids, i, id) {
        s_outcome_t *outcome = zhashx_lookup (self->outcomes, json_string_value (id));
        if (!outcome && !zhashx_lookup (self->known, json_string_value (id)))
            return S_DEP_IMPOSSIBLE;    //  its outcome was forgotten
        if (!outcome)
            continue;                   //  not finished
        if ((outcome->ok && dep->success) || (!outcome->ok && dep->failure)) {
            good++;
            if (engines && *outcome->engine)
                zlistx_add_end (engines, outcome->engine);
        }
        else
            bad++;
    }
    if (dep->all)
        return bad? S_DEP_IMPOSSIBLE: good == total? S_DEP_MET: S_DEP_WAIT;
    return good? S_DEP_MET: bad == total? S_DEP_IMPOSSIBLE: S_DEP_WAIT;
}

//  -- dispatching ---------------------------------------------------------

static bool
s_in_list (zlistx_t *list, const char *uuid)
{
    for (const char *item = zlistx_first (list); item; item = zlistx_next (list))
        if (streq (item, uuid))
            return true;
    return false;
}

static bool
s_targeted (json_t *targets, int id)
{
    if (!targets)
        return true;
    size_t i;
    json_t *target;
    json_array_foreach (targets, i, target)
        if (json_integer_value (target) == id)
            return true;
    return false;
}

//  None of the job's targets can ever take it: each one is known to the
//  hub and gone. A target the hub has not announced may yet register.
static bool
s_targets_gone (zpar_task_t *self, s_job_t *job)
{
    size_t i;
    json_t *target;
    json_array_foreach (job->targets, i, target)
        if (json_integer_value (target) > self->highest_id)
            return false;
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (s_targeted (job->targets, worker->id))
            return false;
    return true;
}

//  An engine for the job, by the role's scheme among those that may take
//  it: connected, under the high-water mark, targeted, where follow says,
//  and not one it failed on, unless it failed on every engine there is.
//  NULL when none is free now.
static s_worker_t *
s_task_pick (zpar_task_t *self, s_job_t *job, zlistx_t *follow_engines)
{
    size_t count = zhashx_size (self->workers);
    if (!count)
        return NULL;
    s_worker_t *eligible [count];
    zpar_candidate_t candidates [count];
    size_t n = 0;
    int hwm = self->role->config.hwm;
    bool untried = false;               //  an engine it did not fail on exists
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (worker->registered && worker->connected && s_targeted (job->targets, worker->id)
        &&  (!job->follow.ids || s_in_list (follow_engines, worker->uuid))
        &&  !s_in_list (job->failed_on, worker->uuid))
            untried = true;
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers)) {
        if (!worker->registered || !worker->connected
        ||  (hwm > 0 && worker->outstanding >= hwm)
        ||  !s_targeted (job->targets, worker->id)
        ||  (job->follow.ids && !s_in_list (follow_engines, worker->uuid))
        ||  (untried && s_in_list (job->failed_on, worker->uuid)))
            continue;
        eligible [n] = worker;
        candidates [n++] = (zpar_candidate_t) { worker->outstanding, worker->last_used };
    }
    return n? eligible [zpar_scheme_pick ((zpar_scheme_t) self->role->config.scheme, candidates, n)]: NULL;
}

static void
s_task_dispatch (zpar_task_t *self, s_job_t *job, s_worker_t *worker)
{
    //  The request itself goes, unless a retry may need it again.
    zpar_msg_t *msg = job->retries > 0? zpar_msg_dup (job->request): job->request;
    if (msg == job->request)
        job->request = NULL;
    if (++job->attempts > 1) {
        //  A new attempt is a new message: its own signature, so that no
        //  engine takes it for a replay of the first.
        json_t *metadata = json_deep_copy (zpar_msg_metadata (msg));
        json_object_set_new (metadata, "attempt", json_integer (job->attempts));
        zpar_msg_set_metadata (msg, metadata);
    }
    zpar_msg_push_route (msg, worker->uuid, strlen (worker->uuid));
    size_t mark = zpar_role_monitor (self->role, ZPAR_MON_IN, worker->uuid, job->client, msg);
    job->worker = strdup (worker->uuid);
    job->deadline = 0;                  //  it started: its timeout is met
    zhashx_insert (self->running, job->msg_id, job);
    worker->outstanding++;
    worker->last_used = ++self->dispatched;
    if (zpar_role_send (self->role, &msg, self->role->back, mark) != 0) {
        //  The engine's connection went away under us: it is lost.
        worker->connected = false;
        zpar_task_engine_down (self, worker->uuid, "connection lost");
    }
}

//  Dispatches every waiting job that can go now, in arrival order; fails
//  those whose dependencies can no longer be met. Re-entrant: a call made
//  while one runs (an engine lost during a dispatch) makes it run again.
static void
s_task_schedule (zpar_task_t *self)
{
    if (self->scheduling) {
        self->again = true;
        return;
    }
    self->scheduling = true;
    zlistx_t *engines = zlistx_new ();
    do {
        self->again = false;
        //  Detaching the current job moves the cursor back one, so the
        //  walk goes on with the job after it.
        for (s_job_t *job = zlistx_first (self->waiting); job; job = zlistx_next (self->waiting)) {
            void *handle = zlistx_cursor (self->waiting);
            zlistx_purge (engines);
            s_dep_state_t after = s_dep_state (self, &job->after, NULL);
            s_dep_state_t follow = s_dep_state (self, &job->follow, engines);
            if (after == S_DEP_WAIT || follow == S_DEP_WAIT)
                continue;
            const char *impossible = NULL;
            if (after == S_DEP_IMPOSSIBLE || follow == S_DEP_IMPOSSIBLE)
                impossible = "a dependency of %s ended in a way that cannot meet it";
            else
            if (job->follow.ids && job->follow.all) {
                //  All needed, on one engine: they must have run on one.
                const char *first = zlistx_first (engines);
                for (const char *other = first; other; other = zlistx_next (engines))
                    if (!streq (other, first))
                        impossible = "%s follows tasks that ran on different engines";
            }
            if (!impossible && job->targets && s_targets_gone (self, job))
                impossible = "every engine %s targets is gone";
            if (!impossible && job->follow.ids) {
                bool there = false;
                for (const char *uuid = zlistx_first (engines); uuid; uuid = zlistx_next (engines))
                    there |= zhashx_lookup (self->workers, uuid) != NULL;
                if (!there)
                    impossible = "%s follows tasks whose engine is gone";
            }
            if (impossible) {
                zlistx_detach (self->waiting, handle);
                s_task_fail (self, job, NULL, -1, "ImpossibleDependency", impossible, job->msg_id);
                continue;
            }
            s_worker_t *worker = s_task_pick (self, job, engines);
            if (worker) {
                zlistx_detach (self->waiting, handle);
                s_task_dispatch (self, job, worker);
            }
            else
            if (!job->targets && !job->follow.ids && !zlistx_size (job->failed_on))
                break;                  //  no engine has room: nor for those behind
        }
    } while (self->again);
    zlistx_destroy (&engines);
    self->scheduling = false;
}

//  -- replies and departures ----------------------------------------------

//  Back to the front of the queue for another attempt.
static void
s_task_retry (zpar_task_t *self, s_job_t *job, const char *engine)
{
    zhashx_delete (self->running, job->msg_id);
    zlistx_add_end (job->failed_on, strdup (engine));
    free (job->worker);
    job->worker = NULL;
    job->retries--;
    zlistx_add_start (self->waiting, job);
}

zpar_task_verdict_t
zpar_task_reply (zpar_task_t *self, zpar_msg_t *reply, const char *engine)
{
    const char *parent = zpar_msg_parent_id (reply);
    s_job_t *job = parent? zhashx_lookup (self->running, parent): NULL;
    if (!job || !streq (job->worker, engine)) {
        //  Already answered (its engine was declared dead): the client
        //  has its answer and must not get a second one.
        zpar_debug ("late reply from %s dropped", engine);
        return ZPAR_TASK_LATE;
    }
    s_worker_t *worker = zhashx_lookup (self->workers, engine);
    if (worker && worker->outstanding > 0)
        worker->outstanding--;
    const char *status = zpar_msg_status (reply);
    bool ok = status && streq (status, "ok");
    zpar_task_verdict_t verdict = ZPAR_TASK_FORWARD;
    if (!ok && job->retries > 0 && !(status && streq (status, "aborted"))) {
        zpar_info ("task %s failed on engine %d; %d retries left", job->msg_id,
                   worker? worker->id: -1, job->retries - 1);
        s_task_retry (self, job, engine);
        verdict = ZPAR_TASK_RETRY;
    }
    else
        s_task_end (self, &job, ok, engine);
    s_task_schedule (self);
    return verdict;
}

void
zpar_task_engine_down (zpar_task_t *self, const char *uuid, const char *why)
{
    s_worker_t *worker = zhashx_lookup (self->workers, uuid);
    int id = worker? worker->id: -1;
    zlistx_t *lost = zlistx_new ();
    for (s_job_t *job = zhashx_first (self->running); job; job = zhashx_next (self->running))
        if (streq (job->worker, uuid))
            zlistx_add_end (lost, job);
    for (s_job_t *job = zlistx_first (lost); job; job = zlistx_next (lost)) {
        if (job->retries > 0) {
            zpar_info ("engine %d lost task %s (%s); %d retries left", id, job->msg_id, why,
                       job->retries - 1);
            s_task_retry (self, job, uuid);
        }
        else {
            zhashx_delete (self->running, job->msg_id);
            s_task_fail (self, job, uuid, id, ZPAR_E_ENGINE,
                         "engine %d died while running the task (%s)", id, why);
        }
    }
    zlistx_destroy (&lost);
    zhashx_delete (self->workers, uuid);
    s_task_schedule (self);
}

int64_t
zpar_task_tick (zpar_task_t *self, int64_t now)
{
    if (now < self->next_deadline)
        return self->next_deadline;
    self->next_deadline = INT64_MAX;
    for (s_job_t *job = zlistx_first (self->waiting); job; job = zlistx_next (self->waiting)) {
        if (job->deadline && job->deadline <= now) {
            zlistx_detach (self->waiting, zlistx_cursor (self->waiting));
            s_task_fail (self, job, NULL, -1, "TaskTimeout",
                         "%s did not start within its timeout", job->msg_id);
        }
        else
        if (job->deadline && job->deadline < self->next_deadline)
            self->next_deadline = job->deadline;
    }
    return self->next_deadline;
}
