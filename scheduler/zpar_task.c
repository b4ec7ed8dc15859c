/*  zpar_task.c - the task role's balancing: schemes, the high-water mark,
    targets, after/follow dependencies, retries and timeouts.

    A task (one apply_request) is blocked until its dependencies are
    decided, ready until an engine may take it, then runs on that engine
    and ends with the reply that goes to its client. Its metadata may hold:

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
    longer be met fails the task with ImpossibleDependency, and so do
    targets or follow engines that have all gone. An msg_id this role does
    not know (never seen, or its outcome forgotten: the last 100,000 are
    remembered), or the task's own, fails it with InvalidDependency. The
    timeout counts until the task first starts.

    What it costs. An outcome reaches the tasks waiting on it through an
    index, once per msg_id they name. Ready tasks are numbered in the
    order they became ready (a retry goes before all) and wait in one of
    two kinds of queue: plain tasks (no targets, follow or past failure)
    in one FIFO, restricted ones in a queue per engine they may use. No
    ready task may use an engine with room: each is tried when it becomes
    ready, and each slot that frees up goes to the lower-numbered of the
    plain FIFO's head and that engine's queue's head. Those queues are
    rebuilt only when the set of engines changes.                       */

#include "zpar_sched_int.h"

#include "zpar_log.h"
#include "zpar_table.h"
#include "zpar_util.h"

#define S_OUTCOMES_MAX 100000
#define S_SUSPEND_MS   1000     //  an engine found unreachable rests this long
#define S_WALLTIME_REST_MS 10000    //  an engine past a walltime gets nothing this long

typedef struct {
    char *uuid;
    int id;
    bool registered;            //  the hub announced it
    bool connected;             //  it said hello on this role's socket
    int64_t suspended_until;    //  a send found it gone (monotonic ms), 0: not
    int outstanding;            //  tasks sent and not answered
    uint64_t last_used;         //  dispatch order
    zlistx_t *queue;            //  restricted ready s_job_t that may run here,
                                //  by number
} s_worker_t;

typedef struct {
    json_t *ids;                //  msg_ids, NULL when none
    bool all, success, failure;
    size_t good, bad;           //  of the ids decided so far
} s_dep_t;

typedef enum { S_BLOCKED, S_READY, S_RUNNING } s_state_t;

typedef struct {
    zpar_msg_t *request;        //  as the client sent it, routed [client]; kept
                                //  after dispatch only for a retry
    const char *header;         //  its header (in text), to answer it with an error
    size_t header_size;
    zmq_msg_t client;           //  its client's routing id
    char *msg_id;               //  in text too
    s_state_t state;
    int64_t number;             //  ready order
    void *handle;               //  in the plain or restricted list, while ready
    zlistx_t *entries;          //  s_entry_t: where it is in engines' queues
    int retries;                //  left
    int attempts;
    int64_t deadline;           //  must start (ready) or end (running) by then
                                //  (monotonic ms), 0: no limit
    long long timeout_ms;
    long long walltime_ms;      //  may run this long, 0: no limit
    zlistx_t *timers;           //  the timer list it is in, while it has one
    void *timer;                //  its handle there
    s_dep_t after, follow;
    zlistx_t *follow_engines;   //  uuids the met follow tasks ran on
    json_t *targets;            //  engine ids, NULL: any
    zlistx_t *failed_on;        //  uuids of engines it failed on
    int deaths;                 //  engines that died while running it
    char *worker;               //  while it runs
    char text [];               //  the header, then the msg_id: one allocation
} s_job_t;

//  A restricted job's place in one engine's queue.
typedef struct {
    zlistx_t *queue;
    void *handle;
} s_entry_t;

//  One allocation: the msg_id (its key in outcomes) and engine follow it.
typedef struct {
    bool ok;
    const char *msg_id;
    const char *engine;
    char text [];
} s_outcome_t;

//  A task waiting for msg_id (the key it is filed under).
typedef struct {
    char *msg_id;               //  of the waiting task
    bool follow;                //  in its follow, else in its after
} s_link_t;

//  An outcome not yet passed on to the tasks waiting for it.
typedef struct {
    char *msg_id;
    char *engine;
    bool ok;
} s_settled_t;

struct _zpar_task_t {
    zpar_role_t *role;
    zhashx_t *workers;          //  uuid -> s_worker_t
    zhashx_t *announced;        //  engine ids the hub announced ("%d")
    zpar_table_t *known;        //  msg_id -> s_job_t (owned), in any state
    zlistx_t *plain;            //  ready s_job_t any engine may take, by number
    zlistx_t *restricted;       //  the other ready s_job_t, by number
    int64_t last_number, first_number;
    size_t running;             //  jobs in state S_RUNNING (found through known)
    zpar_table_t *outcomes;     //  msg_id -> s_outcome_t (owned)
    s_outcome_t **outcome_ring; //  S_OUTCOMES_MAX, oldest at outcome_next once full
    size_t outcome_next, outcome_count;
    zhashx_t *dependents;       //  msg_id -> zlistx_t of s_link_t
    zhashx_t *timers;           //  timeout in ms ("%lld") -> zlistx_t of
                                //  s_job_t, by deadline (one timeout each)
    int64_t next_due;           //  no timer or rest ends before this
    zlistx_t *settled;          //  s_settled_t, oldest first
    bool settling;
    uint64_t dispatched;
};

typedef enum { S_DEP_MET, S_DEP_WAIT, S_DEP_IMPOSSIBLE } s_dep_state_t;

static void s_task_fail (zpar_task_t *self, s_job_t *job, const char *engine, int engine_id,
                         const char *ename, const char *format, ...) __attribute__ ((format (printf, 6, 7)));

//  -- life of the structures ----------------------------------------------

static void
s_worker_free (void **item)
{
    s_worker_t *worker = *item;
    if (worker) {
        zlistx_destroy (&worker->queue);
        free (worker->uuid);
        free (worker);
        *item = NULL;
    }
}

static void
s_job_free (void **item)
{
    s_job_t *job = *item;
    if (!job)
        return;
    zpar_msg_destroy (&job->request);
    zmq_msg_close (&job->client);
    zlistx_destroy (&job->entries);
    json_decref (job->after.ids);
    json_decref (job->follow.ids);
    zlistx_destroy (&job->follow_engines);
    json_decref (job->targets);
    zlistx_destroy (&job->failed_on);
    free (job->worker);
    free (job);
    *item = NULL;
}

static void
s_link_free (void **item)
{
    s_link_t *link = *item;
    if (link) {
        free (link->msg_id);
        free (link);
        *item = NULL;
    }
}

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_list_free (void **item)
{
    zlistx_destroy ((zlistx_t **) item);
}

static void
s_settled_free (void **item)
{
    s_settled_t *settled = *item;
    if (settled) {
        free (settled->msg_id);
        free (settled->engine);
        free (settled);
        *item = NULL;
    }
}

static int
s_number_compare (const void *a, const void *b)
{
    int64_t x = ((const s_job_t *) a)->number, y = ((const s_job_t *) b)->number;
    return x < y? -1: x > y;
}

zpar_task_t *
zpar_task_new (zpar_role_t *role)
{
    zpar_task_t *self = calloc (1, sizeof *self);
    self->role = role;
    self->workers = zhashx_new ();
    zhashx_set_destructor (self->workers, s_worker_free);
    self->announced = zhashx_new ();
    //  Jobs and outcomes are filed under their own msg_id: no key copies.
    self->known = zpar_table_new (s_job_free);
    self->plain = zlistx_new ();
    self->restricted = zlistx_new ();
    self->outcomes = zpar_table_new (s_free);
    self->outcome_ring = calloc (S_OUTCOMES_MAX, sizeof *self->outcome_ring);
    self->dependents = zhashx_new ();
    zhashx_set_destructor (self->dependents, s_list_free);
    self->timers = zhashx_new ();
    zhashx_set_destructor (self->timers, s_list_free);
    self->next_due = INT64_MAX;
    self->settled = zlistx_new ();
    zlistx_set_destructor (self->settled, s_settled_free);
    return self;
}

void
zpar_task_destroy (zpar_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zpar_task_t *self = *self_p;
    zlistx_destroy (&self->plain);
    zlistx_destroy (&self->restricted);
    zhashx_destroy (&self->timers);
    zhashx_destroy (&self->workers);
    zpar_table_destroy (&self->known);
    zhashx_destroy (&self->announced);
    zpar_table_destroy (&self->outcomes);
    free (self->outcome_ring);
    zhashx_destroy (&self->dependents);
    zlistx_destroy (&self->settled);
    free (self);
    *self_p = NULL;
}

//  -- small helpers ---------------------------------------------------------

//  uuid in list (which may not exist yet)?
static bool
s_in_list (zlistx_t *list, const char *uuid)
{
    for (const char *item = list? zlistx_first (list): NULL; item; item = zlistx_next (list))
        if (streq (item, uuid))
            return true;
    return false;
}

//  Adds a copy of text to *list_p, made on first use (most jobs never
//  need their lists), unless it is there already.
static void
s_add_string (zlistx_t **list_p, const char *text)
{
    if (!*list_p) {
        *list_p = zlistx_new ();
        zlistx_set_destructor (*list_p, (czmq_destructor *) zstr_free);
    }
    if (!s_in_list (*list_p, text))
        zlistx_add_end (*list_p, strdup (text));
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

static bool
s_announced (zpar_task_t *self, json_int_t id)
{
    char key [24];
    snprintf (key, sizeof key, "%lld", (long long) id);
    return zhashx_lookup (self->announced, key) != NULL;
}

//  -- which engine may take which job ----------------------------------------

static bool
s_usable (s_worker_t *worker)
{
    return worker->registered && worker->connected;
}

static bool
s_has_room (zpar_task_t *self, s_worker_t *worker)
{
    int hwm = self->role->config.hwm;
    return s_usable (worker) && !worker->suspended_until
        && (hwm <= 0 || worker->outstanding < hwm);
}

static bool
s_restricted (s_job_t *job)
{
    return job->targets || job->follow.ids || job->failed_on;
}

//  An engine the job may run on, room aside: targeted, where follow says.
static bool
s_allowed (s_job_t *job, s_worker_t *worker)
{
    return s_usable (worker) && s_targeted (job->targets, worker->id)
        && (!job->follow.ids || s_in_list (job->follow_engines, worker->uuid));
}

//  An allowed engine the job did not fail on exists: it goes there rather
//  than back to one it failed on.
static bool
s_untried (zpar_task_t *self, s_job_t *job)
{
    if (!job->failed_on)
        return false;
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (s_allowed (job, worker) && !s_in_list (job->failed_on, worker->uuid))
            return true;
    return false;
}

static bool
s_may_run (s_job_t *job, s_worker_t *worker, bool untried)
{
    return s_allowed (job, worker) && !(untried && s_in_list (job->failed_on, worker->uuid));
}

//  An engine with room for the job, by the role's scheme; NULL if none.
static s_worker_t *
s_task_pick (zpar_task_t *self, s_job_t *job)
{
    size_t count = zhashx_size (self->workers);
    if (!count)
        return NULL;
    s_worker_t *eligible [count];
    zpar_candidate_t candidates [count];
    size_t n = 0;
    bool untried = s_untried (self, job);
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (s_has_room (self, worker) && s_may_run (job, worker, untried)) {
            eligible [n] = worker;
            candidates [n++] = (zpar_candidate_t) { worker->outstanding, worker->last_used };
        }
    return n? eligible [zpar_scheme_pick ((zpar_scheme_t) self->role->config.scheme, candidates, n)]: NULL;
}

//  Why the job can never start on any engine there is or may be, or NULL.
//  A target the hub has not announced may still register; one it did
//  announce and that is gone does not count (IPython Parallel's rule,
//  even for an engine restarted later under the same id).
static const char *
s_unreachable (zpar_task_t *self, s_job_t *job)
{
    if (job->targets) {
        bool reachable = false;
        size_t i;
        json_t *target;
        json_array_foreach (job->targets, i, target)
            reachable |= !s_announced (self, json_integer_value (target));
        for (s_worker_t *worker = zhashx_first (self->workers); worker && !reachable;
             worker = zhashx_next (self->workers))
            reachable = s_targeted (job->targets, worker->id);
        if (!reachable)
            return "every engine %s targets is gone";
    }
    if (job->follow.ids && !job->follow_engines)
        return "%s follows tasks that ran on no engine";
    if (job->follow.ids) {
        //  All needed, on one engine: they must have run on one.
        if (job->follow.all && zlistx_size (job->follow_engines) > 1)
            return "%s follows tasks that ran on different engines";
        bool there = false;
        for (const char *uuid = zlistx_first (job->follow_engines); uuid && !there;
             uuid = zlistx_next (job->follow_engines))
            there = zhashx_lookup (self->workers, uuid) != NULL;
        if (!there)
            return "%s follows tasks whose engine is gone";
    }
    return NULL;
}

//  -- the ready queues --------------------------------------------------------

typedef enum { S_APPEND, S_SORTED_FROM_START, S_SORTED_FROM_END } s_place_t;

//  Files a restricted ready job in the queue of every engine it may run on.
static void
s_task_index (zpar_task_t *self, s_job_t *job, s_place_t place)
{
    if (!job->entries) {
        job->entries = zlistx_new ();
        zlistx_set_destructor (job->entries, s_free);
    }
    bool untried = s_untried (self, job);
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (s_may_run (job, worker, untried)) {
            s_entry_t *entry = malloc (sizeof *entry);
            entry->queue = worker->queue;
            entry->handle = place == S_APPEND? zlistx_add_end (worker->queue, job)
                          : zlistx_insert (worker->queue, job, place == S_SORTED_FROM_START);
            zlistx_add_end (job->entries, entry);
        }
}

//  Takes the job out of every engine's queue.
static void
s_task_unindex (s_job_t *job)
{
    for (s_entry_t *entry = job->entries? zlistx_first (job->entries): NULL; entry;
         entry = zlistx_next (job->entries))
        zlistx_detach (entry->queue, entry->handle);
    if (job->entries)
        zlistx_purge (job->entries);
}

//  The set of engines changed: every restricted job is filed again.
static void
s_task_reindex (zpar_task_t *self)
{
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        zlistx_purge (worker->queue);
    for (s_job_t *job = zlistx_first (self->restricted); job; job = zlistx_next (self->restricted)) {
        if (job->entries)
            zlistx_purge (job->entries);
        s_task_index (self, job, S_APPEND);
    }
}

//  Queues a job that became ready (a retry: first of all).
static void
s_task_enqueue (zpar_task_t *self, s_job_t *job, bool first)
{
    job->state = S_READY;
    job->number = first? --self->first_number: ++self->last_number;
    zlistx_t *list = s_restricted (job)? self->restricted: self->plain;
    job->handle = first? zlistx_add_start (list, job): zlistx_add_end (list, job);
    if (list == self->restricted)
        s_task_index (self, job, first? S_SORTED_FROM_START: S_APPEND);
}

//  Takes a ready job out of the queues.
static void
s_task_dequeue (zpar_task_t *self, s_job_t *job)
{
    zlistx_detach (s_restricted (job)? self->restricted: self->plain, job->handle);
    job->handle = NULL;
    s_task_unindex (job);
}

//  -- timers ------------------------------------------------------------------

//  Files the job's deadline under its timeout: one list per timeout, so
//  each list is in deadline order by simply appending.
static void
s_timer_add (zpar_task_t *self, s_job_t *job, long long timeout_ms)
{
    char key [24];
    snprintf (key, sizeof key, "%lld", timeout_ms);
    zlistx_t *list = zhashx_lookup (self->timers, key);
    if (!list) {
        list = zlistx_new ();
        zhashx_insert (self->timers, key, list);
    }
    job->timers = list;
    job->timer = zlistx_add_end (list, job);
    if (job->deadline < self->next_due)
        self->next_due = job->deadline;
}

static void
s_timer_remove (s_job_t *job)
{
    if (job->timers)
        zlistx_detach (job->timers, job->timer);
    job->timers = NULL;
    job->timer = NULL;
}

//  -- sending -----------------------------------------------------------------

//  Sends a ready job to worker. False when the engine's connection turned
//  out to be gone (it died and the hub has not said so yet): the job
//  stays ready and the engine rests S_SUSPEND_MS before it is tried again.
static bool
s_task_dispatch (zpar_task_t *self, s_job_t *job, s_worker_t *worker)
{
    //  The request itself goes, unless a retry may need it again.
    bool copy = job->retries > 0;
    zpar_msg_t *msg = copy? zpar_msg_dup (job->request): job->request;
    if (++job->attempts > 1) {
        //  A new attempt is a new message: its own signature, so that no
        //  engine takes it for a replay of the first.
        json_t *metadata = json_deep_copy (zpar_msg_metadata (msg));
        json_object_set_new (metadata, "attempt", json_integer (job->attempts));
        zpar_msg_set_metadata (msg, metadata);
    }
    zpar_msg_push_route (msg, worker->uuid, strlen (worker->uuid));
    size_t mark = zpar_role_monitor (self->role, ZPAR_MON_IN, worker->uuid, &job->client, msg);
    int rc = zpar_role_send_or_keep (self->role, &msg, self->role->back, mark);
    if (rc >= 0 && !copy)
        job->request = NULL;            //  gone with the message
    if (rc < 0) {
        zpar_warn ("engine %d cannot be reached: task %s waits for another", worker->id, job->msg_id);
        job->attempts--;
        if (copy)
            zpar_msg_destroy (&msg);
        else {
            zframe_t *route = zpar_msg_pop_route (msg);
            zframe_destroy (&route);
        }
        worker->suspended_until = zpar_mono_ms () + S_SUSPEND_MS;
        if (worker->suspended_until < self->next_due)
            self->next_due = worker->suspended_until;
        return false;
    }
    if (rc > 0) {
        //  Half sent: only when the context is ending.
        s_task_fail (self, job, NULL, -1, ZPAR_E_ENGINE, "%s could not be sent", job->msg_id);
        return true;
    }
    s_task_dequeue (self, job);
    s_timer_remove (job);
    job->state = S_RUNNING;
    job->worker = strdup (worker->uuid);
    job->deadline = 0;                  //  it started: its timeout is met
    self->running++;
    if (job->walltime_ms) {
        //  The engine ends itself a second after this (see zpar_heart.c),
        //  so the task's answer is TaskTimeout, not the engine's death.
        job->deadline = zpar_mono_ms () + job->walltime_ms;
        s_timer_add (self, job, job->walltime_ms);
    }
    worker->outstanding++;
    worker->last_used = ++self->dispatched;
    return true;
}

//  Sends a ready job where its scheme says, if any engine may take it now;
//  fails it if none ever can.
static void
s_task_try (zpar_task_t *self, s_job_t *job)
{
    const char *why = s_unreachable (self, job);
    if (why) {
        s_task_fail (self, job, NULL, -1, "ImpossibleDependency", why, job->msg_id);
        return;
    }
    s_worker_t *worker;
    while ((worker = s_task_pick (self, job)) && !s_task_dispatch (self, job, worker))
        ;                               //  that one was gone: the next
}

//  Gives worker's room to the ready jobs that may use it, lowest number
//  first: the head of the plain FIFO or of the engine's own queue.
static void
s_task_fill (zpar_task_t *self, s_worker_t *worker)
{
    while (s_has_room (self, worker)) {
        s_job_t *plain = zlistx_first (self->plain);
        s_job_t *restricted = zlistx_first (worker->queue);
        s_job_t *job = !plain? restricted: !restricted? plain
                     : restricted->number < plain->number? restricted: plain;
        if (!job || !s_task_dispatch (self, job, worker))
            break;
    }
}

//  The set of engines shrank: restricted jobs are filed again, and each is
//  tried (some can never run now, others may go back to engines they
//  failed on). Plain jobs lose nothing.
static void
s_task_sweep (zpar_task_t *self)
{
    s_task_reindex (self);
    zlistx_t *jobs = zlistx_dup (self->restricted);
    for (s_job_t *job = zlistx_first (jobs); job; job = zlistx_next (jobs))
        s_task_try (self, job);
    zlistx_destroy (&jobs);
}

//  -- outcomes and dependencies -------------------------------------------

static void
s_task_remember (zpar_task_t *self, const char *msg_id, bool ok, const char *engine)
{
    engine = engine? engine: "";
    size_t id_size = strlen (msg_id) + 1, engine_size = strlen (engine) + 1;
    s_outcome_t *outcome = malloc (sizeof *outcome + id_size + engine_size);
    if (!outcome)
        return;
    memcpy (outcome->text, msg_id, id_size);
    memcpy (outcome->text + id_size, engine, engine_size);
    outcome->ok = ok;
    outcome->msg_id = outcome->text;
    outcome->engine = outcome->text + id_size;
    //  Remembered once: the insert says when it is there already (one
    //  probe, where a lookup first would be two).
    if (zpar_table_insert (self->outcomes, outcome->msg_id, outcome) != 0) {
        free (outcome);
        return;
    }
    if (self->outcome_count == S_OUTCOMES_MAX) {
        s_outcome_t *oldest = self->outcome_ring [self->outcome_next];
        zpar_table_delete (self->outcomes, oldest->msg_id);     //  frees it
    }
    else
        self->outcome_count++;
    self->outcome_ring [self->outcome_next] = outcome;
    self->outcome_next = (self->outcome_next + 1) % S_OUTCOMES_MAX;
}

//  Ends a job, whatever its state: remembered, its outcome queued for the
//  tasks waiting on it (see s_task_settle), freed.
static void
s_task_end (zpar_task_t *self, s_job_t *job, bool ok, const char *engine)
{
    s_task_remember (self, job->msg_id, ok, engine);
    //  Most tasks have no one waiting on them.
    if (zhashx_size (self->dependents) && zhashx_lookup (self->dependents, job->msg_id)) {
        s_settled_t *settled = calloc (1, sizeof *settled);
        settled->msg_id = strdup (job->msg_id);
        settled->engine = strdup (engine? engine: "");
        settled->ok = ok;
        zlistx_add_end (self->settled, settled);
    }
    if (job->state == S_READY)
        s_task_dequeue (self, job);
    else
    if (job->state == S_RUNNING)
        self->running--;
    s_timer_remove (job);
    zpar_table_delete (self->known, job->msg_id);
}

//  Answers the job's client with an error and ends the job.
static void
s_task_fail (zpar_task_t *self, s_job_t *job, const char *engine, int engine_id,
             const char *ename, const char *format, ...)
{
    char evalue [512];
    va_list args;
    va_start (args, format);
    vsnprintf (evalue, sizeof evalue, format, args);
    va_end (args);
    json_t *header = json_loadb (job->header, job->header_size,
                                 0, NULL);
    zpar_role_fail (self->role, header, &job->client, engine? engine: "", engine_id, ename, evalue);
    json_decref (header);
    s_task_end (self, job, false, engine);
}

//  Counts one decided msg_id of a dependency.
static void
s_dep_count (s_job_t *job, bool follow, bool ok, const char *engine)
{
    s_dep_t *dep = follow? &job->follow: &job->after;
    if ((ok && dep->success) || (!ok && dep->failure)) {
        dep->good++;
        if (follow && engine && *engine)
            s_add_string (&job->follow_engines, engine);
    }
    else
        dep->bad++;
}

static s_dep_state_t
s_dep_state (s_dep_t *dep)
{
    if (!dep->ids)
        return S_DEP_MET;
    size_t total = json_array_size (dep->ids);
    if (dep->all)
        return dep->bad? S_DEP_IMPOSSIBLE: dep->good == total? S_DEP_MET: S_DEP_WAIT;
    return dep->good? S_DEP_MET: dep->bad == total? S_DEP_IMPOSSIBLE: S_DEP_WAIT;
}

//  A blocked job whose dependencies may be decided: it fails, becomes
//  ready (and is tried), or stays blocked.
static void
s_task_decide (zpar_task_t *self, s_job_t *job)
{
    s_dep_state_t after = s_dep_state (&job->after), follow = s_dep_state (&job->follow);
    if (after == S_DEP_IMPOSSIBLE || follow == S_DEP_IMPOSSIBLE)
        s_task_fail (self, job, NULL, -1, "ImpossibleDependency",
                     "a dependency of %s ended in a way that cannot meet it", job->msg_id);
    else
    if (after == S_DEP_MET && follow == S_DEP_MET) {
        s_task_enqueue (self, job, false);
        s_task_try (self, job);
    }
}

//  Passes outcomes on to the jobs waiting for them, until none is left
//  (a job failing as a result has an outcome too). A loop, not recursion:
//  a chain of dependencies can be long.
static void
s_task_settle (zpar_task_t *self)
{
    if (self->settling)
        return;
    self->settling = true;
    s_settled_t *settled;
    while ((settled = zlistx_detach (self->settled, NULL))) {
        zlistx_t *links = zhashx_lookup (self->dependents, settled->msg_id);
        for (s_link_t *link = links? zlistx_first (links): NULL; link; link = zlistx_next (links)) {
            s_job_t *job = zpar_table_lookup (self->known, link->msg_id);
            if (job && job->state == S_BLOCKED) {
                s_dep_count (job, link->follow, settled->ok, settled->engine);
                s_task_decide (self, job);
            }
            else
            if (job && job->state == S_READY && link->follow && !job->follow.all) {
                //  Any will do: one more engine it may run on.
                size_t engines = job->follow_engines? zlistx_size (job->follow_engines): 0;
                s_dep_count (job, true, settled->ok, settled->engine);
                if (zlistx_size (job->follow_engines) > engines) {
                    s_task_unindex (job);
                    s_task_index (self, job, S_SORTED_FROM_END);
                    s_task_try (self, job);
                }
            }
        }
        zhashx_delete (self->dependents, settled->msg_id);
        s_settled_free ((void **) &settled);
    }
    self->settling = false;
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
    //  Neither success nor failure could never be met.
    return !dep->ids || dep->success || dep->failure;
}

//  What is wrong with the metadata, or NULL; fills the job's flags.
static const char *
s_task_flags (s_job_t *job, json_t *metadata)
{
    json_t *retries = json_object_get (metadata, "retries");
    json_t *timeout = json_object_get (metadata, "timeout");
    json_t *walltime = json_object_get (metadata, "walltime");
    json_t *targets = json_object_get (metadata, "targets");
    if (!json_is_object (metadata))
        return "metadata must be a JSON object";
    if (retries && !json_is_null (retries) && (!json_is_integer (retries) || json_integer_value (retries) < 0
                    || json_integer_value (retries) > 1000))
        return "retries must be an integer from 0 to 1000";
    if (timeout && !json_is_null (timeout) && (!json_is_number (timeout) || !(json_number_value (timeout) > 0)
                    || json_number_value (timeout) > 1e9))
        return "timeout must be a number of seconds above 0, at most 1e9";
    if (walltime && !json_is_null (walltime) && (!json_is_number (walltime) || !(json_number_value (walltime) > 0)
                    || json_number_value (walltime) > 1e9))
        return "walltime must be a number of seconds above 0, at most 1e9";
    if (targets && !json_is_null (targets) && (!json_is_array (targets) || !json_array_size (targets)))
        return "targets must be a list of engine ids";
    size_t i;
    json_t *id;
    json_array_foreach (targets, i, id)
        if (!json_is_integer (id))
            return "targets must be a list of engine ids";
    if (!s_dep_read (json_object_get (metadata, "after"), &job->after)
    ||  !s_dep_read (json_object_get (metadata, "follow"), &job->follow))
        return "after and follow must be lists of msg_ids, or {msg_ids, all, success, failure} "
               "with success or failure true";
    job->retries = json_is_integer (retries)? (int) json_integer_value (retries): 0;
    job->targets = json_is_array (targets)? json_incref (targets): NULL;
    if (json_is_number (timeout)) {
        job->timeout_ms = (long long) (json_number_value (timeout) * 1000);
        job->deadline = zpar_mono_ms () + job->timeout_ms;
    }
    if (json_is_number (walltime))
        job->walltime_ms = (long long) (json_number_value (walltime) * 1000);
    return NULL;
}

//  Counts the dependencies already decided and files the job under the
//  others. Returns the msg_id that makes the job invalid, or NULL.
static const char *
s_task_link (zpar_task_t *self, s_job_t *job)
{
    for (int follow = 0; follow < 2; follow++) {
        s_dep_t *dep = follow? &job->follow: &job->after;
        size_t i;
        json_t *value;
        json_array_foreach (dep->ids, i, value) {
            const char *id = json_string_value (value);
            s_outcome_t *outcome = zpar_table_lookup (self->outcomes, id);
            if (outcome)
                s_dep_count (job, follow, outcome->ok, outcome->engine);
            else
            if (zpar_table_lookup (self->known, id) && !streq (id, job->msg_id)) {
                zlistx_t *links = zhashx_lookup (self->dependents, id);
                if (!links) {
                    links = zlistx_new ();
                    zlistx_set_destructor (links, s_link_free);
                    zhashx_insert (self->dependents, id, links);
                }
                s_link_t *link = calloc (1, sizeof *link);
                link->msg_id = strdup (job->msg_id);
                link->follow = follow;
                zlistx_add_end (links, link);
            }
            else
                return id;
        }
    }
    return NULL;
}

void
zpar_task_submit (zpar_task_t *self, zpar_msg_t **msg_p)
{
    zpar_msg_t *msg = *msg_p;
    *msg_p = NULL;
    //  The same msg_id twice from a key holder: the second is refused,
    //  whether the first ended (its outcome is remembered) or not (the
    //  insert into known below finds it).
    if (zpar_table_lookup (self->outcomes, zpar_msg_id (msg))) {
        zpar_drops_add (&self->role->drops, ZPAR_DROP_MALFORMED, "client socket");
        zpar_msg_destroy (&msg);
        return;
    }
    //  The header copied, with the msg_id, into the job's own allocation:
    //  sharing it would keep the whole receive buffer it arrived in alive
    //  as long as the task.
    zmq_msg_t *header = zpar_msg_frame (msg, ZPAR_FRAME_HEADER), *client = zpar_msg_route (msg, 0);
    const char *msg_id = zpar_msg_id (msg);
    size_t header_size = zmq_msg_size (header), id_size = strlen (msg_id) + 1;
    s_job_t *job = calloc (1, sizeof *job + header_size + id_size);
    if (!job) {
        zpar_msg_destroy (&msg);
        return;
    }
    job->request = msg;
    memcpy (job->text, zmq_msg_data (header), header_size);
    job->header = job->text;
    job->header_size = header_size;
    job->msg_id = memcpy (job->text + header_size, msg_id, id_size);
    zmq_msg_init (&job->client);
    zmq_msg_copy (&job->client, client);
    job->state = S_BLOCKED;
    if (zpar_table_insert (self->known, job->msg_id, job) != 0) {
        zpar_drops_add (&self->role->drops, ZPAR_DROP_MALFORMED, "client socket");
        void *item = job;
        s_job_free (&item);             //  and the request with it
        return;
    }

    //  Most tasks carry no flags: "{}" needs no parse.
    zmq_msg_t *raw = zpar_msg_frame (msg, ZPAR_FRAME_METADATA);
    if (!(raw && zpar_part_streq (raw, "{}"))) {
        const char *bad = s_task_flags (job, zpar_msg_metadata (msg));
        if (bad) {
            s_task_fail (self, job, NULL, -1, ZPAR_E_VALUE, "%s", bad);
            s_task_settle (self);
            return;
        }
        const char *invalid = s_task_link (self, job);
        if (invalid) {
            s_task_fail (self, job, NULL, -1, "InvalidDependency",
                         streq (invalid, job->msg_id)? "%s depends on itself"
                         : "%s depends on a task this scheduler does not know (or no longer remembers)",
                         job->msg_id);
            s_task_settle (self);
            return;
        }
        if (job->deadline)
            s_timer_add (self, job, job->timeout_ms);
    }
    s_task_decide (self, job);
    s_task_settle (self);
}

//  -- engines, replies, timeouts --------------------------------------------

void
zpar_task_engine_up (zpar_task_t *self, const char *uuid, int id, bool registered, bool connected)
{
    s_worker_t *worker = zhashx_lookup (self->workers, uuid);
    if (!worker) {
        worker = calloc (1, sizeof *worker);
        worker->uuid = strdup (uuid);
        zhashx_insert (self->workers, uuid, worker);
    }
    if (!worker->queue) {
        worker->queue = zlistx_new ();
        zlistx_set_comparator (worker->queue, s_number_compare);
    }
    bool was_usable = s_usable (worker);
    worker->id = id;
    worker->registered |= registered;
    worker->connected |= connected;
    if (registered) {
        char key [24];
        snprintf (key, sizeof key, "%d", id);
        zhashx_insert (self->announced, key, (void *) 1);
    }
    //  A new engine to run on: restricted jobs may run there too.
    if (!was_usable && s_usable (worker))
        s_task_reindex (self);
    s_task_fill (self, worker);
    s_task_settle (self);
}

//  Back to the front of the ready queue for another attempt.
static void
s_task_retry (zpar_task_t *self, s_job_t *job, const char *engine)
{
    self->running--;                    //  ready again below
    s_add_string (&job->failed_on, engine);
    free (job->worker);
    job->worker = NULL;
    job->retries--;
    //  Its walltime counts again from its next start; its start timeout
    //  was met at the first.
    s_timer_remove (job);
    job->deadline = 0;
    s_task_enqueue (self, job, true);
}

zpar_task_verdict_t
zpar_task_reply (zpar_task_t *self, zpar_msg_t *reply, const char *engine)
{
    const char *parent = zpar_msg_parent_id (reply);
    s_job_t *job = parent? zpar_table_lookup (self->known, parent): NULL;
    if (!job || job->state != S_RUNNING || !streq (job->worker, engine)) {
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
        s_task_try (self, job);
        verdict = ZPAR_TASK_RETRY;
    }
    else
        s_task_end (self, job, ok, engine);
    if (worker)
        s_task_fill (self, worker);
    s_task_settle (self);
    return verdict;
}

void
zpar_task_engine_down (zpar_task_t *self, const char *uuid, const char *why)
{
    s_worker_t *worker = zhashx_lookup (self->workers, uuid);
    int id = worker? worker->id: -1;
    //  Forgotten first, so that no retry goes back to it.
    zhashx_delete (self->workers, uuid);
    zlistx_t *lost = zlistx_new ();
    for (s_job_t *job = zpar_table_first (self->known); job; job = zpar_table_next (self->known))
        if (job->state == S_RUNNING && streq (job->worker, uuid))
            zlistx_add_end (lost, job);
    int limit = self->role->config.poison_limit;
    for (s_job_t *job = zlistx_first (lost); job; job = zlistx_next (lost)) {
        //  A task whose engines keep dying is the likely cause: stop it
        //  before it takes the whole cluster down, retries or not.
        if (!streq (why, "shutdown") && strncmp (why, ZPAR_EXIT_BY_ITSELF, strlen (ZPAR_EXIT_BY_ITSELF)))
            job->deaths++;
        if (limit && job->deaths >= limit)
            s_task_fail (self, job, uuid, id, ZPAR_E_ENGINE,
                         "%d engine%s died while running the task (the last: engine %d, %s); it "
                         "is sent to no other (ipcluster start --poison-limit)", job->deaths,
                         job->deaths == 1? "": "s", id, why);
        else
        if (job->retries > 0) {
            zpar_info ("engine %d lost task %s (%s); %d retries left", id, job->msg_id, why,
                       job->retries - 1);
            s_task_retry (self, job, uuid);
        }
        else
            s_task_fail (self, job, uuid, id, ZPAR_E_ENGINE,
                         "engine %d died while running the task (%s)", id, why);
    }
    zlistx_destroy (&lost);
    s_task_sweep (self);
    s_task_settle (self);
}

int64_t
zpar_task_tick (zpar_task_t *self, int64_t now)
{
    if (now < self->next_due)
        return self->next_due;
    self->next_due = INT64_MAX;
    //  Tasks that did not start in time. A list of the same timeout is in
    //  deadline order: only its head can be due.
    zlistx_t *emptied = zlistx_new ();
    zlistx_set_destructor (emptied, (czmq_destructor *) zstr_free);
    for (zlistx_t *list = zhashx_first (self->timers); list; list = zhashx_next (self->timers)) {
        s_job_t *job;
        while ((job = zlistx_first (list)) && job->deadline <= now) {
            if (job->state == S_RUNNING) {
                //  Its engine is ending itself: send it nothing more.
                //  No reply will count for this task: its slot is free again
                //  once the rest is over (the engine ends itself before).
                s_worker_t *worker = zhashx_lookup (self->workers, job->worker);
                if (worker) {
                    worker->suspended_until = now + S_WALLTIME_REST_MS;
                    worker->outstanding--;
                }
                s_task_fail (self, job, job->worker, worker? worker->id: -1, "TaskTimeout",
                             "%s ran past its walltime of %.3g s; its engine is stopped and "
                             "started again", job->msg_id, job->walltime_ms / 1000.0);
            }
            else
                s_task_fail (self, job, NULL, -1, "TaskTimeout",
                             "%s did not start within its timeout", job->msg_id);
        }
        if (job && job->deadline < self->next_due)
            self->next_due = job->deadline;
        if (!job)
            zlistx_add_end (emptied, strdup (zhashx_cursor (self->timers)));
    }
    for (const char *key = zlistx_first (emptied); key; key = zlistx_next (emptied))
        zhashx_delete (self->timers, key);
    zlistx_destroy (&emptied);
    //  Engines whose rest is over.
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        if (worker->suspended_until && worker->suspended_until <= now)
            worker->suspended_until = 0;
        else
        if (worker->suspended_until && worker->suspended_until < self->next_due)
            self->next_due = worker->suspended_until;
    for (s_worker_t *worker = zhashx_first (self->workers); worker;
         worker = zhashx_next (self->workers))
        s_task_fill (self, worker);
    s_task_settle (self);
    return self->next_due;
}

size_t
zpar_task_unassigned (zpar_task_t *self)
{
    return zpar_table_size (self->known) - self->running;
}
